/** The host's network namespaces, for the iterators (which see one namespace per run). */
import { readdirSync, statSync } from 'node:fs';

/**
 * A path for each network namespace other than ours: /proc/PID/ns/net of one process in
 * it, or a name under /run/netns (`ip netns add`) where no process is. Deduplicated by
 * the namespace's inode.
 */
export function otherNetworkNamespaces(): string[] {
  const seen = new Set<number>();
  const out: string[] = [];
  const add = (path: string) => {
    let ino: number;
    try {
      ino = statSync(path).ino;
    } catch {
      return; // gone meanwhile, or not ours to see
    }
    if (seen.has(ino)) return;
    seen.add(ino);
    out.push(path);
  };
  try {
    seen.add(statSync('/proc/self/ns/net').ino); // ours: the iterators' first run
  } catch {
    return [];
  }
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const d of pids) if (d.charCodeAt(0) >= 48 && d.charCodeAt(0) <= 57) add(`/proc/${d}/ns/net`);
  try {
    for (const name of readdirSync('/run/netns')) add(`/run/netns/${name}`);
  } catch {
    /* no named namespaces */
  }
  return out;
}
