/**
 * Container metadata from real cgroups: a process in a container-like cgroup gets
 * container.id on its events from the process processor, even after it has exited, through
 * the cgroup id the kernel stamped on the events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Subject, firstValueFrom, toArray } from 'rxjs';
import { cgroup2Mount } from '../../src/processors/process/cgroup-index.js';
import { processProcessorFactory } from '../../src/processors/process/factory.js';
import type { Batch } from '../../src/core/component.js';
import { eventBatch, type TcpEvent } from '../../src/core/events.js';
import { startEbpf } from '../support/ebpf.js';
import { peerPath, sleep, startPeer, waitUntil } from '../support/peer.js';
import { spawn } from 'node:child_process';
import { testContext } from '../support/context.js';

test('events of a process in a container cgroup carry its container.id, also after the process exited', { timeout: 30_000 }, async (t) => {
  const mount = cgroup2Mount();
  if (!mount) return t.skip('no cgroup2 mount');
  const id = 'c0ffee'.repeat(10) + 'c0fe';
  const parent = join(mount, `tcpotel-test-${process.pid}`);
  const dir = join(parent, `docker-${id}.scope`);
  mkdirSync(dir, { recursive: true });
  const sink = await startPeer(['sink', '--addr', '127.0.0.1', '--port', '0']);
  const port = Number(/ready (\d+)/.exec(sink.firstLine)![1]);
  const r = await startEbpf({ snapshot: false, sample_interval: 0 });
  try {
    // The peer joins the cgroup, then becomes the hold peer and connects.
    const hold = spawn('sh', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')} && exec ${peerPath()} hold --addr 127.0.0.1 --port ${port} --send-every 30 --chunk 100`], { stdio: 'ignore' });
    const exited = new Promise((res) => hold.on('exit', res));
    await waitUntil(() => r.onPorts(port).some((e) => e.kind === 'open' && e.pid === hold.pid), 5000, 'the connection of the process in the cgroup');
    await sleep(200);
    hold.kill('SIGKILL');
    await exited;
    await waitUntil(() => r.onPorts(port).some((e) => e.kind === 'close' && e.pid === hold.pid), 5000, 'the close of the dead process');
    const mine = r.onPorts(port).filter((e) => e.pid === hold.pid);
    const close = mine.find((e) => e.kind === 'close')!;
    assert.notEqual(close.cgroupId, 0);
    // Enrich now: the process is gone, only its cgroup id is left.
    const ctx = testContext('process');
    const input = new Subject<Batch>();
    const out = firstValueFrom(input.pipe(processProcessorFactory.create(processProcessorFactory.schema.parse(processProcessorFactory.createDefaultConfig()), ctx), toArray()));
    input.next(eventBatch('ebpf', [close]));
    input.complete();
    const enriched = (await out)[0] as { events: TcpEvent[] };
    assert.equal(enriched.events[0]!.attributes?.['container.id'], id);
  } finally {
    await r.stop();
    sink.kill('SIGKILL');
    await sleep(100);
    for (const d of [dir, parent]) if (existsSync(d)) rmdirSync(d);
  }
});
