/**
 * Reads YAML config files, substitutes ${env:VAR} and ${env:VAR:-default} in values, and
 * merges several files (later ones override). Every value keeps its position, so that
 * each error can name its file, line and column.
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isScalar, isMap, isSeq, visit, type Document, type Node } from 'yaml';
import type { ConfigIssue } from './errors.js';
import { formatSize } from './units.js';

/** The largest config file read: anything bigger is refused before it is read. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
/** Alias expansions a config may make (a few anchors reused a few times; not a "billion laughs"). */
export const MAX_ALIAS_COUNT = 100;

export interface LoadOptions {
  /** Accept configs that group or others can write (--allow-insecure-config). */
  allowInsecure?: boolean;
}

export type YamlPath = ReadonlyArray<string | number>;

export interface SourceDoc {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
}

export interface LoadedConfig {
  /** The merged plain value of every file. */
  value: Record<string, unknown>;
  sources: SourceDoc[];
  /** Syntax and substitution errors. */
  issues: ConfigIssue[];
}

const SUBST = /\$\$|\$\{([^}]*)\}/g;
const ENV_REF = /^env:([A-Za-z_][A-Za-z0-9_]*)(?::-([\s\S]*))?$/;

/** Substitutes ${env:...} in one string; errors name what is wrong. */
export function substitute(text: string, env: NodeJS.ProcessEnv): { value: string; errors: string[]; whole: boolean } {
  const errors: string[] = [];
  let whole = false;
  const trimmed = text.trim();
  const single = /^\$\{[^}]*\}$/.test(trimmed);
  const value = text.replace(SUBST, (match, inner: string | undefined) => {
    if (match === '$$') return '$';
    const m = ENV_REF.exec(inner ?? '');
    if (!m) {
      errors.push(`invalid substitution "${match}": write \${env:NAME} or \${env:NAME:-default}`);
      return match;
    }
    const v = env[m[1]!];
    if (v !== undefined && v !== '') return v;
    if (m[2] !== undefined) return m[2];
    if (v === '') return '';
    errors.push(`environment variable ${m[1]} is not set (give a default with \${env:${m[1]}:-value})`);
    return '';
  });
  if (single && errors.length === 0) whole = true;
  return { value, errors, whole };
}

function position(src: SourceDoc, node: Node | null | undefined): { line?: number; column?: number } {
  const range = node?.range;
  if (!range) return {};
  const p = src.lines.linePos(range[0]);
  return { line: p.line, column: p.col };
}

