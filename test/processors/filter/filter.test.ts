import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterProcessorFactory as factory } from '../../../src/processors/filter/factory.js';
import { testContext } from '../../support/context.js';
import { batchOf, events, makeEvent, metricBatch } from '../../support/events.js';
import { DROPPED, ITEMS_IN, ITEMS_OUT, configOf, issuesOf, runSync } from '../../support/processors.js';
import { concat, of, throwError } from 'rxjs';
import type { Batch } from '../../../src/core/component.js';
import type { TcpEvent } from '../../../src/core/events.js';

function run(over: Record<string, unknown>, evs: TcpEvent[]) {
  const ctx = testContext('filter');
  const out = runSync(factory.create(configOf(factory, over), ctx), [batchOf(evs)]);
  const t = ctx.telemetry.telemetry;
  return {
    out,
    kept: out.length ? events(out[0]) : [],
    dropped: t.total(DROPPED, { 'tcpotel.drop.reason': 'filtered' }),
    in: t.total(ITEMS_IN),
    outCount: t.total(ITEMS_OUT),
  };
}

/** Which of the events (by socketId) a config keeps. */
function keeps(over: Record<string, unknown>, evs: TcpEvent[]): number[] {
  return run(over, evs).kept.map((e) => e.socketId);
}

test('the factory describes a processor from events to events', () => {
  assert.equal(factory.type, 'filter');
  assert.equal(factory.kind, 'processor');
  assert.deepEqual(factory.accepts, ['events']);
  assert.equal(factory.output('events'), 'events');
  assert.deepEqual(factory.createDefaultConfig(), {});
  assert.ok(factory.schema.safeParse(factory.createDefaultConfig()).success);
});

test('the default config keeps everything and passes the batch object as it is', () => {
  const evs = [makeEvent(), makeEvent()];
  const ctx = testContext('filter');
  const input = batchOf(evs);
  const out = runSync(factory.create(configOf(factory), ctx), [input]);
  assert.equal(out.length, 1);
  assert.equal(out[0], input);
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_IN), 2);
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_OUT), 2);
  assert.equal(ctx.telemetry.telemetry.total(DROPPED), 0);
});

test('include by ports keeps matching events, counts the rest as filtered', () => {
  const evs = [
    makeEvent({ socketId: 1, remotePort: 443 }),
    makeEvent({ socketId: 2, remotePort: 80 }),
    makeEvent({ socketId: 3, localPort: 8080, remotePort: 40000 }),
    makeEvent({ socketId: 4, localPort: 8999, remotePort: 40000 }),
    makeEvent({ socketId: 5, localPort: 9000, remotePort: 40000 }),
  ];
  const r = run({ include: { ports: [443, '8000-8999'] } }, evs);
  assert.deepEqual(r.kept.map((e) => e.socketId), [1, 3, 4]);
  assert.equal(r.dropped, 2);
  assert.equal(r.in, 5);
  assert.equal(r.outCount, 3);
  // The input batch is not changed.
  assert.equal(evs.length, 5);
});

test('local_ports and remote_ports look at one end only', () => {
  const evs = [makeEvent({ socketId: 1, localPort: 22, remotePort: 5000 }), makeEvent({ socketId: 2, localPort: 5000, remotePort: 22 })];
  assert.deepEqual(keeps({ include: { local_ports: [22] } }, evs), [1]);
  assert.deepEqual(keeps({ include: { remote_ports: ['22'] } }, evs), [2]);
  assert.deepEqual(keeps({ exclude: { ports: [22] } }, evs), []);
});

test('exclude drops what matches; include and exclude combine', () => {
  const evs = [
    makeEvent({ socketId: 1, kind: 'open' }),
    makeEvent({ socketId: 2, kind: 'close' }),
    makeEvent({ socketId: 3, kind: 'retransmit' }),
    makeEvent({ socketId: 4, kind: 'close', remotePort: 22 }),
  ];
  assert.deepEqual(keeps({ exclude: { kinds: ['retransmit'] } }, evs), [1, 2, 4]);
  assert.deepEqual(keeps({ include: { kinds: ['open', 'close'] }, exclude: { remote_ports: [22] } }, evs), [1, 2]);
});

