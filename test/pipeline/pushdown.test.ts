/**
 * The pushdown planner: which aggregates the kernel computes, why not the others, and
 * which records each receiver still sends. Pure logic over resolved configs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRegistry } from '../../src/components.js';
import { loadAndResolve } from '../../src/config/validate.js';
import { describePlan, kernelFilter, planPushdown } from '../../src/pipeline/pushdown.js';
import { integerBounds } from '../../src/processors/aggregate/window.js';
import { AGG_KEY, kernelKeyLayout, kernelTable, nativeAggregate } from '../../src/receivers/ebpf/kernel-aggregate.js';
import { tablePoints } from '../../src/processors/aggregate/window.js';

function resolve(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-plan-'));
  writeFileSync(join(dir, 'c.yaml'), yaml);
  return loadAndResolve([join(dir, 'c.yaml')], defaultRegistry(), {});
}

const plan = (yaml: string) => planPushdown(resolve(yaml), {});

test('an aggregate after pushable filters is computed in the kernel, with the filters as kernel conditions', () => {
  const p = plan(`
receivers: {ebpf: {}}
processors:
  filter/web: {include: {ports: [443, "8000-8099"], families: [ipv6]}, exclude: {directions: [inbound]}}
  aggregate: {keys: [server, process.executable.name], max_series: 77}
exporters: {debug: {}}
service: {pipelines: {metrics: {receivers: [ebpf], processors: [filter/web, aggregate], exporters: [debug]}}}
`);
  const a = p.aggregates[0]!;
  assert.equal(a.kernel, true);
  assert.equal(a.spec!.maxSeries, 77);
  assert.deepEqual(a.spec!.keys, ['server.address', 'server.port', 'network.tcp.handshake.role', 'process.executable.name']);
  assert.deepEqual(a.spec!.filter.conds, [
    { negate: false, family: 6, ports: [[443, 443], [8000, 8099]] },
    { negate: true, directions: ['inbound'] },
  ]);
  // No pipeline takes events in user space: no records at all.
  assert.deepEqual(p.records.get('ebpf'), []);
  assert.deepEqual(describePlan(p), ['aggregate in metrics: aggregated in the kernel']);
});

test('what keeps an aggregate in tcpotel\'s process, each said', () => {
  const cases: Array<[string, RegExp]> = [
    ['processors: [sample, aggregate]', /`sample` before the aggregate needs every event/],
    ['processors: [filter/cidr, aggregate]', /filter\/cidr.*remote_cidrs/],
    ['processors: [filter/some, aggregate]', /some but not all of open, existing, sample, retransmit, close/],
    ['processors: [filter/any, aggregate]', /`any`/],
    ['processors: [aggregate/path]', /key "process.executable.path" is not known in the kernel/],
    ['processors: [aggregate/never]', /processors::aggregate\/never::pushdown is never/],
    ['processors: [aggregate/bounds]', /histograms::rtt has more than 24 bucket bounds/],
  ];
  for (const [chain, why] of cases) {
    const p = plan(`
receivers: {ebpf: {}}
processors:
  sample: {ratio: 0.5}
  filter/cidr: {include: {remote_cidrs: [10.0.0.0/8]}}
  filter/some: {include: {kinds: [open, close]}}
  filter/any: {include: {any: [{ports: [1]}, {ports: [2]}]}}
  aggregate: {}
  aggregate/path: {keys: [process.executable.path]}
  aggregate/never: {pushdown: never}
  aggregate/bounds: {histograms: {rtt: [${Array.from({ length: 25 }, (_, i) => (i + 1) / 1000).join(', ')}]}}
exporters: {debug: {}}
service: {pipelines: {metrics: {receivers: [ebpf], ${chain}, exporters: [debug]}}}
`);
    const a = p.aggregates[0]!;
    assert.equal(a.kernel, false, chain);
    assert.match(a.reason!, why, chain);
    // It then takes every kind but state changes as records.
    const records = p.records.get('ebpf');
    assert.ok(Array.isArray(records) && records[0]!.kinds.length === 7 && !records[0]!.kinds.includes('state'), chain);
  }
});

test('TCPOTEL_PUSHDOWN=never keeps every aggregate in the process; a fifth aggregate on one receiver too', () => {
  const yaml = `
receivers: {ebpf: {}}
processors: {${[1, 2, 3, 4, 5].map((i) => `aggregate/a${i}: {}`).join(', ')}}
exporters: {debug: {}}
service:
  pipelines:
${[1, 2, 3, 4, 5].map((i) => `    metrics/m${i}: {receivers: [ebpf], processors: [aggregate/a${i}], exporters: [debug]}`).join('\n')}
`;
  const off = planPushdown(resolve(yaml), { TCPOTEL_PUSHDOWN: 'never' });
  assert.ok(off.aggregates.every((a) => !a.kernel && /TCPOTEL_PUSHDOWN=never/.test(a.reason!)));
  const on = planPushdown(resolve(yaml), {});
  assert.deepEqual(on.aggregates.map((a) => a.kernel), [true, true, true, true, false]);
  assert.match(on.aggregates[4]!.reason!, /at most 4 aggregates/);
});

test('records: logs pipelines take their filters\' kinds, pre-filtered; a filter the kernel cannot express takes everything of its kinds', () => {
  const p = plan(`
receivers: {ebpf: {}}
processors:
  filter/failures: {include: {kinds: [failed, reset]}}
  filter/cidr: {include: {remote_cidrs: [10.0.0.0/8]}}
exporters: {debug: {}}
service:
  pipelines:
    logs: {receivers: [ebpf], processors: [filter/failures], exporters: [debug]}
    logs/other: {receivers: [ebpf], processors: [filter/cidr], exporters: [debug]}
`);
  const records = p.records.get('ebpf');
  assert.ok(Array.isArray(records));
  assert.deepEqual(records[0], { kinds: ['failed', 'reset'], filter: { conds: [{ negate: false, kinds: ['failed', 'reset'] }] } });
  assert.equal(records[1]!.filter, undefined, 'no kernel filter for CIDRs');
});

test('an aggregate whose exporters read totals only (the view in summary lines) needs no keys', () => {
  const p = plan(`
receivers: {ebpf: {}}
processors: {aggregate: {keys: five_tuple}}
exporters: {view: {mode: summary}}
service: {pipelines: {metrics: {receivers: [ebpf], processors: [aggregate], exporters: [view]}}}
`);
  assert.equal(p.aggregates[0]!.totalsOnly, true);
  assert.deepEqual(p.aggregates[0]!.keys, []);
  assert.deepEqual(p.aggregates[0]!.spec!.keys, []);
  const tty = plan(`
receivers: {ebpf: {}}
processors: {aggregate: {keys: five_tuple}}
exporters: {view: {mode: tty}}
service: {pipelines: {metrics: {receivers: [ebpf], processors: [aggregate], exporters: [view]}}}
`);
  assert.equal(tty.aggregates[0]!.totalsOnly, false);
  assert.equal(tty.aggregates[0]!.keys.length, 6);
});

test('kernelFilter flattens all and not; refuses what the kernel cannot do', () => {
  assert.deepEqual(kernelFilter({ include: { all: [{ ports: [80] }, { not: { local_ports: ['1000-2000'] } }] } }), {
    conds: [
      { negate: false, ports: [[80, 80]] },
      { negate: true, local: [[1000, 2000]] },
    ],
  });
  assert.match(kernelFilter({ exclude: { all: [{ ports: [80] }] } }) as string, /excludes an `all`/);
  assert.match(kernelFilter({ include: { ports: [1, 2, 3, 4, 5, 6, 7, 8, 9] } }) as string, /more than 8 port ranges/);
});

test('integer bucket thresholds agree with the float comparison the points report', () => {
  const bounds = [0.00005, 0.0001, 0.00025, 0.001, 0.1, 1, 5];
  for (const unit of [1e6, 1e9]) {
    const t = integerBounds(bounds, unit);
    bounds.forEach((b, i) => {
      const n = t[i]!;
      assert.ok(n / unit <= b, `${n}/${unit} <= ${b}`);
      assert.ok((n + 1) / unit > b, `${n + 1}/${unit} > ${b}`);
    });
  }
});

test('a kernel window decodes into the attributes the JS aggregator gives, failed rows joined to their series', () => {
  const spec = { name: 't', keys: ['network.transport', 'network.type', 'server.address', 'server.port', 'process.pid', 'process.executable.name'], maxSeries: 10, histograms: { rtt: [0.001], handshake: [0.001], duration: [1], loss: [0.01] }, filter: { conds: [] } };
  const layout = kernelKeyLayout(spec.keys);
  assert.ok(typeof layout !== 'string');
  assert.deepEqual(nativeAggregate(spec, layout).perCpu, true, 'server keys: few series, per-CPU map');
  const key = (fill: (b: Buffer) => void) => {
    const b = Buffer.alloc(AGG_KEY.size);
    fill(b);
    return b;
  };
  const server = key((b) => {
    b[AGG_KEY.family] = 6;
    b[AGG_KEY.role] = 2;
    Buffer.from('fd000000000000000000000000000001', 'hex').copy(b, AGG_KEY.addr[0]);
    b.writeUInt16LE(8443, AGG_KEY.port[0]);
    b.writeUInt32LE(1234, AGG_KEY.pid);
    b.write('nginx', AGG_KEY.comm);
  });
  const unknown = key(() => undefined);
  const overflow = key((b) => (b[AGG_KEY.overflow] = 1));
  const failedKey = Buffer.from(server);
  failedKey.writeUInt16LE(111, AGG_KEY.errcode);
  const counters = new Float64Array(30);
  counters[0] = 3; // opened, row 0
  counters[10 + 6] = 2; // resets sent, row 1
  counters[20 + 1] = 5; // closed, overflow row
  const hists = [new Float64Array(3 * 6), new Float64Array(3 * 6), new Float64Array(3 * 6), new Float64Array(3 * 6)];
  hists[1]!.set([2, 3_000_000, 1_000_000, 2_000_000, 1, 1], 0); // handshakes of row 0, ns
  const t = kernelTable({ rows: 3, keySize: AGG_KEY.size, keys: Buffer.concat([server, unknown, overflow]), counters, hists, failedKeys: failedKey, failedCounts: new Float64Array([4]) }, spec, layout, spec.keys.join(','));
  assert.deepEqual(t.attributes(0), { 'network.transport': 'tcp', 'network.type': 'ipv6', 'server.address': 'fd00::1', 'server.port': 8443, 'process.pid': 1234, 'process.executable.name': 'nginx' });
  assert.deepEqual(t.attributes(1), { 'network.transport': 'tcp', 'network.type': 'ipv4' }, 'unknown direction: no server.*, no pid or name');
  assert.equal(t.overflowRow, 2);
  assert.deepEqual(t.attributes(2), { 'otel.metric.overflow': true });
  assert.deepEqual([...t.failed(0)!], [['connection_refused', 4]]);
  assert.equal(t.hash(0), t.hash(0));
  assert.notEqual(t.hash(0), t.hash(1));
  const points = tablePoints(t);
  const hs = points.find((p) => p.name === 'tcp.handshake.duration')!;
  assert.ok(hs.type === 'histogram');
  assert.deepEqual([hs.count, hs.sum, hs.min, hs.max, hs.bucketCounts], [2, 0.003, 0.001, 0.002, [1, 1]]);
  assert.deepEqual(
    points.filter((p) => p.type === 'sum').map((p) => [p.name, p.type === 'sum' ? p.value : 0, p.attributes['error.type'] ?? p.attributes['tcp.reset.direction'] ?? '']),
    [
      ['tcp.connections.opened', 3, ''],
      ['tcp.connections.failed', 4, 'connection_refused'],
      ['tcp.resets', 2, 'sent'],
      ['tcp.connections.closed', 5, ''],
    ],
  );
});
