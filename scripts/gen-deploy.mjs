#!/usr/bin/env node
// Writes the files of deploy/ that code makes (from src/deploy/, after `make`): the Grafana
// dashboard, the Prometheus rules and their promtool tests. test/deploy/generated.test.ts
// fails when they differ from what the code makes now.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { deployFiles } = await import(join(root, 'dist', 'src', 'deploy', 'files.js'));
for (const [path, text] of Object.entries(deployFiles())) {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
  console.log(`wrote ${path}`);
}
