// The shipping CLI (dist/, compiled by `npm test` before tap runs): `salvor doctor`.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { featureCatalogue } from '../../lib/doctor/catalogue';
import type { DoctorReport } from '../../lib/doctor/report';

const root = join(__dirname, '..', '..');
const cli = join(root, 'dist', 'tools', 'salvor.js');

function salvor(args: string[], options: SpawnSyncOptions = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000, ...options });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

t.before(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npx tsc -p .\` (npm test does it first)`);
});

t.test('doctor --json prints exactly one JSON object and exits 0', async (t) => {
  const r = salvor(['doctor', '--json']);
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.equal(lines.length, 1, 'one line on stdout');
  const report = JSON.parse(lines[0]) as DoctorReport;
  t.equal(report.version, 1);
  t.type(report.machine.kernel, 'string');
  t.equal(report.machine.addon.loaded, true, report.machine.addon.reason);
  t.same(
    report.features.map((f) => f.id),
    featureCatalogue.map((f) => f.id),
  );
  for (const f of report.features) {
    t.type(f.present, 'boolean', `${f.id}.present`);
    t.ok(f.reason.length > 0, `${f.id} has a reason`);
    t.ok(['cpu', 'kernel', 'driver'].includes(f.group), `${f.id}.group`);
  }
  t.same(
    report.backends.map((b) => b.capability),
    ['nvram-crc', 'nvram-devices', 'dirty-tracking', 'leak-sampling', 'daemon-notify'],
  );
  for (const b of report.backends) t.ok(b.backend.length > 0 && b.reason.length > 0, b.capability);
});

t.test('doctor prints the human table on stdout and exits 0', async (t) => {
  const r = salvor(['doctor']);
  t.equal(r.status, 0, r.stderr);
  for (const f of featureCatalogue) t.match(r.stdout, new RegExp(`^  ${f.id.replace('.', '\\.')} +(yes|no) `, 'm'), f.id);
  t.match(r.stdout, /^  dirty-tracking +\S+ /m);
});

t.test('doctor --help explains each line and exits 0', async (t) => {
  const r = salvor(['doctor', '--help']);
  t.equal(r.status, 0);
  for (const f of featureCatalogue) t.match(r.stdout, f.id);
  const report = JSON.parse(salvor(['doctor', '--json']).stdout) as DoctorReport;
  for (const b of report.backends) t.match(r.stdout, new RegExp(`^  ${b.capability} `, 'm'), `the report's ${b.capability} line is explained`);
  t.match(r.stdout, /docs\/doctor\.md/);
});

t.test('an unknown flag or an extra argument exits 16', async (t) => {
  const flag = salvor(['doctor', '--no-such-flag']);
  t.equal(flag.status, 16);
  t.match(flag.stderr, /unknown option/);
  t.equal(flag.stdout, '');
  t.equal(salvor(['doctor', 'extra']).status, 16);
});

t.test('as an unprivileged user, a refused device is a "no" with EACCES, and the exit is still 0', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root, to drop to an unprivileged user');
  if (!existsSync('/usr/bin/setpriv')) return t.skip('setpriv is not installed');
  if (!existsSync('/dev/loop-control')) return t.skip('no /dev/loop-control to be refused');
  const r = spawnSync('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, 'doctor', '--json'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0 && /EACCES|permission denied/i.test(r.stderr)) return t.skip(`the unprivileged user cannot read the tree: ${r.stderr.trim()}`);
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as DoctorReport;
  const loop = report.features.find((f) => f.id === 'loop-control');
  t.equal(loop?.present, false);
  t.equal(loop?.code, 'EACCES');
  t.match(loop?.reason ?? '', /\/dev\/loop-control failed with EACCES/);
});

t.test('without a loadable addon, doctor still reports, says why, and exits 0', async (t) => {
  // A copy of the package with no build/ and no prebuilds/: the addon cannot load there.
  const bare = mkdtempSync(join(tmpdir(), 'salvor-doctor-'));
  t.teardown(() => rmSync(bare, { recursive: true, force: true }));
  for (const f of ['binding.gyp', 'package.json']) cpSync(join(root, f), join(bare, f));
  cpSync(join(root, 'dist'), join(bare, 'dist'), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(bare, 'node_modules'));
  const r = spawnSync(process.execPath, [join(bare, 'dist', 'tools', 'salvor.js'), 'doctor', '--json'], { cwd: bare, encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as DoctorReport;
  t.equal(report.machine.addon.loaded, false);
  t.match(report.machine.addon.reason, /cannot load the salvor native addon/);
  const uffd = report.features.find((f) => f.id === 'uffd-wp-async');
  t.equal(uffd?.present, false);
  t.equal(uffd?.code, 'SALVOR_ADDON_LOAD');
  t.same(
    report.features.map((f) => f.id),
    featureCatalogue.map((f) => f.id),
  );
});
