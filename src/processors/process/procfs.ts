/** What /proc says about a process, as OpenTelemetry process and container attributes. */
import { readFileSync, readlinkSync } from 'node:fs';
import type { AttributeValue } from '../../core/events.js';
import { ATTR } from '../../semconv/attributes.js';
import { parseCgroup } from './cgroup.js';

/** Attribute names the process processor adds besides ATTR.processExecutable*. */
export const PROCESS_OWNER = ATTR.processOwner;
export const K8S_POD_UID = ATTR.k8sPodUid;

/** user names by uid from /etc/passwd, re-read (at most every `reloadMs`) when a uid is missing. */
export class UserNames {
  private names = new Map<number, string>();
  private loadedAt = -Infinity;

  constructor(
    private readonly path = '/etc/passwd',
    private readonly reloadMs = 60_000,
  ) {}

  /** The user name, or the uid as text when /etc/passwd does not know it. */
  name(uid: number, now: number): string {
    let n = this.names.get(uid);
    if (n === undefined && now - this.loadedAt >= this.reloadMs) {
      this.load(now);
      n = this.names.get(uid);
    }
    return n ?? String(uid);
  }

  private load(now: number): void {
    this.loadedAt = now;
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return;
    }
    const names = new Map<number, string>();
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f.length < 3 || !f[0] || line.startsWith('#')) continue;
      const uid = Number(f[2]);
      if (Number.isInteger(uid) && !names.has(uid)) names.set(uid, f[0]);
    }
    this.names = names;
  }
}

export interface ReadOptions {
  commandLine: boolean;
  users: UserNames;
  now: number;
  procRoot?: string;
}

function tryRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/**
 * Attributes of process `pid`, or undefined when it is gone (its /proc entry cannot be
 * read). Unreadable parts (exe of another user's process without privileges) are left out.
 */
export function readProcessInfo(pid: number, opts: ReadOptions): Record<string, AttributeValue> | undefined {
  const dir = `${opts.procRoot ?? '/proc'}/${pid}`;
  const status = tryRead(`${dir}/status`);
  if (status === undefined) return undefined;
  const out: Record<string, AttributeValue> = {};
  let exe: string | undefined;
  try {
    exe = readlinkSync(`${dir}/exe`);
    if (exe.endsWith(' (deleted)')) exe = exe.slice(0, -10);
  } catch {
    exe = undefined; // kernel thread, exited, or not ours to see
  }
  if (exe) {
    out[ATTR.processExecutablePath] = exe;
    out[ATTR.processExecutableName] = exe.slice(exe.lastIndexOf('/') + 1);
  } else {
    // The process's own comm (the main thread's), rather than the thread's.
    const name = /^Name:\t(.*)$/m.exec(status)?.[1];
    if (name) out[ATTR.processExecutableName] = name;
  }
  if (opts.commandLine) {
    const raw = tryRead(`${dir}/cmdline`);
    if (raw) {
      const cmd = raw.replace(/\0+$/, '').replaceAll('\0', ' ');
      if (cmd) out[ATTR.processCommandLine] = Buffer.from(cmd, 'latin1').toString('utf8');
    }
  }
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  if (uid !== undefined) out[PROCESS_OWNER] = opts.users.name(Number(uid), opts.now);
  const cgroup = tryRead(`${dir}/cgroup`);
  if (cgroup) {
    const c = parseCgroup(cgroup);
    if (c.containerId) out[ATTR.containerId] = c.containerId;
    if (c.podUid) out[K8S_POD_UID] = c.podUid;
  }
  return out;
}
