/**
 * Reads YAML config files, substitutes ${env:VAR} and ${env:VAR:-default} in values, and
 * merges several files (later ones override). Every value keeps its position, so that
 * each error can name its file, line and column.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isScalar, isMap, isSeq, visit, type Document, type Node } from 'yaml';
import type { ConfigIssue } from './errors.js';

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
        const typed = parseDocument(value).toJS();
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

/** Reads and merges config files in order. */
export function loadConfigFiles(files: string[], env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const sources: SourceDoc[] = [];
  const issues: ConfigIssue[] = [];
  let value: Record<string, unknown> = {};
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      issues.push({ path: '', message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file });
      continue;
    }
    const parsed = parseConfigText(file, text, env);
    sources.push(parsed.source);
    issues.push(...parsed.issues);
    if (parsed.issues.length) continue;
    const js = parsed.source.doc.toJS({ maxAliasCount: 100 }) as unknown;
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