test('several keys in one matcher must all match; list values are alternatives', () => {
  const evs = [
    makeEvent({ socketId: 1, direction: 'outbound', family: 4 }),
    makeEvent({ socketId: 2, direction: 'inbound', family: 4 }),
    makeEvent({ socketId: 3, direction: 'outbound', family: 6, localAddress: '::1', remoteAddress: '::1' }),
    makeEvent({ socketId: 4, direction: 'unknown', family: 6, localAddress: '::1', remoteAddress: '::1' }),
  ];
  assert.deepEqual(keeps({ include: { directions: ['outbound'], families: ['ipv4'] } }, evs), [1]);
  assert.deepEqual(keeps({ include: { directions: ['outbound', 'unknown'] } }, evs), [1, 3, 4]);
  assert.deepEqual(keeps({ include: { families: ['ipv6'] } }, evs), [3, 4]);
  assert.deepEqual(keeps({ include: { families: ['ipv4', 'ipv6'] } }, evs), [1, 2, 3, 4]);
});

test('combinators: all, any, not, nested', () => {
  const evs = [
    makeEvent({ socketId: 1, kind: 'open', remotePort: 443, comm: 'curl' }),
    makeEvent({ socketId: 2, kind: 'open', remotePort: 80, comm: 'curl' }),
    makeEvent({ socketId: 3, kind: 'close', remotePort: 443, comm: 'wget' }),
    makeEvent({ socketId: 4, kind: 'failed', remotePort: 5432, comm: 'psql' }),
  ];
  assert.deepEqual(keeps({ include: { all: [{ kinds: ['open'] }, { remote_ports: [443] }] } }, evs), [1]);
  assert.deepEqual(keeps({ include: { any: [{ kinds: ['failed'] }, { comms: ['wget'] }] } }, evs), [3, 4]);
  assert.deepEqual(keeps({ include: { not: { comms: ['curl'] } } }, evs), [3, 4]);
  assert.deepEqual(keeps({ exclude: { any: [{ all: [{ kinds: ['open'] }, { not: { remote_ports: [443] } }] }, { pids: [1] }] } }, evs), [1, 3, 4]);
  // Matcher keys next to combinators: all of them must match.
  assert.deepEqual(keeps({ include: { kinds: ['open', 'close'], not: { remote_ports: [80] } } }, evs), [1, 3]);
});

