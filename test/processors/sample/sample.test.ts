import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { sampleProcessorFactory as factory } from '../../../src/processors/sample/factory.js';
import { connectionHash } from '../../../src/core/hash.js';
import { testContext } from '../../support/context.js';
import { batchOf, events, makeEvent, metricBatch } from '../../support/events.js';
import { DROPPED, ITEMS_IN, ITEMS_OUT, configOf, issuesOf, runSync } from '../../support/processors.js';
import type { TcpEvent } from '../../../src/core/events.js';

/** n loopback connections, each seen from both ends (local and remote swapped). */
function loopbackPairs(n: number): TcpEvent[] {
  const out: TcpEvent[] = [];
  for (let i = 0; i < n; i++) {
    const client = { localAddress: '127.0.0.1', localPort: 40000 + i, remoteAddress: '127.0.0.1', remotePort: 8080 };
    out.push(makeEvent({ socketId: i * 2, kind: 'open', direction: 'outbound', ...client }));
    out.push(
      makeEvent({
        socketId: i * 2 + 1,
        kind: 'open',
        direction: 'inbound',
        localAddress: client.remoteAddress,
        localPort: client.remotePort,
        remoteAddress: client.localAddress,
        remotePort: client.localPort,
      }),
    );
  }
  return out;
}

function run(over: Record<string, unknown>, evs: TcpEvent[]) {
  const ctx = testContext('sample');
  const out = runSync(factory.create(configOf(factory, over), ctx), [batchOf(evs)]);
  const t = ctx.telemetry.telemetry;
  return {
    kept: out.length ? events(out[0]) : [],
    sampledOut: t.total(DROPPED, { 'tcpotel.drop.reason': 'sampled_out' }),
    rateLimited: t.total(DROPPED, { 'tcpotel.drop.reason': 'rate_limited' }),
    in: t.total(ITEMS_IN),
    out: t.total(ITEMS_OUT),
  };
}

test('the factory and its defaults', () => {
  assert.equal(factory.type, 'sample');
  assert.deepEqual(factory.accepts, ['events']);
  assert.equal(factory.output('events'), 'events');
  assert.deepEqual(configOf(factory), { ratio: 1, mode: 'connection', seed: 0, rate_limit: 0, burst: 0, kinds: [] });
});

test('the defaults keep everything, passing the batch as it is', () => {
  const ctx = testContext('sample');
  const input = batchOf(loopbackPairs(10));
  const out = runSync(factory.create(configOf(factory), ctx), [input]);
  assert.equal(out[0], input);
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_OUT), 20);
  assert.equal(ctx.telemetry.telemetry.total(DROPPED), 0);
});

test('connection mode keeps or drops both ends of a connection together, deterministically', () => {
  const evs = loopbackPairs(2000);
  const r = run({ ratio: 0.25 }, evs);
  const kept = new Set(r.kept.map((e) => e.socketId));
  for (let i = 0; i < 2000; i++) assert.equal(kept.has(i * 2), kept.has(i * 2 + 1), `connection ${i}`);
  // Exactly those whose hash falls under the ratio.
  const expected = evs.filter((e) => connectionHash(e.localAddress, e.localPort, e.remoteAddress, e.remotePort, 0) < 0.25 * 2 ** 32).length;
  assert.equal(r.kept.length, expected);
  assert.ok(expected > 2 * 2000 * 0.2 && expected < 2 * 2000 * 0.3, `kept ${expected} of 4000`);
  assert.equal(r.sampledOut, 4000 - expected);
  assert.equal(r.in, 4000);
  assert.equal(r.out, expected);
  assert.deepEqual(run({ ratio: 0.25 }, evs).kept.map((e) => e.socketId), r.kept.map((e) => e.socketId));
  // Another seed picks other connections.
  const other = run({ ratio: 0.25, seed: 7 }, evs).kept.map((e) => e.socketId);
  assert.notDeepEqual(other, r.kept.map((e) => e.socketId));
});

test('connection mode: an IPv4-mapped end hashes like its IPv4 form', () => {
  for (let i = 0; i < 100; i++) {
    const a = connectionHash('10.0.0.1', 1000 + i, '10.0.0.2', 80, 3);
    const b = connectionHash('::ffff:10.0.0.2', 80, '::ffff:10.0.0.1', 1000 + i, 3);
    assert.equal(a, b);
  }
  assert.notEqual(connectionHash('10.0.0.1', 1, '10.0.0.2', 2, 0), connectionHash('10.0.0.1', 2, '10.0.0.2', 1, 0));
});

test('event mode keeps each event with probability ratio, repeatably for a seed', () => {
  const evs = loopbackPairs(5000); // 10000 events
  const a = run({ ratio: 0.1, mode: 'event', seed: 42 }, evs);
  const b = run({ ratio: 0.1, mode: 'event', seed: 42 }, evs);
  assert.deepEqual(a.kept.map((e) => e.socketId), b.kept.map((e) => e.socketId));
  assert.ok(a.kept.length > 900 && a.kept.length < 1100, `kept ${a.kept.length}`);
  assert.equal(a.sampledOut, 10000 - a.kept.length);
  const c = run({ ratio: 0.1, mode: 'event', seed: 43 }, evs);
  assert.notDeepEqual(c.kept.map((e) => e.socketId), a.kept.map((e) => e.socketId));
});

