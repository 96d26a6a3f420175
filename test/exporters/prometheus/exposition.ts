/**
 * A strict reader of the Prometheus text exposition (and OpenMetrics text) for tests: every
 * line must parse, label values are unescaped, and each metric's HELP, UNIT and TYPE lines
 * must come once, before its samples, which must be contiguous.
 */
import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  /** The value as written. */
  value: string;
}

export interface Family {
  name: string;
  help?: string;
  type?: string;
  unit?: string;
}

export interface Parsed {
  families: Map<string, Family>;
  samples: Sample[];
  /** Sample name -> the family it belongs to. */
  familyOf: Map<string, string>;
  eof: boolean;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const PLAIN = /[^"\\]*/y;
const VALUE = /^(-?[0-9.e+-]+|[+-]Inf|NaN)$/;
const SUFFIXES = ['_total', '_count', '_sum', '_bucket', '_info', '_created'];

function parseLabels(text: string, at: number, line: string): { labels: Record<string, string>; end: number } {
  // Messages are built only on failure: this runs for every sample of large expositions.
  const labels: Record<string, string> = {};
  let i = at;
  if (text[i] === '}') return { labels, end: i + 1 };
  for (;;) {
    LABEL.lastIndex = i;
    const m = LABEL.exec(text);
    if (!m) assert.fail(`a label name at ${i} in: ${line}`);
    const key = m[0];
    i += key.length;
    if (text[i] !== '=' || text[i + 1] !== '"') assert.fail(`=" after ${key} in: ${line}`);
    i += 2;
    let value = '';
    for (;;) {
      // Plain characters up to the next quote or backslash in one go.
      PLAIN.lastIndex = i;
      PLAIN.exec(text);
      value += text.slice(i, PLAIN.lastIndex);
      i = PLAIN.lastIndex;
      const c = text[i];
      if (c === '"') break;
      if (c === undefined) assert.fail(`an unterminated label value in: ${line}`);
      const e = text[i + 1];
      if (e === 'n') value += '\n';
      else if (e === '\\') value += '\\';
      else if (e === '"') value += '"';
      else assert.fail(`an invalid escape \\${e} in: ${line}`);
      i += 2;
    }
    i++;
    if (key in labels) assert.fail(`label ${key} twice in: ${line}`);
    labels[key] = value;
    if (text[i] === ',') {
      i++;
      if (text[i] === '}') return { labels, end: i + 1 };
      continue;
    }
    if (text[i] !== '}') assert.fail(`, or } after a label value in: ${line}`);
    return { labels, end: i + 1 };
  }
}

/**
 * The families and samples of an exposition. `familyOfSample` says which family a sample
 * name belongs to (e.g. `x_bucket` to `x`).
 */
export function parseExposition(text: string): Parsed {
  const families = new Map<string, Family>();
  const samples: Sample[] = [];
  const familyOf = new Map<string, string>();
  const closed = new Set<string>();
  let current: string | undefined;
  let eof = false;
  const lines = text.split('\n');
  assert.equal(lines.pop(), '', 'the exposition ends with a newline');
  for (const line of lines) {
    if (eof) assert.fail(`nothing after # EOF: ${line}`);
    if (line === '# EOF') {
      eof = true;
      continue;
    }
    const meta = /^# (HELP|TYPE|UNIT) (\S+)(?: (.*))?$/.exec(line);
    if (meta) {
      const [, kind, name, rest = ''] = meta;
      if (current !== name) {
        if (current) closed.add(current);
        assert.ok(!closed.has(name!) && !families.has(name!), `the metadata of ${name} in one place`);
        current = name!;
        families.set(name!, { name: name! });
      }
      const f = families.get(name!)!;
      const key = kind!.toLowerCase() as 'help' | 'type' | 'unit';
      assert.equal(f[key], undefined, `one ${kind} line for ${name}`);
      f[key] = rest;
      continue;
    }
    if (line[0] === '#') assert.fail(`an unknown comment: ${line}`);
    const n = NAME.exec(line);
    if (!n) assert.fail(`a sample name in: ${line}`);
    const name = n[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i + 1, line));
    if (line[i] !== ' ') assert.fail(`a space before the value in: ${line}`);
    const value = line.slice(i + 1);
    if (!VALUE.test(value)) assert.fail(`a value in: ${line}`);
    let family = familyOf.get(name);
    if (family === undefined) family = [...families.keys()].reverse().find((f) => name === f || SUFFIXES.some((s) => name === f + s));
    if (!family) assert.fail(`the metadata of ${name} comes before its samples`);
    if (family !== current) assert.fail(`the samples of ${family} are contiguous`);
    familyOf.set(name, family);
    samples.push({ name, labels, value });
  }
  return { families, samples, familyOf, eof };
}

/** Samples as sortable strings: name, labels sorted, value. */
export function sampleKeys(samples: Sample[], rename: (name: string) => string = (n) => n): string[] {
  return samples
    .map((s) => `${rename(s.name)}{${Object.keys(s.labels).sort().map((k) => `${k}=${JSON.stringify(s.labels[k])}`).join(',')}} ${s.value}`)
    .sort();
}

/** The same samples, or a failure that shows the first differences (not both lists). */
export function assertSameSamples(actual: string[], expected: string[], what = 'samples'): void {
  if (actual.length === expected.length && actual.every((s, i) => s === expected[i])) return;
  const want = new Set(expected);
  const got = new Set(actual);
  const extra = actual.filter((s) => !want.has(s)).slice(0, 5);
  const missing = expected.filter((s) => !got.has(s)).slice(0, 5);
  assert.fail(`${what} differ: ${actual.length} vs ${expected.length} expected\n  unexpected: ${extra.join('\n              ')}\n  missing:    ${missing.join('\n              ')}`);
}
