/**
 * cgroup v2 ids to container and pod ids. The kernel stamps every event with the owner's
 * cgroup id, which is the inode of its directory in the cgroup2 file system: when the
 * owner has exited and /proc no longer knows it, its cgroup still names the container.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseCgroup, type CgroupInfo } from './cgroup.js';

/** Where cgroup2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts). */
export function cgroup2Mount(mounts = '/proc/self/mounts'): string | undefined {
  try {
    for (const line of readFileSync(mounts, 'utf8').split('\n')) {
      const [, mnt, type] = line.split(' ');
      if (type === 'cgroup2' && mnt) return mnt;
    }
  } catch {
    /* no /proc */
  }
  return undefined;
}

export class CgroupIndex {
  private byId = new Map<number, string>();
  private lastScan = -Infinity;

  constructor(
    private readonly root: string | undefined,
    /** Rescan at most this often when an id is unknown (ms). */
    private readonly minRescanMs = 5000,
    /** Directories visited per scan at most. */
    private readonly maxDirs = 100_000,
  ) {}

  private scan(now: number): void {
    this.lastScan = now;
    if (!this.root) return;
    const next = new Map<number, string>();
    const stack = [''];
    while (stack.length && next.size < this.maxDirs) {
      const rel = stack.pop()!;
      const abs = join(this.root, rel);
      try {
        next.set(statSync(abs).ino, rel || '/');
        for (const d of readdirSync(abs, { withFileTypes: true })) if (d.isDirectory()) stack.push(`${rel}/${d.name}`);
      } catch {
        /* removed meanwhile, or not ours to read */
      }
    }
    this.byId = next;
  }

  /** The cgroup path of an id, relative to the cgroup2 root. */
  path(id: number, now: number): string | undefined {
    let p = this.byId.get(id);
    if (p === undefined && now - this.lastScan >= this.minRescanMs) {
      this.scan(now);
      p = this.byId.get(id);
    }
    return p;
  }

  /** Container and pod ids of a cgroup id; {} when it names neither or is unknown. */
  lookup(id: number, now: number): CgroupInfo {
    const p = this.path(id, now);
    return p ? parseCgroup(`0::${p}`) : {};
  }
}