test('kinds: only the listed kinds are sampled; others always pass', () => {
  const evs = [
    ...Array.from({ length: 100 }, (_, i) => makeEvent({ socketId: i, kind: 'retransmit', localPort: 1000 + i })),
    makeEvent({ socketId: 1000, kind: 'open' }),
    makeEvent({ socketId: 1001, kind: 'close' }),
  ];
  const r = run({ ratio: 0.5, mode: 'event', kinds: ['retransmit'], rate_limit: 10 }, evs);
  const ids = r.kept.map((e) => e.socketId);
  assert.ok(ids.includes(1000) && ids.includes(1001));
  assert.equal(ids.length, 12); // 10 retransmits (the rate limit's burst) + open + close
  assert.equal(r.sampledOut + r.rateLimited, 90);
  assert.ok(r.sampledOut > 30 && r.rateLimited > 30, `${r.sampledOut} sampled out, ${r.rateLimited} rate limited`);
});

test('rate limit (marbles): a bucket of burst tokens, refilled at rate_limit per second', () => {
  const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
  const e = (id: number) => makeEvent({ socketId: id });
  const ctx = testContext('sample', 'processor', { scheduler });
  scheduler.run(({ cold, expectObservable }) => {
    const op = factory.create(configOf(factory, { rate_limit: 10, burst: 3 }), ctx);
    const input = {
      a: batchOf([e(1), e(2), e(3), e(4), e(5)]), // t=0: 3 tokens: 1-3 pass, 4-5 limited
      b: batchOf([e(6), e(7)]), // t=100ms: 1 token back: 6 passes, 7 limited
      c: batchOf([e(8)]), // t=150ms: half a token: limited, nothing emitted
      d: batchOf([e(9), e(10), e(11), e(12)]), // t=1150ms: bucket full again (3)
    };
    const output = {
      w: batchOf([e(1), e(2), e(3)]),
      x: batchOf([e(6)]),
      z: batchOf([e(9), e(10), e(11)]),
    };
    expectObservable(cold('a 99ms b 49ms c 999ms d|', input).pipe(op)).toBe('w 99ms x 49ms - 999ms z|', output);
  });
  const t = ctx.telemetry.telemetry;
  assert.equal(t.total(DROPPED, { 'tcpotel.drop.reason': 'rate_limited' }), 5); // 4, 5, 7, 8, 12
  assert.equal(t.total(DROPPED, { 'tcpotel.drop.reason': 'sampled_out' }), 0);
  assert.equal(t.total(ITEMS_IN), 12);
  assert.equal(t.total(ITEMS_OUT), 7);
});

test('rate limit (marbles): burst defaults to rate_limit; applied after the ratio', () => {
  const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
  const ctx = testContext('sample', 'processor', { scheduler });
  // Connections whose hash keeps them at ratio 0.5 (seed 0), and ones it drops.
  const all = loopbackPairs(50).filter((ev) => ev.direction === 'outbound');
  const inRatio = all.filter((ev) => connectionHash(ev.localAddress, ev.localPort, ev.remoteAddress, ev.remotePort, 0) < 2 ** 31);
  const outOfRatio = all.filter((ev) => !inRatio.includes(ev));
  assert.ok(inRatio.length >= 6 && outOfRatio.length >= 2);
  scheduler.run(({ cold, expectObservable }) => {
    const op = factory.create(configOf(factory, { ratio: 0.5, rate_limit: 2 }), ctx);
    const a = batchOf([outOfRatio[0]!, inRatio[0]!, inRatio[1]!, inRatio[2]!, outOfRatio[1]!]);
    const b = batchOf([inRatio[3]!, inRatio[4]!, inRatio[5]!]);
    expectObservable(cold('a 499ms b|', { a, b }).pipe(op)).toBe('x 499ms y|', {
      x: batchOf([inRatio[0]!, inRatio[1]!]),
      y: batchOf([inRatio[3]!]),
    });
  });
  const t = ctx.telemetry.telemetry;
  assert.equal(t.total(DROPPED, { 'tcpotel.drop.reason': 'sampled_out' }), 2);
  assert.equal(t.total(DROPPED, { 'tcpotel.drop.reason': 'rate_limited' }), 3);
});

test('state counts survive; empty batches and metrics', () => {
  const ctx = testContext('sample');
  const stateCounts = { v4: { established: 1 }, v6: {} };
  const m = metricBatch([{ name: 'x', attributes: {} }]);
  const op = factory.create(configOf(factory, { rate_limit: 1 }), ctx);
  const out = runSync(op, [batchOf([makeEvent()]), batchOf([makeEvent()], { stateCounts }), batchOf([]), m]);
  assert.equal(out.length, 3);
  assert.equal(events(out[0]).length, 1);
  assert.deepEqual(out[1], batchOf([], { stateCounts }));
  assert.equal(out[2], m);
  assert.equal(ctx.telemetry.telemetry.total(DROPPED, { 'tcpotel.drop.reason': 'rate_limited' }), 1);
});

test('schema errors point at the key', () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ ratio: 0 }, 'ratio', /ratio must be more than 0/],
    [{ ratio: 1.5 }, 'ratio', /ratio must be at most 1/],
    [{ mode: 'flow' }, 'mode', /.+/],
    [{ seed: 1.5 }, 'seed', /.+/],
    [{ rate_limit: -1 }, 'rate_limit', /rate_limit must be 0 \(no limit\) or a positive number/],
    [{ burst: 5 }, 'burst', /burst only applies with a rate_limit/],
    [{ burst: 2.5, rate_limit: 1 }, 'burst', /.+/],
    [{ kinds: ['opened'] }, 'kinds.0', /.+/],
    [{ rate: 5 }, '', /Unrecognized key: "rate"/],
  ];
  for (const [bad, path, message] of cases) {
    const issues = issuesOf(factory, bad);
    assert.equal(issues.length, 1, `${JSON.stringify(bad)}: ${JSON.stringify(issues)}`);
    assert.equal(issues[0]!.path, path, JSON.stringify(bad));
    assert.match(issues[0]!.message, message);
  }
});
