#!/usr/bin/env node
// `npm run test:arm64`: the suites whose code differs on arm64 (the CRC paths, the page engine, the
// NVRAM sector logic, leak sampling, the transports) run under the official arm64 Node and the
// cross-built aarch64 addon, on qemu-user. Ends with the `N passed, N failed` line of `npm test`.
// Needs tools/setup-arm64-deps.sh (Debian: qemu-user-static, g++-aarch64-linux-gnu).
'use strict';
const { spawnSync } = require('node:child_process');
const { readdirSync, rmSync, statSync } = require('node:fs');
const { join, relative } = require('node:path');
const { NODE_VERSION, SYSROOT, fetchArm64Node, fetchArm64Anchors, buildArm64Addon, emulation } = require('./arm64-toolchain');
const { countResults, summaryLine } = require('./tap-totals');

const root = join(__dirname, '..');
const work = join(root, 'tmp', 'arm64');
// tap also writes .tap/test-results, which `npm test` clears and counts: this run counts its own copy.
const results = join(work, 'test-results');

// Chosen for what arm64 changes (instruction paths, char signedness, alignment, signal frames, page
// size) and to stay under 20 minutes at emulation's 9 to 14 times slowdown: files whose work is
// argument parsing or many CLI starts (test/nvram/cli.test.ts, the leak CLI tests) run only in npm test.
const SUITES = [
  'test/arm64',
  'test/crc',
  'test/nvram/corrupt-images.test.ts',
  'test/nvram/device-contract.test.ts',
  'test/nvram/power-cut.test.ts',
  'test/nvram/regressions.test.ts',
  'test/nvram/uboot/env-image.test.ts',
  'test/nvram/uboot/check-recover.test.ts',
  'test/replication/page-delta.test.ts',
  'test/replication/page-delta-errors.test.ts',
  'test/replication/page-delta-fuzz.test.ts',
  'test/replication/hash-scan.test.ts',
  'test/replication/tracker-contract.test.ts',
  'test/leak/detector.test.ts',
  'test/leak/stats.test.ts',
  'test/leak/watcher.test.ts',
  'test/leak/live-processes.test.ts',
  'test/transport/frame.test.ts',
  'test/transport/memory-link.test.ts',
  'test/transport/serial-mock.test.ts',
  'test/transport/serial-packets.test.ts',
  'test/transport/tcp.test.ts',
  // Not test/transport/serial.test.ts: over a real pty, a 16 MiB frame keeps the emulated event loop
  // busy past the link's 5 s liveness timeout (SALVOR_LINK_LOST); its framing runs in serial-mock.
];
// Run again with the guest's page size at 16 KiB (qemu-user's QEMU_PAGESIZE sets AT_PAGESZ, which
// sysconf(_SC_PAGESIZE) returns), as on arm64 kernels built with 16K pages.
const LARGE_PAGE_SIZE = 16384;
const LARGE_PAGE_SUITES = ['test/arm64/page-size.test.ts'];

const log = (line) => process.stdout.write(`${line}\n`);

/** The test files of each suite (a file, or a folder searched for *.test.ts as tap's include does). */
function testFiles(suites) {
  const out = [];
  const walk = (rel) => {
    const abs = join(root, rel);
    if (!statSync(abs).isDirectory()) return void out.push(rel);
    for (const name of readdirSync(abs).sort()) {
      const child = `${rel}/${name}`;
      if (statSync(join(root, child)).isDirectory()) walk(child);
      else if (name.endsWith('.test.ts')) out.push(child);
    }
  };
  suites.forEach(walk);
  return out;
}

/** Skip reasons from the saved results, so the log says what did not run here and why. */
function printSkips() {
  const out = spawnSync('grep', ['-rh', '--include=*.tap', '# SKIP', results], { encoding: 'utf8' });
  for (const line of new Set((out.stdout || '').split('\n').filter(Boolean))) log(`  skipped: ${line.trim()}`);
}

