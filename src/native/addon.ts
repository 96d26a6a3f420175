/**
 * Loading the native addon (build/Release/tcpotel.node). One addon holds both native
 * surfaces: the eBPF tracer (tracer.ts) and the sock_diag dumps (sockdiag.ts); loading it
 * needs no privileges. Both raise NativeError.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../core/paths.js';
import { NativeError } from './errors.js';
import type { SockdiagNative } from './sockdiag.js';
import type { TracerNative } from './tracer.js';

export interface NativeAddon extends TracerNative, SockdiagNative {
  /** The class every native failure is made of (NativeError). */
  setErrorClass(cls: typeof NativeError): void;
  /** Tests only: throws the NativeError of (op, errno), made as every native failure is. */
  raiseError(op: string, errno: number): never;
}

let addon: NativeAddon | undefined;

export function addonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'tcpotel.node');
}

/** Loads the addon once; a clear error when it was not built. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new Error(`the native addon is not built (${path} is missing): run 'make' in ${packageRoot()}`);
  }
  const require = createRequire(import.meta.url);
  const loaded = require(path) as NativeAddon;
  loaded.setErrorClass(NativeError);
  addon = loaded;
  return addon;
}

/** The addon's sock_diag functions. */
export function loadSockdiag(): SockdiagNative {
  const native = loadAddon() as Partial<SockdiagNative>;
  if (typeof native.sockdiagDumpAsync !== 'function' || typeof native.sockdiagDump !== 'function') {
    throw new Error('the native addon has no sock_diag support: rebuild it (make addon)');
  }
  return native as SockdiagNative;
}
