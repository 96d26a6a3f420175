/**
 * package.json declares exactly what is imported: every package src/ imports is in
 * `dependencies` and every package there is imported by src/; what only test/, bench/,
 * scripts/ (and the native build, binding.gyp) use is in `devDependencies`, and every
 * package there is used by them. Versions are exact. And tcpotel imports by its own name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { packageRoot } from '../src/core/paths.js';

const root = packageRoot();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (e === 'node_modules' || e === 'dist') continue;
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.(ts|tsx|mts|js|mjs|cjs)$/.test(e) && !e.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The package a specifier names ("@scope/name", "name"), or undefined for relative paths and Node built-ins. */
function packageOf(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]!)) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Packages imported (statically, dynamically, or by require) by the files under these folders. */
function imported(dirs: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const dir of dirs) {
    for (const f of files(join(root, dir))) {
      const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
      for (const { fileName } of info.importedFiles) {
        const name = packageOf(fileName);
        if (name && !out.has(name)) out.set(name, relative(root, f));
      }
    }
  }
  return out;
}

const srcUses = imported(['src']);
const devUses = imported(['test', 'bench', 'scripts', 'bin']);
// The native build (binding.gyp) requires node-addon-api for its headers; TypeScript is the
// compiler (a test here imports it too); @types/* type the packages they are named after.
for (const m of readFileSync(join(root, 'binding.gyp'), 'utf8').matchAll(/require\('([^']+)'\)/g)) devUses.set(m[1]!, 'binding.gyp');
devUses.set('typescript', 'Makefile (tsc)');
devUses.set('@types/node', 'Node.js built-ins');
for (const name of [...srcUses.keys(), ...devUses.keys()]) if (pkg.devDependencies[`@types/${name}`] !== undefined) devUses.set(`@types/${name}`, name);

test('every package src/ imports is a dependency, and every dependency is imported by src/', () => {
  for (const [name, where] of srcUses) {
    if (name === pkg.name) continue;
    assert.ok(name in pkg.dependencies, `${name} (imported by ${where}) is not in dependencies`);
  }
  for (const name of Object.keys(pkg.dependencies)) assert.ok(srcUses.has(name), `dependency ${name} is not imported by src/`);
});

test('what only tests, benchmarks and scripts use is a devDependency, and every devDependency is used', () => {
  for (const [name, where] of devUses) {
    if (name === pkg.name) continue;
    assert.ok(name in pkg.dependencies || name in pkg.devDependencies, `${name} (used by ${where}) is not declared`);
  }
  for (const name of Object.keys(pkg.devDependencies)) {
    assert.ok(devUses.has(name), `devDependency ${name} is not used by test/, bench/, scripts/ or the build`);
    assert.ok(!(name in pkg.dependencies), `${name} is both a dependency and a devDependency`);
  }
});

test('versions are exact, and the ones installed', () => {
  for (const [name, version] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
    assert.match(version, /^\d+\.\d+\.\d+$/, `${name}: ${version} is not an exact version`);
    const installed = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
    assert.equal(installed.version, version, `${name}: installed ${installed.version}`);
  }
});
