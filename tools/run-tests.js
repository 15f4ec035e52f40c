#!/usr/bin/env node
// `npm test`: compiles the TypeScript (CLI tests run the shipping binary in dist/), runs tap, then
// prints the plain `N passed, N failed, N skipped` line from tap's saved per-file results.
'use strict';
const { spawnSync } = require('node:child_process');
const { rmSync } = require('node:fs');
const { join } = require('node:path');
const { countResults, summaryLine } = require('./tap-totals');

const root = join(__dirname, '..');
const results = join(root, '.tap', 'test-results');

const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { stdio: 'inherit' });
if (tsc.status !== 0) {
  process.stdout.write('0 passed, 1 failed\n');
  process.exit(1);
}
rmSync(results, { recursive: true, force: true });
const tap = spawnSync(process.execPath, [join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});

const totals = countResults(results);
if (tap.status !== 0 && totals.failed === 0) totals.failed = 1; // tap failed outside any test point
process.stdout.write(summaryLine(totals));
process.exit(tap.status === 0 && totals.failed === 0 ? 0 : 1);
