/** `tcpotel run` as a child process, for acceptance tests of the command as users run it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';
import { waitUntil } from './peer.js';

export const cli = join(packageRoot(), 'bin', 'tcpotel.js');

export interface RunningTcpotel {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exit: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export interface StartOptions {
  /** The command to run (default: bin/tcpotel.js; e.g. a copy nobody can read). */
  bin?: string;
  /** More arguments after `run --config FILE --log-level info`. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolve once it logs "tcpotel is running" (the default), or at once. */
  waitRunning?: boolean;
}

/**
 * Runs `tcpotel run --config <config>`; resolves once it logs "tcpotel is running" (or,
 * with `waitRunning: false`, at once). If it exits first, or does not start within 30 s,
 * it is killed and the promise rejects with its stderr.
 */
export async function startTcpotel(config: string, opts: StartOptions = {}): Promise<RunningTcpotel> {
  const child = spawn(process.execPath, [opts.bin ?? cli, 'run', '--config', config, '--log-level', 'info', ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  let err = '';
  let out = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const running: RunningTcpotel = {
    child,
    stderr: () => err,
    stdout: () => out,
    exit,
    stop: async () => {
      child.kill('SIGTERM');
      return exit;
    },
  };
  if (opts.waitRunning === false) return running;
  try {
    await Promise.race([
      waitUntil(() => err.includes('tcpotel is running'), 30_000, 'tcpotel to start'),
      exit.then((code) => {
        throw new Error(`tcpotel exited early (${code}):\n${err}`);
      }),
    ]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return running;
}

/** Writes `yaml` to a temp file and runs `tcpotel run` on it (see startTcpotel). */
export async function runTcpotel(yaml: string, opts: Omit<StartOptions, 'bin' | 'args' | 'cwd'> = {}): Promise<RunningTcpotel> {
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-run-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, yaml);
  return startTcpotel(config, opts);
}

/** A TCP port nothing listens on right now (bound, then released). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Polls `f` until it returns something other than undefined. */
export async function poll<T>(what: string, timeoutMs: number, f: () => Promise<T | undefined> | T | undefined, context: () => string = () => ''): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
