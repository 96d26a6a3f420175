import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { createElement } from 'react';
import { render } from 'ink';
import type { ExporterContext } from '../../../src/core/component.js';
import { eventBatch } from '../../../src/core/events.js';
import { viewConfigSchema, defaultViewConfig } from '../../../src/exporters/view/config.js';
import { viewExporterFactory } from '../../../src/exporters/view/factory.js';
import { ViewExporter } from '../../../src/exporters/view/view.js';
import { activeViewHubs, setViewQuitHandler, ViewHub } from '../../../src/exporters/view/hub.js';
import type { Renderer, ViewSource } from '../../../src/exporters/view/renderer.js';
import { handleInput, ViewApp, type UiState } from '../../../src/exporters/view/app.js';
import { parseSummaryLine } from '../../../src/exporters/view/format.js';
import { makeEvent } from '../../support/events.js';
import { testContext } from '../../support/context.js';
import { T0, active, closed, conn, io, opened, windowBatch } from './fixtures.js';

function ctx(id: string, signal: 'metrics' | 'logs'): ExporterContext {
  return { ...testContext(id, 'exporter'), signal, selfMetrics: false };
}

const config = (over: Record<string, unknown> = {}) => viewConfigSchema.parse({ ...defaultViewConfig(), ...over });

test('config: defaults, units, and what is rejected', () => {
  assert.deepEqual(viewConfigSchema.parse(defaultViewConfig()), { interval: 1000, top: 10, mode: 'auto', max_recent: 20 });
  assert.equal(config({ interval: '250ms' }).interval, 250);
  assert.equal(viewConfigSchema.safeParse({ ...defaultViewConfig(), mode: 'fancy' }).success, false);
  assert.equal(viewConfigSchema.safeParse({ ...defaultViewConfig(), top: 0 }).success, false);
  assert.equal(viewConfigSchema.safeParse({ ...defaultViewConfig(), interval: '10ms' }).success, false);
  assert.equal(viewConfigSchema.safeParse({ ...defaultViewConfig(), colour: true }).success, false);
  assert.deepEqual(viewExporterFactory.signals, ['metrics', 'logs']);
});

test('summary mode: the metrics and logs instances of one id share a model; one line per period, a last one at shutdown', async () => {
  const out: string[] = [];
  const io_ = { write: (s: string) => void out.push(s), isTTY: false };
  const c = config({ mode: 'auto' });
  const metrics = new ViewExporter(c, ctx('view/shared', 'metrics'), io_);
  const logs = new ViewExporter(c, ctx('view/shared', 'logs'), io_);
  await metrics.start();
  await logs.start();
  const hub = activeViewHubs().get('view/shared')!;
  assert.equal(hub.mode, 'summary', 'auto without a terminal');

  const a = conn(40000, 8080, 100, 'curl');
  metrics.consume(windowBatch(T0, T0 + 1000, [opened(a), active(a, 1), io(a, 'transmit', 700), io(a, 'receive', 900)]));
  logs.consume(eventBatch('ebpf', [makeEvent({ kind: 'failed', errno: 111, pid: 100, comm: 'curl' })]));
  metrics.consume(windowBatch(T0 + 1000, T0 + 1500, [closed(a), active(a, -1)]));
  assert.equal(out.length, 1, 'the half window did not complete a period');
  assert.equal(hub.model.recent().length, 1, 'the logs instance fed the same model');

  await metrics.shutdown();
  assert.equal(activeViewHubs().get('view/shared'), hub, 'still used by the logs instance');
  assert.equal(out.length, 1);
  await logs.shutdown();
  assert.equal(activeViewHubs().has('view/shared'), false, 'the last instance removes the hub');
  assert.equal(out.length, 2, 'the final partial period');
  const [first, last] = out.map((l) => parseSummaryLine(l)!);
  assert.deepEqual(first!.fields, {
    total: 1, active: 1, new: 1, closed: 0, failed: 0, tx_rate: 700, rx_rate: 900, retrans: 0, resets: 0,
    tx_total: 700, rx_total: 900, failed_total: 0, retrans_total: 0, resets_total: 0, interval: 1,
  });
  assert.equal(first!.time, '2026-11-25T07:00:01Z');
  assert.deepEqual([last!.fields.total, last!.fields.active, last!.fields.closed, last!.fields.interval], [1, 0, 1, 0.5]);
  assert.ok(out.every((l) => l.endsWith('\n')));
});

test('tty mode: the renderer starts with the first instance, gets period updates, stops with the last', async () => {
  const calls: string[] = [];
  const createTty = async (hub: ViewSource): Promise<Renderer> => {
    calls.push(`start ${hub.id}`);
    return { update: () => void calls.push('update'), stop: async () => void calls.push('stop') };
  };
  const c = config({ mode: 'tty' });
  const m = new ViewExporter(c, ctx('view/tty', 'metrics'), { createTty, isTTY: false });
  const l = new ViewExporter(c, ctx('view/tty', 'logs'), { createTty, isTTY: false });
  await Promise.all([m.start(), l.start()]);
  m.consume(windowBatch(T0, T0 + 1000, []));
  await l.shutdown();
  await m.shutdown();
  assert.deepEqual(calls, ['start view/tty', 'update', 'stop']);
});

const S0: UiState = { sort: 'bytes', filter: '', editing: false, paused: false };

