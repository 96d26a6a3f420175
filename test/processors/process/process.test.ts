import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import type { SchedulerLike } from 'rxjs';
import { processProcessorFactory as factory } from '../../../src/processors/process/factory.js';
import { enrichWithProcess, PROCESS_CACHE_EVICTED } from '../../../src/processors/process/process.js';
import { TtlCache } from '../../../src/processors/process/cache.js';
import { eventAttributes } from '../../../src/semconv/attributes.js';
import type { TcpEvent } from '../../../src/core/events.js';
import { testContext } from '../../support/context.js';
import { tempDirs } from '../../support/tmp.js';
import { batchOf, events, makeEvent, metricBatch } from '../../support/events.js';
import { DROPPED, ITEMS_IN, ITEMS_OUT, configOf, issuesOf, runSync } from '../../support/processors.js';

const tempDir = tempDirs();

const CID = 'ab'.repeat(32);

/** A scheduler whose clock the test sets. */
function clock(start = 1_000_000) {
  const c = { t: start };
  const scheduler: SchedulerLike = {
    now: () => c.t,
    schedule: () => {
      throw new Error('the process processor schedules nothing');
    },
  };
  return { c, scheduler };
}

/** A fake /proc with one process, and a passwd file. */
function fakeProc() {
  const root = tempDir('tcpotel-proc-');
  const passwd = join(root, 'passwd');
  writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\nalice:x:1234:1234::/home/alice:/bin/sh\n');
  const add = (pid: number, p: { name: string; uid: number; exe?: string; cmdline?: string; cgroup?: string }) => {
    const dir = join(root, String(pid));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'status'), `Name:\t${p.name}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t${pid}\nUid:\t${p.uid}\t${p.uid}\t${p.uid}\t${p.uid}\nGid:\t0\t0\t0\t0\n`);
    if (p.exe) symlinkSync(p.exe, join(dir, 'exe'));
    writeFileSync(join(dir, 'cmdline'), p.cmdline ?? '');
    writeFileSync(join(dir, 'cgroup'), p.cgroup ?? '0::/\n');
  };
  const remove = (pid: number) => rmSync(join(root, String(pid)), { recursive: true, force: true });
  return { root, passwd, add, remove };
}

function processor(over: Record<string, unknown>, proc: ReturnType<typeof fakeProc>, scheduler: SchedulerLike) {
  const ctx = testContext('process', 'processor', { scheduler });
  const op = enrichWithProcess(configOf(factory, over), ctx, { procRoot: proc.root, passwdPath: proc.passwd });
  return { ctx, run: (evs: TcpEvent[]) => events(runSync(op, [batchOf(evs)])[0]) };
}

test('the factory and its defaults', () => {
  assert.equal(factory.type, 'process');
  assert.deepEqual(factory.accepts, ['events']);
  assert.equal(factory.output('events'), 'events');
  assert.deepEqual(factory.createDefaultConfig(), { command_line: false, cache_size: 4096, cache_ttl: '60s', negative_ttl: '5s' });
  assert.deepEqual(configOf(factory), { command_line: false, cache_size: 4096, cache_ttl: 60_000, negative_ttl: 5000 });
});

test('enriches events of the test process itself from the real /proc', () => {
  const ctx = testContext('process');
  const op = factory.create(configOf(factory, { command_line: true }), ctx);
  const ev = makeEvent({ pid: process.pid, comm: 'node-thread' });
  const out = events(runSync(op, [batchOf([ev])])[0]);
  const exe = realpathSync(process.execPath);
  const cmdline = readFileSync('/proc/self/cmdline', 'utf8').replace(/\0+$/, '').replaceAll('\0', ' ');
  const a = out[0]!.attributes!;
  assert.equal(a['process.executable.path'], exe);
  assert.equal(a['process.executable.name'], exe.slice(exe.lastIndexOf('/') + 1));
  assert.equal(a['process.command_line'], cmdline);
  assert.match(String(a['process.command_line']), /process\.test\.js/);
  assert.equal(a['process.owner'], os.userInfo().username);
  assert.equal(eventAttributes(out[0]!)['process.executable.name'], a['process.executable.name']);
  assert.equal(ev.attributes, undefined, 'the input event is not changed');
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_IN), 1);
  assert.equal(ctx.telemetry.telemetry.total(ITEMS_OUT), 1);
  assert.equal(ctx.telemetry.telemetry.total(DROPPED), 0);
  // Without command_line: true, no command line.
  const plain = events(runSync(factory.create(configOf(factory), testContext('process')), [batchOf([ev])])[0]);
  assert.equal('process.command_line' in plain[0]!.attributes!, false);
  assert.equal(plain[0]!.attributes!['process.executable.path'], exe);
});

test('a fake /proc: exe, owner, container and pod ids, command line', () => {
  const proc = fakeProc();
  proc.add(100, {
    name: 'server',
    uid: 1234,
    exe: '/opt/app/bin/server (deleted)',
    cmdline: 'server\x00--port\x008080\x00',
    cgroup: `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f3c1a6e_5b2d_4c1e_9f0a_1b2c3d4e5f60.slice/cri-containerd-${CID}.scope\n`,
  });
  proc.add(200, { name: 'kworker/0:1', uid: 4321 }); // no exe (a kernel thread, or not ours to read)
  const { scheduler } = clock();
  const { run } = processor({ command_line: true }, proc, scheduler);
  const [a, b, z] = run([makeEvent({ pid: 100 }), makeEvent({ pid: 200 }), makeEvent({ pid: 0 })]);
  assert.deepEqual(a!.attributes, {
    'process.executable.path': '/opt/app/bin/server',
    'process.executable.name': 'server',
    'process.command_line': 'server --port 8080',
    'process.owner': 'alice',
    'container.id': CID,
    'k8s.pod.uid': '0f3c1a6e-5b2d-4c1e-9f0a-1b2c3d4e5f60',
  });
  assert.deepEqual(b!.attributes, { 'process.executable.name': 'kworker/0:1', 'process.owner': '4321' });
  assert.equal(z!.attributes, undefined, 'pid 0 is left alone');
});

