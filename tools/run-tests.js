#!/usr/bin/env node
// `npm test`: compiles the TypeScript (CLI tests run the shipping binary in dist/) and writes the ES module
// entry, runs tap, then
// prints the plain `N passed, N failed, N skipped` line from tap's saved per-file results.
'use strict';
const { spawnSync } = require('node:child_process');
const { rmSync } = require('node:fs');
const { join } = require('node:path');
const { countResults, summaryLine } = require('./tap-totals');
const { availableParallelism } = require('node:os');

const root = join(__dirname, '..');
const results = join(root, '.tap', 'test-results');

const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { stdio: 'inherit' });
// the ES module face too (dist/index.mjs), as `npm ci` builds it: tests import the package both ways
const esm = tsc.status === 0 ? spawnSync(process.execPath, [join(root, 'tools', 'write-esm-entry.js')], { stdio: 'inherit' }) : tsc;
if (tsc.status !== 0 || esm.status !== 0) {
  process.stdout.write('0 passed, 1 failed\n');
  process.exit(1);
}
rmSync(results, { recursive: true, force: true });
// One test file per core (at least two), from the machine rather than a fixed number: more than that runs
// the slowest files (the NVRAM CLI and crash suites) side by side into tap's per-file timeout on a loaded
// machine. `npm test -- --jobs=N` overrides.
const args = process.argv.slice(2);
if (!args.some((a) => /^(--jobs|-j)/.test(a))) args.unshift(`--jobs=${Math.max(2, availableParallelism())}`);
const tap = spawnSync(process.execPath, [join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs'), ...args], {
  cwd: root,
  stdio: 'inherit',
});

const totals = countResults(results);
if (tap.status !== 0 && totals.failed === 0) totals.failed = 1; // tap failed outside any test point
process.stdout.write(summaryLine(totals));
process.exit(tap.status === 0 && totals.failed === 0 ? 0 : 1);
