// Counts tap's saved per-file results (.tap/test-results/**/*.tap) into the `N passed, N failed,
// N skipped` totals that `npm test` and `npm run test:arm64` print.
'use strict';
const { readdirSync, readFileSync, statSync } = require('node:fs');
const { join } = require('node:path');

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

/** Totals over every saved result under `dir`, added to `totals` (a fresh object when omitted). */
function countResults(dir, totals = { passed: 0, failed: 0, skipped: 0 }) {
  for (const file of walk(dir, [])) countPoints(readFileSync(file, 'utf8'), totals);
  return totals;
}

/** The closing line: `N passed, N failed` and `, N skipped` when any were. */
function summaryLine(totals) {
  const skipped = totals.skipped ? `, ${totals.skipped} skipped` : '';
  return `${totals.passed} passed, ${totals.failed} failed${skipped}\n`;
}

module.exports = { countResults, summaryLine };
