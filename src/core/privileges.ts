/**
 * Dropping root once the BPF programs are attached: the process continues as an
 * unprivileged user, with CAP_BPF and CAP_PERFMON kept on the JS thread only (for the
 * kernel counters and the periodic iterators). That thread's capability bounding set is
 * cleared of everything else and no_new_privs is set, so that nothing it starts can get
 * privileges back (set-user-ID programs, file capabilities).
 */
import { readFileSync } from 'node:fs';
import { UserFacingError } from './errors.js';
import { loadAddon } from '../native/addon.js';

export interface UserIds {
  name: string;
  uid: number;
  gid: number;
}

/** A user by name or numeric uid, from /etc/passwd. */
export function lookupUser(user: string, passwd = '/etc/passwd'): UserIds {
  let text = '';
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    /* no passwd: only numeric uids below */
  }
  for (const line of text.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name && (name === user || uid === user)) return { name, uid: Number(uid), gid: Number(gid) };
  }
  if (/^\d+$/.test(user)) return { name: user, uid: Number(user), gid: Number(user) };
  throw new UserFacingError(`unknown user "${user}" (service::user / --user)`, 'give a user name from /etc/passwd or a numeric uid, e.g. nobody');
}

export interface ProcessIdentity {
  uid: number;
  gid: number;
  capEff: bigint;
  capBnd: bigint;
  noNewPrivs: boolean;
}

/** CAP_PERFMON (38) and CAP_BPF (39). */
export const KEPT_CAPABILITIES = (1n << 38n) | (1n << 39n);

export function currentIdentity(): ProcessIdentity {
  const status = readFileSync('/proc/self/status', 'utf8');
  const field = (name: string) => /^(\w+):\s*(.*)$/m.exec(status.split('\n').find((l) => l.startsWith(name + ':')) ?? '')?.[2] ?? '';
  return {
    uid: Number(field('Uid').split(/\s+/)[1]),
    gid: Number(field('Gid').split(/\s+/)[1]),
    capEff: BigInt('0x' + (field('CapEff') || '0')),
    capBnd: BigInt('0x' + (field('CapBnd') || '0')),
    noNewPrivs: field('NoNewPrivs') === '1',
  };
}

export function dropPrivileges(user: string): UserIds {
  const ids = lookupUser(user);
  if (process.getuid?.() !== 0) throw new UserFacingError(`cannot switch to user ${ids.name}: tcpotel is not running as root`);
  loadAddon().dropPrivileges(ids.uid, ids.gid);
  const now = currentIdentity();
  if (now.uid !== ids.uid) throw new UserFacingError(`switching to user ${ids.name} failed (uid is ${now.uid})`);
  if (now.capEff & ~KEPT_CAPABILITIES || now.capBnd & ~KEPT_CAPABILITIES || !now.noNewPrivs) {
    throw new UserFacingError(`dropping privileges for user ${ids.name} left more than CAP_BPF and CAP_PERFMON (CapEff ${now.capEff.toString(16)}, CapBnd ${now.capBnd.toString(16)}, NoNewPrivs ${now.noNewPrivs ? 1 : 0})`);
  }
  return ids;
}
