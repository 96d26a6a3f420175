/** Resource detection, once at start: the host, its OS, and the tcpotel process itself. */
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import type { Attributes } from '../../core/metrics.js';
import type { ResourceDetector } from './config.js';
import { RESOURCE_ATTR } from '../../semconv/attributes.js';

/** Node's os.arch() to the semantic conventions' host.arch values. */
const ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm32',
  ia32: 'x86',
  ppc: 'ppc32',
  ppc64: 'ppc64',
  s390x: 's390x',
};

/** Node's os.platform() to os.type values. */
const OS_TYPE: Record<string, string> = {
  linux: 'linux',
  darwin: 'darwin',
  win32: 'windows',
  freebsd: 'freebsd',
  netbsd: 'netbsd',
  openbsd: 'openbsd',
  sunos: 'solaris',
  aix: 'aix',
};

/** KEY=value lines of os-release(5), quotes removed. */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*?)\s*$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0]) {
      v = v.slice(1, -1);
      if (m[2]![0] === '"') v = v.replace(/\\(["\\$`])/g, '$1');
    }
    out[m[1]!] = v;
  }
  return out;
}

function readOsRelease(paths: readonly string[]): Record<string, string> | undefined {
  for (const p of paths) {
    try {
      return parseOsRelease(readFileSync(p, 'utf8'));
    } catch {
      // next
    }
  }
  return undefined;
}

export interface DetectOptions {
  /** Where os-release is looked for, first readable wins. */
  osReleasePaths?: readonly string[];
}

export function detectResource(detectors: readonly ResourceDetector[], opts: DetectOptions = {}): Attributes {
  const out: Attributes = {};
  if (detectors.includes('host')) {
    out[RESOURCE_ATTR.hostName] = os.hostname();
    const arch = os.arch();
    out[RESOURCE_ATTR.hostArch] = ARCH[arch] ?? arch;
  }
  if (detectors.includes('os')) {
    const platform = os.platform();
    out[RESOURCE_ATTR.osType] = OS_TYPE[platform] ?? platform;
    out[RESOURCE_ATTR.osDescription] = `${platform === 'linux' ? 'Linux' : os.type()} ${os.release()}`;
    const rel = readOsRelease(opts.osReleasePaths ?? ['/etc/os-release', '/usr/lib/os-release']);
    if (rel?.NAME) out[RESOURCE_ATTR.osName] = rel.NAME;
    if (rel?.VERSION_ID) out[RESOURCE_ATTR.osVersion] = rel.VERSION_ID;
  }
  if (detectors.includes('process')) {
    out[RESOURCE_ATTR.processPid] = process.pid;
    out[RESOURCE_ATTR.runtimeName] = 'nodejs';
    out[RESOURCE_ATTR.runtimeVersion] = process.versions.node;
  }
  return out;
}
