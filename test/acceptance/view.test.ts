/**
 * The `view` exporter end to end, as a user meets it: `tcpotel run` with the default
 * pipelines (pipelines/default.yaml; the Prometheus endpoint moved to a free port by an
 * overlay), real BPF programs, known loopback traffic from the C peer.
 *
 * - In a terminal (tmux): the live view; "/" and the server's port filter it to our
 *   traffic, whose totals and rows must be exact; "q" stops the whole service gracefully:
 *   exit 0, every BPF program of the process gone, the final summary line printed.
 * - With stdout piped: summary lines whose numbers are exact for our traffic (the
 *   receiver filtered to our port in the kernel, so that the host's other traffic stays
 *   out); SIGINT stops it with exit 0 and detaches.
 * - `tcpotel top --port P` piped: progress on stderr, exact summary lines, SIGINT.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { parseSummaryLine } from '../../src/exporters/view/format.js';
import { runClient, sleep, startServer, waitUntil } from '../support/peer.js';

const root = packageRoot();
const cli = join(root, 'bin', 'tcpotel.js');
const DEFAULT = join(root, 'pipelines', 'default.yaml');
const N = 5;
const K = 700;
const M = 4321;
const TCPOTEL_PROGRAM = /^(btf_|raw_|tp_sys_|iter_)/;

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function pane(session: string): string {
  return tmux('capture-pane', '-p', '-t', session);
}

/** BPF programs a process holds (its fds: programs and links), from /proc/PID/fdinfo. */
function programsOf(pid: number): Set<number> {
  const ids = new Set<number>();
  const dir = `/proc/${pid}/fdinfo`;
  for (const fd of readdirSync(dir)) {
    let info = '';
    try {
      info = readFileSync(join(dir, fd), 'utf8');
    } catch {
      continue;
    }
    const m = /^prog_id:\s+(\d+)/m.exec(info);
    if (m) ids.add(Number(m[1]));
  }
  return ids;
}

function loadedPrograms(): Map<number, string> {
  const list = JSON.parse(execFileSync('bpftool', ['prog', 'list', '--json'], { encoding: 'utf8' })) as Array<{ id: number; name?: string }>;
  return new Map(list.map((p) => [p.id, p.name ?? '']));
}

/** Our programs: held by the process, named as tcpotel names them. */
function tcpotelProgramsOf(pid: number): number[] {
  const loaded = loadedPrograms();
  return [...programsOf(pid)].filter((id) => TCPOTEL_PROGRAM.test(loaded.get(id) ?? ''));
}

function assertDetached(ours: number[]) {
  const loaded = loadedPrograms();
  const left = ours.filter((id) => loaded.has(id));
  assert.deepEqual(left, [], `programs still loaded after exit: ${left.map((id) => `${id} ${loaded.get(id)}`).join(', ')}`);
}

function tempFile(name: string, body: string): string {
  const p = join(mkdtempSync(join(tmpdir(), 'tcpotel-view-')), name);
  writeFileSync(p, body);
  return p;
}

/** A server for N clients; drive() runs them and waits for both ends to finish. */
async function traffic() {
  const server = await startServer(['--addr', '127.0.0.1', '--port', '0', '--expect', String(K), '--reply', String(M), '--count', String(N)]);
  return {
    server,
    async drive() {
      const c = await runClient(['--addr', '127.0.0.1', '--port', String(server.port), '--count', String(N), '--send', String(K), '--expect', String(M)]);
      assert.equal(c.code, 0, c.stderr);
      const s = await server.done;
      assert.equal(s.code, 0, s.stderr);
      return c.pid;
    },
  };
}

