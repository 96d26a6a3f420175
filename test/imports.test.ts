/**
 * The module graph of src/: no import cycles (static, dynamic or type-only imports alike),
 * and core/ imports nothing above it (config/, pipeline/, receivers/, processors/,
 * exporters/, extensions/, cli/, deploy/, the registry).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { packageRoot } from '../src/core/paths.js';

const src = join(packageRoot(), 'src');

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.tsx?$/.test(e) && !e.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The source file a relative specifier names ("./x.js" is x.ts or x.tsx). */
function target(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec).replace(/\.js$/, '');
  return ['.ts', '.tsx'].map((x) => base + x).find(existsSync);
}

/** Module -> the modules it imports, as paths relative to src/. */
const graph = new Map<string, string[]>();
for (const f of files(src)) {
  const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
  const deps = info.importedFiles.map((i) => target(f, i.fileName)).filter((t): t is string => t !== undefined);
  graph.set(relative(src, f), deps.map((d) => relative(src, d)));
}

test('src/ has no import cycles', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (m: string) => {
    state.set(m, 'visiting');
    stack.push(m);
    for (const d of graph.get(m) ?? []) {
      if (state.get(d) === 'visiting') cycles.push([...stack.slice(stack.indexOf(d)), d].join(' -> '));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(m, 'done');
  };
  for (const m of [...graph.keys()].sort()) if (!state.has(m)) visit(m);
  assert.deepEqual(cycles, []);
});

/** core/ and the native wing (the addons' typed surface, which core/privileges uses) are the bottom layers. */
const BOTTOM = ['core/', 'semconv/', 'native/'];

test('core/ and native/ import only core/, semconv/, native/ and packages', () => {
  const upward: string[] = [];
  for (const [m, deps] of graph) {
    if (!m.startsWith('core/') && !m.startsWith('native/')) continue;
    for (const d of deps) if (!BOTTOM.some((b) => d.startsWith(b))) upward.push(`${m} -> ${d}`);
  }
  assert.deepEqual(upward, []);
});
