/**
 * Real traffic for acceptance tests: the C peer (test/peers/tcppeer.c, built by make),
 * optionally inside network namespaces that the test creates.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';

export function peerPath(): string {
  const p = join(packageRoot(), 'bpf', '.output', 'tcppeer');
  if (!existsSync(p)) throw new Error(`${p} is missing: run make`);
  return p;
}

export interface Peer {
  child: ChildProcess;
  pid: number;
  /** The first line the peer printed ("ready <port>", "connected <port>"). */
  firstLine: string;
  /** Resolves with the last JSON line printed and the exit code. */
  done: Promise<{ code: number | null; json: any; stdout: string; stderr: string }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs `tcppeer <args>` (inside `netns` when given). Waits for the first stdout line when `waitLine`. */
export async function startPeer(args: string[], opts: { netns?: string; waitLine?: boolean } = {}): Promise<Peer> {
  const cmd = opts.netns ? 'ip' : peerPath();
  const argv = opts.netns ? ['netns', 'exec', opts.netns, peerPath(), ...args] : args;
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout! });
  let resolveFirst: (l: string) => void;
  const first = new Promise<string>((r) => (resolveFirst = r));
  let sawFirst = false;
  lines.on('line', (l) => {
    stdout += l + '\n';
    if (!sawFirst) {
      sawFirst = true;
      resolveFirst(l);
    }
  });
  const done = new Promise<{ code: number | null; json: any; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      if (!sawFirst) resolveFirst('');
      const jsonLine = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      resolve({ code, json: jsonLine ? JSON.parse(jsonLine) : undefined, stdout, stderr });
    });
  });
  const firstLine = opts.waitLine === false ? '' : await Promise.race([first, done.then(() => '')]);
  if (opts.waitLine !== false && !firstLine) {
    const r = await done;
    throw new Error(`tcppeer ${args.join(' ')} exited (${r.code}) before printing: ${r.stderr}`);
  }
  return { child, pid: child.pid!, firstLine, done, kill: (s = 'SIGTERM') => child.kill(s) };
}

/** Starts `tcppeer server` and returns it with its port. */
export async function startServer(args: string[], opts: { netns?: string } = {}): Promise<Peer & { port: number }> {
  const p = await startPeer(['server', ...args], opts);
  const m = /^ready (\d+)/.exec(p.firstLine);
  if (!m) throw new Error(`unexpected server output: ${p.firstLine}`);
  return Object.assign(p, { port: Number(m[1]) });
}

/** Runs a client to completion. */
export async function runClient(args: string[], opts: { netns?: string } = {}) {
  const p = await startPeer(['client', ...args], { ...opts, waitLine: false });
  const r = await p.done;
  return { ...r, pid: p.pid };
}

/** A pair of network namespaces joined by a veth link, removed by cleanup(). */
export class NetnsPair {
  readonly a: string;
  readonly b: string;
  constructor(
    tag: string,
    readonly addrA = '10.77.0.1',
    readonly addrB = '10.77.0.2',
    readonly addr6A = 'fd77::1',
    readonly addr6B = 'fd77::2',
  ) {
    const id = `${tag}${process.pid % 10000}`;
    this.a = `tpa${id}`;
    this.b = `tpb${id}`;
  }

  setup(): this {
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    this.cleanup();
    ip('netns', 'add', this.a);
    ip('netns', 'add', this.b);
    ip('link', 'add', `va${process.pid % 100000}`, 'netns', this.a, 'type', 'veth', 'peer', 'name', `vb${process.pid % 100000}`, 'netns', this.b);
    const va = `va${process.pid % 100000}`;
    const vb = `vb${process.pid % 100000}`;
    ip('-n', this.a, 'addr', 'add', `${this.addrA}/24`, 'dev', va);
    ip('-n', this.b, 'addr', 'add', `${this.addrB}/24`, 'dev', vb);
    ip('-n', this.a, '-6', 'addr', 'add', `${this.addr6A}/64`, 'dev', va, 'nodad');
    ip('-n', this.b, '-6', 'addr', 'add', `${this.addr6B}/64`, 'dev', vb, 'nodad');
    for (const [ns, dev] of [[this.a, va], [this.b, vb]] as const) {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    return this;
  }

  /**
   * Drops one data segment in `n` arriving in namespace `ns` (nftables numgen), never SYN,
   * FIN or RST, to induce retransmits by the sender.
   */
  dropOneIn(ns: string, n: number): void {
    const rules = `table inet tcpotel_loss {\n chain in {\n  type filter hook input priority 0; policy accept;\n  tcp flags & (syn|fin|rst) == 0 meta length > 200 numgen random mod ${n} == 0 drop\n }\n}\n`;
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /**
   * Sends `bytes` over one connection from a client in namespace a to a server in b (on
   * `port`, 0: any free one) and waits for both ends to finish.
   */
  async transfer(bytes: number, port = 0): Promise<{ port: number; clientPid: number }> {
    const server = await startServer(['--addr', this.addrB, '--port', String(port), '--expect', String(bytes), '--count', '1'], { netns: this.b });
    const client = await runClient(['--addr', this.addrB, '--port', String(server.port), '--count', '1', '--send', String(bytes)], { netns: this.a });
    if (client.code !== 0) {
      server.kill('SIGKILL');
      throw new Error(`the client in ${this.a} failed (${client.code}): ${client.stderr}`);
    }
    await server.done;
    return { port: server.port, clientPid: client.pid };
  }

  /** Loads an nftables ruleset into namespace `ns`. */
  nft(ns: string, rules: string): void {
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** Sets a sysctl inside namespace `ns` (per-namespace ones, e.g. net.ipv4.tcp_syn_retries), through /proc/sys. */
  sysctl(ns: string, key: string, value: string): void {
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', `echo ${value} > ${path}`], { stdio: 'pipe' });
  }

  cleanup(): void {
    for (const ns of [this.a, this.b]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
      } catch {
        /* not there */
      }
    }
  }
}

/** IDs of the BPF programs loaded right now (bpftool). */
export function loadedProgramIds(): Set<number> {
  const out = execFileSync('bpftool', ['prog', 'list', '--json'], { encoding: 'utf8' });
  return new Set((JSON.parse(out) as Array<{ id: number }>).map((p) => p.id));
}

/** IDs of the BPF links attached right now (bpftool). */
export function attachedLinkProgIds(): Set<number> {
  const out = execFileSync('bpftool', ['link', 'list', '--json'], { encoding: 'utf8' });
  return new Set((JSON.parse(out) as Array<{ prog_id: number }>).map((l) => l.prog_id));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitUntil(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** IDs of the BPF programs a process holds (from its fds' fdinfo): exactly its own, whatever else runs. */
export function programsOf(pid: number): number[] {
  const ids = new Set<number>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      if (!readlinkSync(`/proc/${pid}/fd/${fd}`).includes('bpf-prog')) continue;
      const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      /* closed meanwhile */
    }
  }
  return [...ids];
}
