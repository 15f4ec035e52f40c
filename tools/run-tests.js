#!/usr/bin/env node
// `npm test`: compiles the TypeScript (CLI tests run the shipping binary in dist/) and writes the ES module
// entry, runs tap, then
// prints the plain `N passed, N failed, N skipped` line from tap's saved per-file results.
'use strict';
const { spawnSync } = require('node:child_process');
const { readdirSync, readFileSync, rmSync, statSync } = require('node:fs');
const { join } = require('node:path');
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

/** Counts leaf test points (not subtest summaries) in one file's raw TAP output. */
function countPoints(text, totals) {
  const lines = text.split('\n');
  let prev = '';
  for (const line of lines) {
    const m = /^(\s*)(not )?ok \d+/.exec(line);
    if (m) {
      const closesSubtest = /^\s*1\.\.\d+/.test(prev) && prev.search(/\S/) > m[1].length;
      if (!closesSubtest) {
        if (/# (SKIP|TODO)\b/i.test(line)) totals.skipped++;
        else if (m[2]) totals.failed++;
        else totals.passed++;
      }
    }
    if (m || /^\s*1\.\.\d+/.test(line)) prev = line;
  }
}

function walk(dir, out) {
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.tap')) out.push(p);
  }
  return out;
}

const totals = { passed: 0, failed: 0, skipped: 0 };
for (const file of walk(results, [])) countPoints(readFileSync(file, 'utf8'), totals);
if (tap.status !== 0 && totals.failed === 0) totals.failed = 1; // tap failed outside any test point
const skipped = totals.skipped ? `, ${totals.skipped} skipped` : '';
process.stdout.write(`${totals.passed} passed, ${totals.failed} failed${skipped}\n`);
process.exit(tap.status === 0 && totals.failed === 0 ? 0 : 1);
