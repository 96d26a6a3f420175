/**
 * Container and pod ids from /proc/<pid>/cgroup, cgroup v1 ("12:memory:/docker/<id>") and
 * v2 ("0::/system.slice/docker-<id>.scope") alike: Docker, containerd (cri-containerd-),
 * CRI-O (crio-), Podman (libpod-), and Kubernetes pod slices (kubepods...pod<uid>).
 */

/** A path segment that names a container: an optional runtime prefix, 64 hex digits, an optional .scope. */
const CONTAINER_SEGMENT = /^(?:docker-|cri-containerd-|crio-|libpod-|containerd-)?([0-9a-f]{64})(?:\.scope)?$/;

/** kubepods-burstable-pod<uid>.slice (systemd driver, '_' for '-') or pod<uid> (cgroupfs driver). */
const POD_SEGMENT =
  /^(?:kubepods-(?:besteffort-|burstable-|guaranteed-)?)?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice)?$/;

export interface CgroupInfo {
  containerId?: string;
  /** Kubernetes pod UID, with dashes. */
  podUid?: string;
}

/** Container id and pod UID from the text of /proc/<pid>/cgroup; {} when it names neither. */
export function parseCgroup(text: string): CgroupInfo {
  const out: CgroupInfo = {};
  for (const line of text.split('\n')) {
    // hierarchy-id:controllers:path
    const first = line.indexOf(':');
    if (first < 0) continue;
    const second = line.indexOf(':', first + 1);
    if (second < 0) continue;
    const path = line.slice(second + 1).trim();
    if (!path || path === '/') continue;
    const segments = path.split('/');
    if (out.containerId === undefined) {
      for (let i = segments.length - 1; i >= 0; i--) {
        const m = CONTAINER_SEGMENT.exec(segments[i]!);
        if (m) {
          out.containerId = m[1]!;
          break;
        }
      }
    }
    if (out.podUid === undefined && path.includes('kubepods')) {
      for (const s of segments) {
        const m = POD_SEGMENT.exec(s);
        if (m) {
          out.podUid = m[1]!.replaceAll('_', '-');
          break;
        }
      }
    }
    if (out.containerId !== undefined && out.podUid !== undefined) break;
  }
  return out;
}

/** The container id in the text of /proc/<pid>/cgroup, if the process runs in a container. */
export function parseContainerId(cgroupFileText: string): string | undefined {
  return parseCgroup(cgroupFileText).containerId;
}
