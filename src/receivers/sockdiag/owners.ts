/**
 * Socket inode -> owning process, the way ss -p finds it: the links in /proc/<pid>/fd
 * read "socket:[<inode>]". Scanning /proc costs one readlink per open file on the host,
 * so it runs only for inodes not resolved before, stops as soon as all are found, and looks
 * first at the processes that owned sockets recently (servers and clients that keep making
 * connections). Without root only the user's own processes can be read: the others stay
 * unknown (pid 0).
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Owner } from './table.js';

export interface OwnerResolverOptions {
  /** /proc, or a fake tree in tests. */
  procRoot?: string;
  /** cgroup v2 mount, for cgroup ids. */
  cgroupRoot?: string;
  /** Processes remembered as recent socket owners. */
  maxRecentPids?: number;
}

export interface ResolveStats {
  /** Full /proc scans. */
  scans: number;
  /** fd links read. */
  linksRead: number;
}

const SOCKET_LINK = /^socket:\[(\d+)\]$/;

export class OwnerResolver {
  private readonly procRoot: string;
  private readonly cgroupRoot: string;
  private readonly maxRecent: number;
  /** Recent owners, most recent last. */
  private readonly recent = new Map<number, true>();
  readonly stats: ResolveStats = { scans: 0, linksRead: 0 };

  constructor(opts: OwnerResolverOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.cgroupRoot = opts.cgroupRoot ?? '/sys/fs/cgroup';
    this.maxRecent = opts.maxRecentPids ?? 256;
  }

  /** Owners of the given socket inodes; inodes not found are absent from the result. */
  resolve(inodes: readonly number[]): Map<number, Owner> {
    const want = new Set(inodes);
    const found = new Map<number, number>(); // inode -> pid
    if (!want.size) return new Map();
    const scanned = new Set<number>();
    for (const pid of [...this.recent.keys()].reverse()) {
      if (!want.size) break;
      scanned.add(pid);
      if (!this.scanPid(pid, want, found)) this.recent.delete(pid);
    }
    if (want.size) {
      this.stats.scans++;
      let entries: string[];
      try {
        entries = readdirSync(this.procRoot);
      } catch {
        entries = [];
      }
      for (const name of entries) {
        if (!want.size) break;
        const c = name.charCodeAt(0);
        if (c < 48 || c > 57) continue;
        const pid = Number(name);
        if (!Number.isInteger(pid) || scanned.has(pid)) continue;
        this.scanPid(pid, want, found);
      }
    }
    const owners = new Map<number, Owner>();
    const byPid = new Map<number, Owner | undefined>();
    for (const [inode, pid] of found) {
      let o = byPid.get(pid);
      if (!byPid.has(pid)) {
        o = this.describe(pid);
        byPid.set(pid, o);
      }
      if (!o) continue;
      owners.set(inode, o);
      this.recent.delete(pid);
      this.recent.set(pid, true);
      if (this.recent.size > this.maxRecent) this.recent.delete(this.recent.keys().next().value as number);
    }
    return owners;
  }

  /** Reads one process's fd links; false when the process cannot be read (gone, or not ours). */
  private scanPid(pid: number, want: Set<number>, found: Map<number, number>): boolean {
    const dir = join(this.procRoot, String(pid), 'fd');
    let fds: string[];
    try {
      fds = readdirSync(dir);
    } catch {
      return false;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(join(dir, fd));
      } catch {
        continue;
      }
      this.stats.linksRead++;
      const m = SOCKET_LINK.exec(link);
      if (!m) continue;
      const inode = Number(m[1]);
      if (want.has(inode)) {
        want.delete(inode);
        found.set(inode, pid);
        if (!want.size) break;
      }
    }
    return true;
  }

  /** comm and cgroup v2 id of a process; undefined when it is gone. */
  private describe(pid: number): Owner | undefined {
    let comm: string;
    try {
      comm = readFileSync(join(this.procRoot, String(pid), 'comm'), 'utf8').replace(/\n$/, '');
    } catch {
      return undefined;
    }
    return { pid, comm, cgroupId: this.cgroupId(pid) };
  }

  /** The cgroup v2 id is the inode of the cgroup's directory (what bpf_get_current_cgroup_id returns). */
  private cgroupId(pid: number): number {
    try {
      const text = readFileSync(join(this.procRoot, String(pid), 'cgroup'), 'utf8');
      const line = text.split('\n').find((l) => l.startsWith('0::'));
      if (!line) return 0;
      return statSync(join(this.cgroupRoot, line.slice(3))).ino;
    } catch {
      return 0;
    }
  }
}