function runTap(label, files, env, how, totals) {
  log(`\n== ${label}: ${files.join(' ')}`);
  rmSync(results, { recursive: true, force: true });
  const tapRun = join(root, 'node_modules', 'tap', 'dist', 'esm', 'run.mjs');
  // A file's timeout grows with the emulator's slowdown; tap's default here is 300 s per file.
  const args = [...how.command.slice(1), tapRun, '--timeout=1500', `--output-dir=${results}`, ...files];
  const started = Date.now();
  const tap = spawnSync(how.command[0], args, { cwd: root, env, stdio: 'inherit' });
  const pass = countResults(results);
  if (tap.status !== 0 && pass.failed === 0) pass.failed = 1; // tap failed outside any test point
  printSkips();
  log(`== ${label}: ${summaryLine(pass).trim()} in ${Math.round((Date.now() - started) / 1000)} s`);
  for (const k of Object.keys(totals)) totals[k] += pass[k];
}

function main() {
  const started = Date.now();
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { stdio: 'inherit' });
  if (tsc.status !== 0) throw Object.assign(new Error('tsc failed'), { code: 'SALVOR_ARM64_SETUP' });
  const nodeDir = fetchArm64Node(work);
  const anchors = fetchArm64Anchors(root, work);
  const addonPath = buildArm64Addon(root, work, nodeDir, log);
  // PREBUILDS_ONLY: node-gyp-build would otherwise take the host's build/Release/salvor.node first.
  const base = {
    ...process.env,
    QEMU_LD_PREFIX: SYSROOT,
    PREBUILDS_ONLY: '1',
    // Bare imports that node_modules cannot satisfy (the arm64 reference packages) fall back to NODE_PATH.
    NODE_PATH: [anchors, process.env.NODE_PATH].filter(Boolean).join(':'),
    // ts-node's V8 code cache is keyed by V8 version and folder, not by CPU: x86-64 and arm64 Node 20
    // share the version, and each crashes on the other's cache, so the arm64 run keeps its own.
    V8_COMPILE_CACHE_CACHE_DIR: join(work, 'v8-compile-cache'),
  };
  delete base.QEMU_PAGESIZE;
  const how = emulation(work, nodeDir, base);
  const env = {
    ...base,
    PATH: `${how.bin}:${process.env.PATH}`,
    NODE_OPTIONS: [process.env.NODE_OPTIONS, how.nodeOptions].filter(Boolean).join(' '),
  };
  log(`arm64: Node v${NODE_VERSION} (${relative(root, nodeDir)}) through ${how.how}, QEMU_LD_PREFIX=${SYSROOT}, addon ${relative(root, addonPath)}`);

  // `npm run test:arm64 -- FILE...` runs only those files (and the 16 KiB pass only if it names one of its files).
  const chosen = process.argv.length > 2 ? testFiles(process.argv.slice(2)) : testFiles(SUITES);
  const largePage = testFiles(LARGE_PAGE_SUITES).filter((f) => process.argv.length <= 2 || chosen.includes(f));
  const totals = { passed: 0, failed: 0, skipped: 0 };
  runTap('arm64, 4 KiB pages', chosen, env, how, totals);
  if (largePage.length) runTap(`arm64, ${LARGE_PAGE_SIZE / 1024} KiB pages`, largePage, { ...env, QEMU_PAGESIZE: String(LARGE_PAGE_SIZE) }, how, totals);
  log(`arm64 run took ${Math.round((Date.now() - started) / 1000)} s`);
  return totals;
}

let totals;
try {
  totals = main();
} catch (err) {
  if (err.code !== 'SALVOR_ARM64_SETUP') throw err;
  log(`test:arm64: ${err.message}`);
  totals = { passed: 0, failed: 1, skipped: 0 };
}
process.stdout.write(summaryLine(totals));
process.exit(totals.failed === 0 ? 0 : 1);