test('CIDRs: IPv4, IPv6, bare addresses, and IPv4 CIDRs against IPv4-mapped addresses', () => {
  const evs = [
    makeEvent({ socketId: 1, remoteAddress: '10.1.2.3' }),
    makeEvent({ socketId: 2, remoteAddress: '192.168.1.7' }),
    makeEvent({ socketId: 3, family: 6, localAddress: '::ffff:10.0.0.5', remoteAddress: '::ffff:10.200.0.1' }),
    makeEvent({ socketId: 4, family: 6, localAddress: '::1', remoteAddress: '::1' }),
    makeEvent({ socketId: 5, family: 6, localAddress: '2001:db8::5', remoteAddress: 'fd00:1:2::3' }),
    makeEvent({ socketId: 6, family: 6, localAddress: '2001:db8::5', remoteAddress: 'fe80::1%eth0' }),
  ];
  assert.deepEqual(keeps({ include: { remote_cidrs: ['10.0.0.0/8'] } }, evs), [1, 3]);
  assert.deepEqual(keeps({ include: { remote_cidrs: ['192.168.1.7'] } }, evs), [2]);
  assert.deepEqual(keeps({ include: { remote_cidrs: ['::1/128'] } }, evs), [4]);
  assert.deepEqual(keeps({ include: { remote_cidrs: ['fd00::/8', 'fe80::/10'] } }, evs), [5, 6]);
  assert.deepEqual(keeps({ include: { local_cidrs: ['2001:db8::/32'] } }, evs), [5, 6]);
  assert.deepEqual(keeps({ include: { remote_cidrs: ['0.0.0.0/0'] } }, evs), [1, 2, 3]);
  assert.deepEqual(keeps({ include: { remote_cidrs: ['::/0'] } }, evs), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(keeps({ include: { remote_cidrs: ['10.200.0.0/16'] } }, evs), [3]);
  // Host bits in the CIDR are ignored, as net.ParseCIDR does.
  assert.deepEqual(keeps({ include: { remote_cidrs: ['10.9.9.9/8'] } }, evs), [1, 3]);
});

test('pids, cgroup_ids, comms (globs), comm_regex', () => {
  const evs = [
    makeEvent({ socketId: 1, pid: 100, comm: 'nginx', cgroupId: 1 }),
    makeEvent({ socketId: 2, pid: 200, comm: 'nginx: worker', cgroupId: 2 }),
    makeEvent({ socketId: 3, pid: 300, comm: 'node', cgroupId: 3 }),
    makeEvent({ socketId: 4, pid: 400, comm: 'nod.', cgroupId: 3 }),
  ];
  assert.deepEqual(keeps({ include: { pids: [100, 300] } }, evs), [1, 3]);
  assert.deepEqual(keeps({ include: { cgroup_ids: [3] } }, evs), [3, 4]);
  assert.deepEqual(keeps({ include: { comms: ['nginx*'] } }, evs), [1, 2]);
  assert.deepEqual(keeps({ include: { comms: ['nod?'] } }, evs), [3, 4]);
  assert.deepEqual(keeps({ include: { comms: ['nod.'] } }, evs), [4]);
  assert.deepEqual(keeps({ include: { comm_regex: 'work' } }, evs), [2]);
  assert.deepEqual(keeps({ include: { comm_regex: '^no' } }, evs), [3, 4]);
});

test('executables match process.executable.path, falling back to comm; container_ids match container.id', () => {
  const cid = 'a'.repeat(64);
  const evs = [
    makeEvent({ socketId: 1, comm: 'curl', attributes: { 'process.executable.path': '/usr/bin/curl', 'container.id': cid } }),
    makeEvent({ socketId: 2, comm: 'worker', attributes: { 'process.executable.path': '/opt/app/bin/server' } }),
    makeEvent({ socketId: 3, comm: 'curl' }),
  ];
  assert.deepEqual(keeps({ include: { executables: ['/usr/bin/*'] } }, evs), [1]);
  assert.deepEqual(keeps({ include: { executables: ['*/server', 'curl'] } }, evs), [2, 3]);
  assert.deepEqual(keeps({ include: { container_ids: [cid] } }, evs), [1]);
  assert.deepEqual(keeps({ include: { container_ids: ['aaaaaaaaaaaa'] } }, evs), [1]);
  assert.deepEqual(keeps({ exclude: { container_ids: ['aaaa'] } }, evs), [1, 2, 3]);
});

test('states match network.connection.state', () => {
  const evs = [
    makeEvent({ socketId: 1, kind: 'open', oldState: 'syn_sent', newState: 'established' }),
    makeEvent({ socketId: 2, kind: 'state', oldState: 'syn_received', newState: 'new_syn_recv' }),
    makeEvent({ socketId: 3, kind: 'close', oldState: 'last_ack', newState: 'closed' }),
    makeEvent({ socketId: 4, kind: 'retransmit', oldState: 'unknown', newState: 'unknown' }),
  ];
  assert.deepEqual(keeps({ include: { states: ['established'] } }, evs), [1, 4]);
  assert.deepEqual(keeps({ include: { states: ['syn_received', 'closed'] } }, evs), [2, 3]);
});

test('a batch left empty is not passed on, unless it carries state counts', () => {
  const ctx = testContext('filter');
  const op = factory.create(configOf(factory, { include: { ports: [1] } }), ctx);
  const stateCounts = { v4: { established: 3 }, v6: {} };
  const out = runSync(op, [batchOf([makeEvent()]), batchOf([makeEvent(), makeEvent()], { stateCounts }), batchOf([])]);
  assert.equal(out.length, 1);
  assert.deepEqual(events(out[0]), []);
  assert.deepEqual((out[0] as { stateCounts?: unknown }).stateCounts, stateCounts);
  assert.equal(ctx.telemetry.telemetry.total(DROPPED, { 'tcpotel.drop.reason': 'filtered' }), 3);
});

test('metric batches pass unchanged and uncounted', () => {
  const ctx = testContext('filter');
  const m = metricBatch([{ name: 'tcp.connections.opened', attributes: {} }]);
  const out = runSync(factory.create(configOf(factory, { include: { ports: [1] } }), ctx), [m]);
  assert.deepEqual(out, [m]);
  assert.equal(out[0], m);
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_IN), 0);
});