async function poll<T>(what: string, timeoutMs: number, get: () => T | undefined, describe: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen:\n${describe()}`);
    await sleep(100);
  }
}

test('live view in a terminal: "/" + port shows exact totals and rows for known traffic; q exits 0 and detaches', { timeout: 90_000 }, async () => {
  // Prometheus off 9464; series uncapped, so that a burst of other traffic on the host
  // cannot fold ours into the overflow series.
  const overlay = tempFile('overlay.yaml', 'processors:\n  aggregate/connections:\n    max_series: 10000000\nexporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n');
  const session = `tcpotel-view-${process.pid}`;
  const pidFile = tempFile('pid', '');
  const rawFile = tempFile('pane.raw', '');
  const t = await traffic();
  const rcFile = tempFile('rc', '');
  // CI=true as CI machines set it: Ink then paints nothing until it unmounts unless the
  // view keeps it from seeing that (a live view is what a terminal user wants).
  // The shell notes its pid and, after tcpotel (its child) exits, the exit code: tmux may
  // take a while to reap a dead pane's process.
  const cmd = `echo $$ > ${pidFile}; CI=true ${process.execPath} ${cli} run --config ${DEFAULT} --config ${overlay}; echo $? > ${rcFile}`;
  tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', '-c', root, cmd);
  try {
    tmux('set-option', '-w', '-t', session, 'remain-on-exit', 'on');
    // Everything the process writes, also what tmux may not paint before the pane dies.
    tmux('pipe-pane', '-t', session, '-o', `cat >> ${rawFile}`);
    const shell = await poll('the pid file', 5000, () => Number(readFileSync(pidFile, 'utf8').trim()) || undefined, () => '');
    const pid = await poll('tcpotel to start', 5000, () => Number(readFileSync(`/proc/${shell}/task/${shell}/children`, 'utf8').trim().split(' ')[0]) || undefined, () => '');

    // Ready: the title carries the time of the last window, the totals are painted.
    await poll('the live view', 30_000, () => (/^ tcpotel +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/m.test(pane(session)) && /^Totals +connections \d+/m.test(pane(session)) ? true : undefined), () => pane(session));
    const ours = tcpotelProgramsOf(pid);
    assert.ok(ours.length >= 6, `the process holds its BPF programs (${ours.length})`);

    const clientPid = await t.drive();
    const port = t.server.port;
    tmux('send-keys', '-t', session, '/');
    tmux('send-keys', '-t', session, '-l', `:${port}`);
    tmux('send-keys', '-t', session, 'Enter');

    const total = N * (K + M);
    const screen = await poll(
      `the view filtered to :${port} with ${2 * N} connections`,
      15_000,
      () => {
        const s = pane(session);
        return new RegExp(`^Filter +":${port}" +connections ${2 * N} +open 0 +sent ${total} B +received ${total} B`, 'm').test(s) ? s : undefined;
      },
      () => pane(session),
    );
    assert.match(screen, new RegExp(`^ tcpotel .* sort: bytes +filter: ":${port}"`, 'm'));
    assert.match(screen, /^Filter .* failed 0 +retransmits 0 +resets 0 +series 10/m);
    assert.match(screen, / q quit +p pause/, 'Enter ended the typing');
    const row = /^ *(\d+) +(\S+) +(\S+) +(\S+) +(open|closed) +(\d+ B) +(\d+ B) /;
    const rows = screen
      .split('\n')
      .map((l) => row.exec(l))
      .filter((m): m is RegExpExecArray => m !== null);
    assert.equal(rows.length, 2 * N, `${2 * N} rows:\n${screen}`);
    const serverRows = rows.filter((r) => r[3] === `127.0.0.1:${port}`);
    const clientRows = rows.filter((r) => r[4] === `127.0.0.1:${port}`);
    assert.equal(serverRows.length, N);
    assert.equal(clientRows.length, N);
    for (const r of serverRows) assert.deepEqual([Number(r[1]), r[5], r[6], r[7]], [t.server.pid, 'closed', `${M} B`, `${K} B`], r[0]);
    for (const r of clientRows) assert.deepEqual([Number(r[1]), r[5], r[6], r[7]], [clientPid, 'closed', `${K} B`, `${M} B`], r[0]);
    // Every client port appears once on each side.
    assert.deepEqual(serverRows.map((r) => r[4]).sort(), clientRows.map((r) => r[3]).sort());

    // Other sorts keep the same rows.
    tmux('send-keys', '-t', session, 'a');
    await poll('sort by age', 5000, () => (/sort: age/.test(pane(session)) ? true : undefined), () => pane(session));

    // Esc clears the filter.
    tmux('send-keys', '-t', session, 'Escape');
    await poll('the filter cleared', 5000, () => (!/^Filter /m.test(pane(session)) ? true : undefined), () => pane(session));

    tmux('send-keys', '-t', session, 'q');
    const status = await poll('tcpotel to exit', 20_000, () => readFileSync(rcFile, 'utf8').trim() || undefined, () => pane(session));
    assert.equal(status, '0', pane(session));
    assert.ok(!existsSync(`/proc/${pid}`), 'the process is gone');
    assertDetached(ours);
    // Back on the normal screen (after leaving the alternate one): the final summary line.
    const raw = readFileSync(rawFile, 'utf8');
    const normal = raw.slice(raw.lastIndexOf('\u001b[?1049l') + '\u001b[?1049l'.length);
    // eslint-disable-next-line no-control-regex
    const final = parseSummaryLine(normal.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').split('\n')[0]!);
    assert.ok(raw.includes('\u001b[?1049h') && final, JSON.stringify(normal));
    assert.ok(final.fields.tx_total! >= total && final.fields.total! >= 2 * N, JSON.stringify(final));
  } finally {
    try {
      tmux('kill-session', '-t', session);
    } catch {
      /* gone */
    }
    t.server.kill();
  }
});

interface Piped {
  child: ChildProcess;
  lines: () => string[];
  stderr: () => string;
  exit: Promise<number | null>;
}

function spawnPiped(args: string[]): Piped {
  const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, lines: () => out.split('\n').filter(Boolean), stderr: () => err, exit };
}

/** Runs the piped command around known traffic on our port; returns the parsed lines. */
async function summaryRun(args: string[], port: number, drive: () => Promise<number>, p = spawnPiped(args)) {
  try {
    await Promise.race([
      waitUntil(() => p.lines().length >= 1, 30_000, 'the first summary line'),
      p.exit.then((code) => {
        throw new Error(`tcpotel exited early (${code}):\n${p.stderr()}`);
      }),
    ]);
    const ours = tcpotelProgramsOf(p.child.pid!);
    assert.ok(ours.length >= 6, `the process holds its BPF programs (${ours.length})`);
    await drive();
    const total = N * (K + M);
    await poll(`a summary line with tx_total=${total}`, 15_000, () => (p.lines().some((l) => l.includes(` tx_total=${total}B `)) ? true : undefined), () => p.lines().slice(-3).join('\n'));
    await sleep(1200);
    p.child.kill('SIGINT');
    assert.equal(await p.exit, 0, p.stderr());
    assertDetached(ours);
    const lines = p.lines();
    const parsed = lines.map((l) => parseSummaryLine(l));
    assert.ok(
      parsed.every((x) => x !== undefined),
      `every stdout line is a summary line:\n${lines.filter((_, i) => !parsed[i]).join('\n')}`,
    );
    return { lines, fields: parsed.map((x) => x!.fields), stderr: p.stderr(), port };
  } finally {
    p.child.kill('SIGKILL');
  }
}

function assertExact(fields: Record<string, number>[]) {
  const total = N * (K + M);
  const last = fields.at(-1)!;
  assert.deepEqual(
    [last.total, last.active, last.tx_total, last.rx_total, last.failed_total, last.resets_total],
    [2 * N, 0, total, total, 0, 0],
    JSON.stringify(last),
  );
  const sum = (k: string) => fields.reduce((n, f) => n + f[k]!, 0);
  assert.equal(sum('new'), 2 * N, 'new= adds up to the connections opened');
  assert.equal(sum('closed'), 2 * N, 'closed= adds up to the connections closed');
  // tx_rate= is bytes per second: times the interval (two decimals) it adds up to the total, within rounding.
  const txBytes = fields.reduce((n, f) => n + f.tx_rate! * f.interval!, 0);
  assert.ok(Math.abs(txBytes - total) <= total * 0.01, `${txBytes} vs ${total}`);
  // The interval is the time measured between two lines: positive (its length depends on the machine's load).
  for (const f of fields) assert.ok(f.interval! > 0, `interval=${f.interval}`);
  // Totals only grow.
  for (let i = 1; i < fields.length; i++) assert.ok(fields[i]!.tx_total! >= fields[i - 1]!.tx_total!);
}

test('summary lines when stdout is piped: exact numbers for known traffic; SIGINT exits 0 and detaches', { timeout: 90_000 }, async () => {
  const t = await traffic();
  // The host has other traffic: keep the receiver to our port, in the kernel.
  const overlay = tempFile('overlay.yaml', `receivers:\n  ebpf:\n    filter:\n      ports: [${t.server.port}]\nexporters:\n  prometheus:\n    endpoint: 127.0.0.1:0\n`);
  try {
    const r = await summaryRun(['run', '--config', DEFAULT, '--config', overlay], t.server.port, t.drive);
    assert.match(r.lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ conns total=\d+ active=\d+ new=\d+ closed=\d+ failed=\d+ tx_rate=\d+B\/s rx_rate=\d+B\/s retrans=\d+ resets=\d+ tx_total=\d+B rx_total=\d+B failed_total=\d+ retrans_total=\d+ resets_total=\d+ interval=\d+\.\d\ds$/);
    assertExact(r.fields);
  } finally {
    t.server.kill();
  }
});

test('tcpotel top --port P, piped: progress on stderr, exact summary lines, SIGINT exits 0 and detaches', { timeout: 90_000 }, async () => {
  const t = await traffic();
  try {
    const r = await summaryRun(['top', '--port', String(t.server.port), '--interval', '1s'], t.server.port, t.drive);
    assert.match(r.stderr, /tcpotel top: loading and attaching the eBPF programs, then taking a snapshot of open connections/);
    assert.match(r.stderr, /tcpotel top: running: a summary line every 1s on stdout/);
    assertExact(r.fields);
  } finally {
    t.server.kill();
  }
});
