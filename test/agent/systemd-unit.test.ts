// platform/systemd/salvor.service as systemd sees it: `systemd-analyze verify` passes and
// `systemd-analyze security --offline=true` rates its exposure at 6.0 or better, on a copy whose
// commands point at this checkout (verify checks that the binaries exist).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { configSchema } from '../../lib/agent/config-schema';

const root = join(__dirname, '..', '..');
const cli = join(root, 'dist', 'tools', 'salvor.js');
const unitPath = join(root, 'platform', 'systemd', 'salvor.service');
const exampleConfig = join(root, 'platform', 'systemd', 'config.example.json');
const installed = '/usr/local/bin/salvor';

function analyze(args: string[]) {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), error: r.error };
}

/** Key to every value it is given, per section (systemd units may repeat a key). */
function parseUnit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    keys.set(key, [...(keys.get(key) ?? []), line.slice(eq + 1)]);
  }
  return keys;
}

function seconds(value: string): number {
  const m = /^(\d+)(ms|s|min)?$/.exec(value);
  if (!m) throw new Error(`not a time span this test reads: ${value}`);
  return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'min' ? 60 : 1);
}

/** The figure from "→ Overall exposure level for salvor.service: 2.5 OK". */
function exposure(stdout: string): number {
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(stdout);
  if (!m) throw new Error(`no exposure figure in systemd-analyze security's output:\n${stdout}`);
  return Number(m[1]);
}

/** `systemd-analyze syscall-filter` (every group): group name to its entries, calls and nested groups. */
function syscallGroups(stdout: string): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    if (/^@[\w-]+$/.test(line)) groups.set(line, (current = []));
    else if (current && /^\s+[@\w-]+$/.test(line)) current.push(line.trim());
  }
  return groups;
}

function expand(group: string, groups: Map<string, string[]>, into = new Set<string>()): Set<string> {
  for (const entry of groups.get(group) ?? []) {
    if (entry.startsWith('@')) expand(entry, groups, into);
    else into.add(entry);
  }
  return into;
}

const unitText = readFileSync(unitPath, 'utf8');
const unit = parseUnit(unitText);
const one = (key: string): string | undefined => unit.get(key)?.at(-1);

t.test('the unit declares what the daemon relies on', async (t) => {
  t.equal(one('Service.Type'), 'notify', 'READY=1 from the addon marks the start');
  t.equal(one('Service.NotifyAccess'), 'main');
  t.equal(one('Service.ExecStart'), `${installed} daemon --config /etc/salvor/config.json`);
  t.equal(one('Unit.AssertPathExists'), '/etc/salvor/config.json', 'an absent config fails the start instead of running the simulated default');
  t.same(unit.get('Service.ExecReload'), [`${installed} daemon --check --config /etc/salvor/config.json`, '/bin/kill -HUP $MAINPID'], 'reload validates, then SIGHUP');
  t.equal(one('Service.Restart'), 'on-failure');
  t.equal(one('Service.RestartPreventExitStatus'), '16', 'a bad config (exit 16) is not restarted in a loop');
  t.equal(one('Service.StateDirectory'), 'salvor');
  t.ok(unit.get('Service.Environment')?.includes('SALVOR_STATE_DIR=/var/lib/salvor'), 'the state directory is the one StateDirectory= makes');

  const watchdog = seconds(one('Service.WatchdogSec') ?? 'missing');
  t.ok(watchdog >= 5, `WatchdogSec=${watchdog}s leaves room for a busy event loop`);
  const defaults = configSchema.parse({});
  const ownBound = (defaults.supervisor.stopTimeoutMs + 2000) / 1000;
  const stop = seconds(one('Service.TimeoutStopSec') ?? 'missing');
  t.ok(stop > ownBound, `TimeoutStopSec=${stop}s exceeds the daemon's own stop bound (${ownBound}s), so a clean stop is never killed`);

  t.notOk(unit.has('Service.MemoryDenyWriteExecute'), "no MemoryDenyWriteExecute: Node's JIT needs W+X pages");
  t.same(one('Service.CapabilityBoundingSet')?.split(/\s+/), ['CAP_SYS_PTRACE'], "one capability: other processes' /proc/PID/smaps_rollup");
  t.notOk(one('Service.ProtectProc') === 'invisible' || one('Service.ProcSubset') === 'pid', "other processes' /proc stays visible to the leak watch");
  t.notOk(one('Service.PrivateDevices') === 'yes', 'device nodes stay reachable');
  const families = one('Service.RestrictAddressFamilies')?.split(/\s+/) ?? [];
  for (const f of ['AF_UNIX', 'AF_INET', 'AF_INET6']) t.ok(families.includes(f), `${f} is allowed`);
  const devices = (unit.get('Service.DeviceAllow') ?? []).map((d) => d.split(/\s+/)[0]);
  for (const d of ['char-mtd', 'block-mtdblock', 'block-mmc', 'block-sd', 'char-ttyS', 'char-ttyUSB', '/dev/userfaultfd']) t.ok(devices.includes(d), `DeviceAllow=${d}`);
  t.equal(one('Service.DevicePolicy'), 'closed');
});