test('attributes already on the event win; every event gets its own attributes object', () => {
  const proc = fakeProc();
  proc.add(100, { name: 'server', uid: 0, exe: '/usr/sbin/server' });
  const { run } = processor({}, proc, clock().scheduler);
  const set = makeEvent({ pid: 100, attributes: { 'process.owner': 'svc', 'process.executable.path': undefined } });
  const [a, b, c] = run([set, makeEvent({ pid: 100 }), makeEvent({ pid: 100 })]);
  assert.deepEqual(a!.attributes, { 'process.executable.name': 'server', 'process.owner': 'svc', 'process.executable.path': undefined });
  assert.deepEqual(set.attributes, { 'process.owner': 'svc', 'process.executable.path': undefined });
  assert.deepEqual(b!.attributes, { 'process.executable.path': '/usr/sbin/server', 'process.executable.name': 'server', 'process.owner': 'root' });
  assert.notEqual(b!.attributes, c!.attributes);
});

test('cache: entries live for cache_ttl; a gone process is remembered for negative_ttl', () => {
  const proc = fakeProc();
  proc.add(100, { name: 'a', uid: 0, exe: '/bin/a' });
  const { c, scheduler } = clock();
  const { run } = processor({ cache_ttl: '60s', negative_ttl: '5s' }, proc, scheduler);
  assert.equal(run([makeEvent({ pid: 100 })])[0]!.attributes!['process.executable.path'], '/bin/a');
  // Changed on disk: the cached entry is used until it expires.
  proc.remove(100);
  proc.add(100, { name: 'b', uid: 0, exe: '/bin/b' });
  c.t += 59_999;
  assert.equal(run([makeEvent({ pid: 100 })])[0]!.attributes!['process.executable.path'], '/bin/a');
  c.t += 1;
  assert.equal(run([makeEvent({ pid: 100 })])[0]!.attributes!['process.executable.path'], '/bin/b');
  // Gone: the event keeps what the kernel gave (the same object), for negative_ttl.
  const ev = makeEvent({ pid: 300 });
  assert.equal(run([ev])[0], ev);
  proc.add(300, { name: 'late', uid: 0, exe: '/bin/late' });
  c.t += 4999;
  assert.equal(run([ev])[0], ev);
  c.t += 1;
  assert.equal(run([ev])[0]!.attributes!['process.executable.path'], '/bin/late');
});

test('cache: bounded, least recently used out first, evictions counted', () => {
  const proc = fakeProc();
  for (const pid of [1, 2, 3]) proc.add(pid, { name: `p${pid}`, uid: 0, exe: `/bin/p${pid}` });
  const { scheduler } = clock();
  const { run, ctx } = processor({ cache_size: 2 }, proc, scheduler);
  run([makeEvent({ pid: 1 }), makeEvent({ pid: 2 }), makeEvent({ pid: 1 }), makeEvent({ pid: 3 })]); // 2 is evicted
  assert.equal(ctx.telemetry.telemetry.total(PROCESS_CACHE_EVICTED), 1);
  proc.remove(1);
  proc.remove(2);
  const [one, two] = run([makeEvent({ pid: 1 }), makeEvent({ pid: 2 })]);
  assert.equal(one!.attributes!['process.executable.path'], '/bin/p1', 'pid 1 was still cached');
  assert.equal(two!.attributes, undefined, 'pid 2 was evicted and is gone now');
  assert.equal(ctx.telemetry.telemetry.total(PROCESS_CACHE_EVICTED), 2); // adding 2 (negative) pushed out 3
});

test('TtlCache', () => {
  let evicted = 0;
  const cache = new TtlCache<string, number>(2, (n) => (evicted += n));
  cache.set('a', 1, 100, 0);
  cache.set('b', 2, 10, 0);
  assert.deepEqual(cache.get('a', 5), { value: 1, expires: 100 });
  assert.equal(cache.get('b', 10), undefined, 'expired');
  assert.equal(cache.size, 1);
  cache.set('c', 3, 100, 20);
  cache.set('d', 4, 100, 20);
  assert.equal(evicted, 1);
  assert.equal(cache.get('a', 20), undefined);
  assert.equal(cache.size, 2);
});

test('empty batches and metrics', () => {
  const stateCounts = { v4: {}, v6: {} };
  const m = metricBatch([{ name: 'x', attributes: {} }]);
  const out = runSync(factory.create(configOf(factory), testContext('process')), [batchOf([]), batchOf([], { stateCounts }), m]);
  assert.deepEqual(out, [batchOf([], { stateCounts }), m]);
});

test('schema errors point at the key', () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ command_line: 'yes' }, 'command_line', /.+/],
    [{ cache_size: 0 }, 'cache_size', /cache_size must be at least 1/],
    [{ cache_ttl: '0s' }, 'cache_ttl', /cache_ttl must be more than 0/],
    [{ negative_ttl: 'a while' }, 'negative_ttl', /"a while" is not a duration/],
    [{ cmdline: true }, '', /Unrecognized key: "cmdline"/],
  ];
  for (const [bad, path, message] of cases) {
    const issues = issuesOf(factory, bad);
    assert.equal(issues.length, 1, `${JSON.stringify(bad)}: ${JSON.stringify(issues)}`);
    assert.equal(issues[0]!.path, path, JSON.stringify(bad));
    assert.match(issues[0]!.message, message);
  }
});