test('errors are forwarded after what came before', () => {
  const op = factory.create(configOf(factory, { include: { ports: [443] } }), testContext('filter'));
  const seen: string[] = [];
  concat(of<Batch>(batchOf([makeEvent({ remotePort: 443 })])), throwError(() => new Error('boom')))
    .pipe(op)
    .subscribe({ next: (b) => seen.push(`next:${events(b).length}`), error: (e: Error) => seen.push(`error:${e.message}`), complete: () => seen.push('complete') });
  assert.deepEqual(seen, ['next:1', 'error:boom']);
});

test('schema: errors name the bad key and say what is wrong', () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ include: { remote_cidrs: ['10.0.0.0/33'] } }, 'include.remote_cidrs.0', /^"10\.0\.0\.0\/33" is not a valid CIDR/],
    [{ exclude: { local_cidrs: ['fd00::/8', '1.2.3'] } }, 'exclude.local_cidrs.1', /"1\.2\.3" is not a valid CIDR/],
    [{ include: { comm_regex: '(' } }, 'include.comm_regex', /not a valid regular expression: Invalid regular expression: \/\(\/: Unterminated group/],
    [{ include: { ports: ['9000-8000'] } }, 'include.ports.0', /range starts after it ends/],
    [{ include: { local_ports: [70000] } }, 'include.local_ports.0', /70000 is not a port number/],
    [{ include: { remote_ports: ['http'] } }, 'include.remote_ports.0', /"http" is not a port or port range/],
    [{ include: { ports: [true] } }, 'include.ports.0', /expected a port number or a "low-high" range/],
    [{ include: {} }, 'include', /a condition cannot be empty/],
    [{ include: { all: [{ kinds: ['open'] }, {}] } }, 'include.all.1', /a condition cannot be empty/],
    [{ include: { any: [] } }, 'include.any', /any needs at least one condition/],
    [{ include: { ports: [] } }, 'include.ports', /ports must list at least one value/],
    [{ include: { kinds: ['opne'] } }, 'include.kinds.0', /.+/],
    [{ include: { states: ['new_syn_recv'] } }, 'include.states.0', /.+/],
  ];
  for (const [bad, path, message] of cases) {
    const issues = issuesOf(factory, bad);
    assert.equal(issues.length, 1, `${JSON.stringify(bad)}: ${JSON.stringify(issues)}`);
    assert.equal(issues[0]!.path, path, JSON.stringify(bad));
    assert.match(issues[0]!.message, message, JSON.stringify(bad));
  }
});

test('schema: unknown keys are reported where they are, at the top and in conditions', () => {
  assert.deepEqual(issuesOf(factory, { inclde: { ports: [1] } }), [{ path: '', message: 'Unrecognized key: "inclde"', code: 'unrecognized_keys' }]);
  const nested = issuesOf(factory, { include: { not: { port: [1] } } });
  assert.equal(nested.length, 1);
  assert.equal(nested[0]!.path, 'include.not');
  assert.equal(nested[0]!.code, 'unrecognized_keys');
});
