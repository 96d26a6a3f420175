#!/usr/bin/env node
// The tcpotel command: the compiled CLI lives in dist/ (built by `make`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(`tcpotel: not built yet (${fileURLToPath(main)} is missing): run 'make' in ${fileURLToPath(new URL('..', import.meta.url))}\n`);
  process.exit(1);
}
// A closed pipe on stdout (`tcpotel components | head`) ends the output, quietly.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const { runCli } = await import(main.href);
await runCli(process.argv);