test('keys: sort, pause, filter typed (also several characters in one read), Esc, Enter, Backspace, q and Ctrl+C', () => {
  const st = (a: ReturnType<typeof handleInput>) => (a.type === 'state' ? a.state : undefined);
  assert.equal(st(handleInput(S0, 's', {}))!.sort, 'rate');
  assert.equal(st(handleInput({ ...S0, sort: 'age' }, 's', {}))!.sort, 'loss');
  assert.equal(st(handleInput({ ...S0, sort: 'loss' }, 's', {}))!.sort, 'bytes');
  assert.equal(st(handleInput(S0, 'l', {}))!.sort, 'loss');
  assert.equal(st(handleInput(S0, 'r', {}))!.sort, 'rate');
  assert.equal(st(handleInput(S0, 'a', {}))!.sort, 'age');
  assert.equal(st(handleInput(S0, 'd', {}))!.sort, 'age');
  assert.equal(st(handleInput({ ...S0, sort: 'age' }, 'b', {}))!.sort, 'bytes');
  assert.equal(st(handleInput(S0, 'p', {}))!.paused, true);
  assert.deepEqual(handleInput(S0, 'q', {}), { type: 'quit' });
  assert.deepEqual(handleInput(S0, 'c', { ctrl: true }), { type: 'quit' });
  assert.deepEqual(handleInput({ ...S0, editing: true }, 'c', { ctrl: true }), { type: 'quit' });

  const typed = st(handleInput(S0, '/:8080', {}))!;
  assert.deepEqual(typed, { ...S0, editing: true, filter: ':8080' });
  // While typing, q, p, s are text.
  const more = st(handleInput(typed, 'qps', {}))!;
  assert.equal(more.filter, ':8080qps');
  assert.equal(st(handleInput(more, '', { backspace: true }))!.filter, ':8080qp');
  const kept = st(handleInput(typed, '', { return: true }))!;
  assert.deepEqual(kept, { ...S0, filter: ':8080' });
  assert.deepEqual(st(handleInput(kept, '', { escape: true })), S0, 'Esc clears a kept filter');
  assert.deepEqual(st(handleInput(typed, '', { escape: true })), S0, 'Esc while typing clears it');
  assert.deepEqual(handleInput(S0, '', { escape: true }), { type: 'none' });
  // Enter and a key in one read (typed fast): Enter ends the typing, the key is a command.
  assert.deepEqual(st(handleInput(typed, '\ra', {})), { ...S0, filter: ':8080', sort: 'age' });
  assert.deepEqual(st(handleInput(typed, '\u007f\u007f', {})), { ...typed, filter: ':80' });
  assert.deepEqual(handleInput(S0, 'x', {}), { type: 'none' });
});

/** A terminal for Ink: stdout that keeps the frames, stdin we type into. */
function fakeTerminal(columns = 140, rows = 40) {
  let frames = '';
  const stdout = Object.assign(
    new Writable({
      write(chunk, _enc, cb) {
        frames += chunk.toString();
        cb();
      },
    }),
    { columns, rows, isTTY: true },
  ) as unknown as NodeJS.WriteStream;
  const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => stdin, ref: () => stdin, unref: () => stdin }) as unknown as NodeJS.ReadStream & PassThrough;
  return { stdout, stdin, frames: () => frames, clear: () => (frames = '') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// eslint-disable-next-line no-control-regex
const plain = (s: string) => s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');

/** The last screen painted, once it satisfies `ok` (Ink paints on its own schedule: a busy machine is slower). */
async function screenWhen(frames: () => string, ok: (screen: string) => boolean, what: string): Promise<string> {
  const until = Date.now() + 10_000;
  for (;;) {
    const all = plain(frames());
    const last = all.slice(all.lastIndexOf('tcpotel'));
    if (ok(all) || ok(last)) return all;
    if (Date.now() > until) throw new Error(`screen never showed ${what}:\n${last}`);
    await sleep(20);
  }
}

test('the Ink app: paints the model, filters on "/" typing, sorts, pauses, and q asks the process to stop', async () => {
  const hub = new ViewHub('view/ink', config({ mode: 'tty', top: 5 }), { write: () => undefined });
  const points = [];
  for (let i = 0; i < 8; i++) {
    const c = conn(41000 + i, i < 3 ? 8080 : 5432, 100 + i, i < 3 ? 'web' : 'psql');
    points.push(opened(c), active(c, 1), io(c, 'transmit', 1000 * (i + 1)));
  }
  hub.addMetrics(windowBatch(T0, T0 + 1000, points));
  let quits = 0;
  const prev = setViewQuitHandler(() => quits++);
  const term = fakeTerminal();
  const app = render(createElement(ViewApp, { hub }), { stdout: term.stdout, stdin: term.stdin, exitOnCtrlC: false, patchConsole: false, debug: true });
  try {
    let screen = await screenWhen(term.frames, (x) => /107 psql/.test(x), 'the table');
    assert.match(screen, /Totals +connections 8 +active 8/);
    assert.match(screen, /107 psql +127\.0\.0\.1:41007/);

    term.clear();
    term.stdin.write('/:8080');
    screen = await screenWhen(term.frames, (x) => /Filter +":8080"/.test(x), 'the filter');
    assert.match(screen, /filter: ":8080"/);
    assert.match(screen, /Filter +":8080" +connections 3 +open 3 +sent 6000 B/);
    assert.doesNotMatch(screen.slice(screen.lastIndexOf('tcpotel')), /psql/);

    term.stdin.write('\r');
    term.stdin.write('a');
    await screenWhen(term.frames, (x) => /sort: age +filter: ":8080"/.test(x.slice(x.lastIndexOf('tcpotel'))), 'sort: age');

    term.stdin.write('p');
    await screenWhen(term.frames, (x) => /PAUSED/.test(x.slice(x.lastIndexOf('tcpotel'))), 'PAUSED');

    term.stdin.write('q');
    const until = Date.now() + 10_000;
    while (quits === 0 && Date.now() < until) await sleep(20);
    assert.equal(quits, 1);
  } finally {
    setViewQuitHandler(prev);
    app.unmount();
  }
});
