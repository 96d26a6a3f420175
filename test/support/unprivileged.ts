/**
 * Running tcpotel (or a test script) as another user, e.g. nobody: that user must be able
 * to read the package. A checkout under /root (mode 0700) is not readable by anyone else, so
 * the package is then staged once per test process into a directory under the system's
 * temporary directory (hard links where the filesystem allows, copies otherwise), removed at
 * exit. When even that is impossible, `unprivilegedRoot()` says why and tests skip with it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packageRoot } from '../../src/core/paths.js';

export const NOBODY = 65534;

/** What a run as another user reads: the CLI, the compiled code, the addon, the dependencies, the examples. */
const NEEDED = ['package.json', 'bin', 'dist', 'pipelines', 'node_modules', join('build', 'Release', 'tcpotel.node')];

/** setpriv arguments to run a command as `uid` with no capabilities. */
export function asUser(uid = NOBODY): string[] {
  return [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all'];
}

function readableBy(uid: number, root: string): boolean {
  const files = [join(root, 'bin', 'tcpotel.js'), join(root, 'dist', 'src', 'cli', 'main.js'), join(root, 'node_modules', 'yaml', 'package.json'), join(root, 'build', 'Release', 'tcpotel.node')];
  return files.every((f) => spawnSync('setpriv', [...asUser(uid), 'test', '-r', f], { stdio: 'ignore' }).status === 0);
}

let staged: { root?: string; why?: string } | undefined;

function stage(uid: number): { root?: string; why?: string } {
  const src = packageRoot();
  const dir = mkdtempSync(join(tmpdir(), 'tcpotel-stage-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  try {
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'bpf'), { mode: 0o755 }); // packageRoot() looks for it
    for (const rel of NEEDED) {
      const from = join(src, rel);
      if (!existsSync(from)) return { why: `${from} is missing (run make)` };
      const to = join(dir, rel);
      mkdirSync(dirname(to), { recursive: true, mode: 0o755 });
      // Hard links keep it quick; another filesystem needs a copy.
      const linked = spawnSync('cp', ['-al', from, to], { stdio: 'ignore' }).status === 0;
      if (!linked) {
        rmSync(to, { recursive: true, force: true });
        const copied = spawnSync('cp', ['-a', from, to], { stdio: 'pipe', encoding: 'utf8' });
        if (copied.status !== 0) return { why: `cannot copy ${from} to ${to}: ${copied.stderr}` };
      }
    }
    // Directories are new (their modes can change); files are shared with the checkout (theirs stay).
    spawnSync('find', [dir, '-type', 'd', '-exec', 'chmod', 'a+rx', '{}', '+'], { stdio: 'ignore' });
  } catch (err) {
    return { why: `cannot stage the package in ${dir}: ${(err as Error).message}` };
  }
  return readableBy(uid, dir) ? { root: dir } : { why: `user ${uid} cannot read the package even staged in ${dir}` };
}

/**
 * The package root as `uid` can read it: the checkout itself when it can, else a staged copy.
 * `why` says why there is none (tests then skip, saying it).
 */
export function unprivilegedRoot(uid = NOBODY): { root?: string; why?: string } {
  const root = packageRoot();
  if (readableBy(uid, root)) return { root };
  staged ??= stage(uid);
  return staged;
}

/** The CLI for `uid`, or a reason to skip. */
export function unprivilegedCli(uid = NOBODY): { cli?: string; why?: string } {
  const r = unprivilegedRoot(uid);
  return r.root ? { cli: join(r.root, 'bin', 'tcpotel.js') } : { why: r.why };
}