t.test('the example config is valid', async (t) => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npx tsc -p .\` (npm test does it first)`);
  const r = spawnSync(process.execPath, [cli, 'daemon', '--check', '--config', exampleConfig], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /valid/);
});

t.test('systemd-analyze verify and security', async (t) => {
  const version = analyze(['--version']);
  if (version.error || version.status !== 0) return t.skip(`systemd-analyze is not installed (${version.error?.message ?? version.stderr.trim()}); Debian's systemd package has it`);
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npx tsc -p .\` (npm test does it first)`);
  const dir = mkdtempSync(join(tmpdir(), 'salvor-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const local = join(dir, 'salvor.service');
  t.ok(unitText.includes(installed));
  writeFileSync(local, unitText.split(installed).join(`${process.execPath} ${cli}`));

  const verify = analyze(['verify', local]);
  t.equal(verify.status, 0, `systemd-analyze verify passes${verify.stderr ? `: ${verify.stderr}` : ''}`);
  t.notMatch(verify.stderr, /salvor\.service/, 'no warning about the unit');

  const security = analyze(['security', '--offline=true', local]);
  t.equal(security.status, 0, security.stderr);
  const score = exposure(security.stdout);
  t.ok(score <= 6.0, `exposure ${score} is 6.0 or better`);
  t.comment(`exposure level: ${score}`);

  // The same measure on the unit without its sandbox: proves the figure is parsed and moves.
  const bare = unitText.replace(/\n# Root for the device nodes[\s\S]*?\n\[Install\]/, '\n[Install]');
  t.not(bare, unitText, 'the sandbox block was found');
  const bareUnit = join(dir, 'bare', 'salvor.service');
  mkdirSync(join(dir, 'bare'));
  writeFileSync(bareUnit, bare.split(installed).join(`${process.execPath} ${cli}`));
  const bareScore = exposure(analyze(['security', '--offline=true', bareUnit]).stdout);
  t.ok(bareScore > 6.0, `without the sandbox the exposure is ${bareScore}`);

  // The syscall filter keeps what the daemon calls (userfaultfd for dirty tracking, flock for the state lock).
  const groups = syscallGroups(analyze(['syscall-filter']).stdout);
  const allowed = expand('@system-service', groups);
  const denied = expand('@privileged', groups);
  t.ok(allowed.size > 100, `@system-service has ${allowed.size} calls`);
  for (const call of ['userfaultfd', 'ioctl', 'flock', 'mmap', 'mprotect', 'pread64', 'pwrite64', 'socket', 'bind', 'epoll_wait', 'clone3']) {
    t.ok(allowed.has(call) && !denied.has(call), `${call} passes SystemCallFilter=@system-service ~@privileged`);
  }
  // What CAP_SYS_PTRACE would allow beyond reading /proc stays filtered out.
  const filters = unit.get('Service.SystemCallFilter') ?? [];
  const denyList = new Set(filters.filter((f) => f.startsWith('~')).flatMap((f) => f.slice(1).split(/\s+/)));
  for (const call of ['ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd']) {
    t.ok(!allowed.has(call) || denyList.has(call), `${call} is filtered out`);
  }
});
