// The README as a new user follows it: its test command is what CI runs, the install script it starts works as
// root, through sudo, or says why it cannot (run for real against stand-in dpkg-query/apt-get/sudo/id on a bare
// PATH), and its code snippet runs as printed.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

const root = join(__dirname, '..', '..');
const script = join(root, 'tools', 'setup-test-deps.sh');

/** The command lines of the README's first sh block, without their trailing comments. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /```sh\n([\s\S]*?)```/.exec(readme);
  if (!block) throw new Error('README has no sh block');
  return block[1]!
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter(Boolean);
}

t.test("README's test line: the install script, apt-get update, no bare sudo; .ci/run runs it verbatim", async (t) => {
  const commands = readmeCommands();
  t.equal(commands.length, 2, 'two commands: run, test');
  const testLine = commands.find((c) => /\bnpm test\b/.test(c));
  t.ok(testLine, 'a test line');
  t.match(testLine!, /^\.\/tools\/setup-test-deps\.sh && npm ci && npm test$/);
  t.notMatch(testLine!, /\bsudo\b/, 'no sudo (a root shell on a fresh machine has none)');
  const ciLines = readFileSync(join(root, '.ci', 'run'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  t.ok(ciLines.includes(testLine!), '.ci/run runs the README test line exactly');
  const afterSetup = ciLines.slice(ciLines.indexOf(testLine!) + 1);
  t.notOk(
    afterSetup.some((l) => /apt-get|npm (ci|install)/.test(l)),
    'nothing installs after it',
  );
  t.notOk(
    ciLines.slice(0, ciLines.indexOf(testLine!)).some((l) => /apt-get|npm /.test(l)),
    'nothing is installed before it either: CI proves what the README does',
  );
});

t.test('the install script names every package the build and the tests use', async (t) => {
  const text = readFileSync(script, 'utf8');
  const packages = /^PACKAGES="([^"]+)"/m.exec(text)![1]!.split(' ');
  for (const p of ['python3', 'make', 'g++', 'util-linux', 'mount', 'u-boot-tools', 'libubootenv-tool', 'socat', 'openssl', 'systemd', 'procps', 'chromium'])
    t.ok(packages.includes(p), `${p} is installed`);
});

interface Run {
  status: number | null;
  stderr: string;
  calls: string[];
}

/** Runs the script on a PATH holding only stand-ins: `installed` packages report installed, uid and sudo as given. */
function runSetup(opts: { installed: 'all' | 'none'; uid: number; sudo: boolean }): Run {
  const dir = mkdtempSync(join(tmpdir(), 'salvor-setup-'));
  try {
    const log = join(dir, 'calls.log');
    const stub = (name: string, body: string) => {
      writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(dir, name), 0o755);
    };
    stub('dpkg-query', opts.installed === 'all' ? `printf 'install ok installed'` : `exit 1`);
    stub('apt-get', `echo "apt-get $*" >> ${log}`);
    stub('id', `echo ${opts.uid}`);
    if (opts.sudo) stub('sudo', `echo "sudo $1" >> ${log}; exec "$@"`);
    symlinkSync('/usr/bin/env', join(dir, 'env'));
    const r = spawnSync('/bin/sh', [script], { encoding: 'utf8', env: { PATH: dir }, timeout: 30_000 });
    let calls: string[] = [];
    try {
      calls = readFileSync(log, 'utf8').trim().split('\n');
    } catch {
      /* nothing was called */
    }
    return { status: r.status, stderr: r.stderr, calls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test('setup-test-deps.sh: nothing to do when every package is there', async (t) => {
  const r = runSetup({ installed: 'all', uid: 1000, sudo: false });
  t.equal(r.status, 0, r.stderr);
  t.same(r.calls, [], 'apt-get not run');
});

t.test('setup-test-deps.sh as root: apt-get update, then install --no-install-recommends, no sudo', async (t) => {
  const r = runSetup({ installed: 'none', uid: 0, sudo: false });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.calls.length, 2, r.calls.join('\n'));
  t.match(r.calls[0]!, /^apt-get update/);
  t.match(r.calls[1]!, /^apt-get install -y -qq --no-install-recommends python3 make g\+\+ .*chromium$/);
});

t.test('setup-test-deps.sh not root: through sudo when there is one', async (t) => {
  const r = runSetup({ installed: 'none', uid: 1000, sudo: true });
  t.equal(r.status, 0, r.stderr);
  t.same(
    r.calls.filter((c) => c.startsWith('sudo')),
    ['sudo env', 'sudo env'],
    'both apt-get calls go through sudo',
  );
  t.ok(r.calls.some((c) => /^apt-get install .*--no-install-recommends/.test(c)));
});

t.test('setup-test-deps.sh not root and no sudo: one clear message, exit 1, nothing run', async (t) => {
  const r = runSetup({ installed: 'none', uid: 1000, sudo: false });
  t.equal(r.status, 1);
  t.same(r.calls, []);
  t.match(r.stderr, /missing packages: python3 .*needs root, and there is no sudo here/);
});

t.test("the README's code snippet runs as printed, from an empty directory", async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const snippet = /```js\n([\s\S]*?)```/.exec(readme)![1]!;
  const esm = join(root, 'dist', 'index.mjs');
  if (!existsSync(esm)) throw new Error(`${esm} is missing: npm test writes it (tools/write-esm-entry.js)`);
  const dir = mkdtempSync(join(tmpdir(), 'salvor-readme-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'salvor')); // as `npm install salvor` would place it
  writeFileSync(join(dir, 'snippet.mjs'), snippet);
  const { SALVOR_STATE_DIR: _state, NODE_OPTIONS: _opts, ...env } = process.env;
  const r = spawnSync(process.execPath, ['snippet.mjs'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /clean: true/, 'check() reports the fresh NVRAM clean');
  t.ok(existsSync(join(dir, 'nvram.img')), 'the image is where the snippet said');
});