/** Parses one YAML text (exported for tests). */
export function parseConfigText(file: string, text: string, env: NodeJS.ProcessEnv = process.env): { source: SourceDoc; issues: ConfigIssue[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const source: SourceDoc = { file, doc, lines };
  const issues: ConfigIssue[] = [];
  for (const err of doc.errors) {
    const p = err.linePos?.[0];
    issues.push({ path: '', message: `YAML syntax error: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, file, line: p?.line, column: p?.col });
  }
  if (issues.length) return { source, issues };
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (typeof node.value !== 'string' || !node.value.includes('$')) return;
      const { value, errors, whole } = substitute(node.value, env);
      const path = pathOf(ancestors as readonly unknown[], node);
      for (const message of errors) issues.push({ path: displayPath(path), message, file, ...position(source, node) });
      if (errors.length) return;
      if (whole && node.type === 'PLAIN') {
        // "${env:PORT}" written plain takes the type of its value, as the Collector does.
        let typed: unknown = null;
        try {
          typed = parseDocument(value).toJS({ maxAliasCount: MAX_ALIAS_COUNT });
        } catch {
          /* not a scalar YAML value: keep the text */
        }
        node.value = typed === null || typeof typed === 'object' ? value : typed;
      } else {
        node.value = value;
      }
    },
  });
  return { source, issues };
}

function pathOf(ancestors: readonly unknown[], leaf: unknown): (string | number)[] {
  const path: (string | number)[] = [];
  const chain = [...ancestors, leaf];
  for (let i = 0; i < chain.length - 1; i++) {
    const parent = chain[i];
    const child = chain[i + 1];
    if (isMap(parent)) {
      // child is a Pair
      const pair = child as { key?: unknown };
      const key = pair?.key;
      if (key !== undefined) path.push(isScalar(key) ? String(key.value) : String(key));
    } else if (isSeq(parent)) {
      path.push(parent.items.indexOf(child as never));
    }
  }
  return path;
}

export function displayPath(path: YamlPath): string {
  return path.map(String).join('::');
}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

const INSECURE_HINT = 'anyone who can change it decides what tcpotel does, with its privileges; fix with chmod go-w, or pass --allow-insecure-config';

/**
 * Why a config whose contents others could change must not be trusted: it is writable by
 * group or others, or one of its directories is (without the sticky bit, which keeps others
 * from replacing entries they do not own).
 */
export function insecurity(file: string, st: Stats): string | undefined {
  const mode = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');
  if (st.mode & 0o022) return `${file} is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${mode(st.mode)}): ${INSECURE_HINT}`;
  const dirs = new Set<string>();
  for (const start of [resolve(file), (() => { try { return realpathSync(file); } catch { return resolve(file); } })()]) {
    for (let d = dirname(start); ; d = dirname(d)) {
      dirs.add(d);
      if (dirname(d) === d) break;
    }
  }
  for (const d of dirs) {
    let ds: Stats;
    try {
      ds = statSync(d);
    } catch {
      continue;
    }
    if (ds.mode & 0o022 && !(ds.mode & 0o1000 /* sticky */)) {
      return `${file} is in ${d}, which ${ds.mode & 0o002 ? 'others' : 'its group'} can write without the sticky bit (mode ${mode(ds.mode)}): ${INSECURE_HINT.replace('chmod go-w', `chmod go-w (or +t) ${d}`)}`;
    }
  }
  return undefined;
}

/**
 * Reads a config file, refusing what is not a regular file (a FIFO would block, /dev/zero
 * never end), more than MAX_CONFIG_BYTES, or writable by others. Never blocks on open.
 */
export function readConfigFile(file: string, opts: LoadOptions = {}): { text: string } | { error: string } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return { error: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { error: `${file} is ${fileKind(st)}: a config must be a regular file` };
    const tooBig = `${file} is larger than ${formatSize(MAX_CONFIG_BYTES)}: a config is at most ${MAX_CONFIG_BYTES} bytes`;
    if (st.size > MAX_CONFIG_BYTES) return { error: tooBig };
    if (!opts.allowInsecure) {
      const why = insecurity(file, st);
      if (why) return { error: why };
    }
    // Read at most one byte more than allowed, whatever the size said (the file may grow).
    const buf = Buffer.allocUnsafe(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > MAX_CONFIG_BYTES) return { error: tooBig };
    }
    return { text: buf.toString('utf8', 0, n) };
  } catch (err) {
    return { error: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  } finally {
    closeSync(fd);
  }
}

/** The first alias of a document, where an alias bomb starts. */
function firstAlias(src: SourceDoc): { line?: number; column?: number } {
  let found: Node | undefined;
  visit(src.doc, {
    Alias(_key, node) {
      found = node as unknown as Node;
      return visit.BREAK;
    },
  });
  return position(src, found);
}

/** The plain value of a parsed document, or the issue that stopped it (alias bombs, nesting). */
export function documentValue(src: SourceDoc): { value: unknown } | { issue: ConfigIssue } {
  try {
    return { value: src.doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown };
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    if (/alias/i.test(msg)) {
      return { issue: { path: '', message: `YAML aliases expand too much: at most ${MAX_ALIAS_COUNT} alias expansions are allowed (an alias bomb?)`, file: src.file, ...firstAlias(src) } };
    }
    return { issue: { path: '', message: `the YAML cannot be read: ${msg}`, file: src.file, line: 1, column: 1 } };
  }
}

/** Reads and merges config files in order. */
export function loadConfigFiles(files: string[], env: NodeJS.ProcessEnv = process.env, opts: LoadOptions = {}): LoadedConfig {
  const sources: SourceDoc[] = [];
  const issues: ConfigIssue[] = [];
  let value: Record<string, unknown> = {};
  for (const file of files) {
    const read = readConfigFile(file, opts);
    if ('error' in read) {
      issues.push({ path: '', message: read.error, file });
      continue;
    }
    let parsed: ReturnType<typeof parseConfigText>;
    try {
      parsed = parseConfigText(file, read.text, env);
    } catch (err) {
      // The parser's own limits (e.g. nesting deeper than the stack).
      issues.push({ path: '', message: `the YAML cannot be read: ${(err as Error).message ?? String(err)}`, file, line: 1, column: 1 });
      continue;
    }
    sources.push(parsed.source);
    issues.push(...parsed.issues);
    if (parsed.issues.length) continue;
    const v = documentValue(parsed.source);
    if ('issue' in v) {
      issues.push(v.issue);
      continue;
    }
    const js = v.value;
    if (js === null || js === undefined) continue;
    if (typeof js !== 'object' || Array.isArray(js)) {
      issues.push({ path: '', message: 'the config must be a YAML mapping (receivers:, processors:, exporters:, service:)', file, line: 1, column: 1 });
      continue;
    }
    value = deepMerge(value, js as Record<string, unknown>);
  }
  return { value, sources, issues };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Maps merge key by key; anything else (lists included) is replaced. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** Where a path was last set, across the merged files; the nearest existing parent otherwise. */
export function locate(sources: SourceDoc[], path: YamlPath): { file?: string; line?: number; column?: number } {
  for (let len = path.length; len >= 0; len--) {
    const sub = path.slice(0, len);
    for (let i = sources.length - 1; i >= 0; i--) {
      const src = sources[i]!;
      const node = sub.length === 0 ? src.doc.contents : (src.doc.getIn(sub as (string | number)[], true) as Node | undefined);
      if (node && typeof node === 'object' && 'range' in node) {
        // Point at the key of a map entry when we can: that is what the user looks for.
        const keyNode = len > 0 ? keyNodeOf(src, sub) : undefined;
        return { file: src.file, ...position(src, keyNode ?? node) };
      }
      if (sub.length > 0 && src.doc.hasIn(sub as (string | number)[])) {
        const keyNode = keyNodeOf(src, sub);
        if (keyNode) return { file: src.file, ...position(src, keyNode) };
      }
    }
  }
  return { file: sources.at(-1)?.file };
}

function keyNodeOf(src: SourceDoc, path: YamlPath): Node | undefined {
  const parentPath = path.slice(0, -1);
  const parent = parentPath.length === 0 ? src.doc.contents : src.doc.getIn(parentPath as (string | number)[], true);
  const last = path[path.length - 1];
  if (isMap(parent)) {
    for (const pair of parent.items) {
      if (isScalar(pair.key) && String(pair.key.value) === String(last)) return pair.key as Node;
    }
  }
  return undefined;
}
