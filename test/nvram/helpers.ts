/**
 * Shared by the NVRAM CLI tests: a temporary workspace (image files and $SALVOR_STATE_DIR, removed
 * in teardown), the CLI run in this process (lib/cli/run-cli.ts, what the binary runs) or, where a
 * process boundary is what a test proves (another user, a kill at a power cut, several processes),
 * the shipping binary (dist/tools/salvor.js) with a clean environment; small byte-level tools for
 * corrupting images; and a check that a test file leaves no handle open.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, writeSync, closeSync, readSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export const repoRoot = join(__dirname, '..', '..');
export const cliPath = join(repoRoot, 'dist', 'tools', 'salvor.js');

// The in-process CLI is the built one, as the binary loads it (the composition root reads the
// package's own files relative to dist/), so errors, exit codes and output are the binary's.
const { runCli } = require(join(repoRoot, 'dist', 'lib', 'cli', 'run-cli.js')) as typeof import('../../lib/cli/run-cli');
const { machinePlatform } = require(join(repoRoot, 'dist', 'tools', 'platform.js')) as typeof import('../../tools/platform');

export interface CliResult {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as the one JSON object --json prints. */
  json<T = Record<string, any>>(): T;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Run as this user (tests run as root): through setpriv, so permissions apply. Implies a subprocess. */
  asNobody?: boolean;
  timeoutMs?: number;
}

export interface Workspace {
  dir: string;
  stateDir: string;
  env: Record<string, string>;
  /** A path inside the workspace. */
  path(name: string): string;
  /** The CLI in this process (a subprocess when asNobody or a killing SALVOR_FAULT asks for one). */
  run(args: string[], opts?: RunOptions): Promise<CliResult>;
  /** The shipping binary in its own process. */
  spawn(args: string[], opts?: RunOptions): Promise<CliResult>;
}

/** The environment every CLI run gets: the caller's minus fault injection, plus the state dir. */
function cliEnv(stateDir: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('SALVOR_')) env[k] = v;
  return { ...env, SALVOR_STATE_DIR: stateDir, ...extra };
}

/**
 * The test runner puts its process tracking into every child through NODE_OPTIONS (at spawn time,
 * whatever env is passed); `env -u` takes it out again, so the binary runs as it ships: faster, and
 * able to run as another user.
 */
function command(args: string[], opts: RunOptions): [string, string[]] {
  const user = opts.asNobody ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] : [];
  return ['env', ['-u', 'NODE_OPTIONS', ...user, process.execPath, cliPath, ...args]];
}

function result(args: string[], code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string): CliResult {
  return {
    args,
    code,
    signal,
    stdout,
    stderr,
    json<T>() {
      try {
        return JSON.parse(stdout) as T;
      } catch {
        throw new Error(`salvor ${args.join(' ')}: stdout is not one JSON object: ${JSON.stringify(stdout)} (stderr ${JSON.stringify(stderr)})`);
      }
    },
  };
}

/** A temporary directory removed in teardown, and at exit should a failed setup skip the teardown. */
export function tempDir(t: Test, prefix = 'salvor-nvram-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  t.teardown(() => {
    process.removeListener('exit', remove);
    remove();
  });
  return dir;
}

/** A workspace in a temporary directory (world-traversable, so runs as nobody reach files in it). */
export function workspace(t: Test): Workspace {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const stateDir = join(dir, 'state');
  const env = cliEnv(stateDir);
  return {
    dir,
    stateDir,
    env,
    path: (name) => join(dir, name),
    run(args, opts = {}) {
      // A power cut kills the process unless SALVOR_FAULT_ACTION=throw: that needs a process of its own.
      if (opts.asNobody || (opts.env?.SALVOR_FAULT && opts.env.SALVOR_FAULT_ACTION !== 'throw')) return spawnCli(args, opts);
      return runInProcess(args, { ...env, ...opts.env });
    },
    spawn: (args, opts = {}) => spawnCli(args, opts),
  };
  function spawnCli(args: string[], opts: RunOptions): Promise<CliResult> {
    const [cmd, argv] = command(args, opts);
    return new Promise((resolvePromise, reject) => {
      const child = spawn(cmd, argv, { env: { ...env, ...opts.env }, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code, signal) => resolvePromise(result(args, code, signal, stdout, stderr)));
    });
  }
}

/** One CLI run in this process, with its own streams and environment (the binary runs the same runCli). */
export async function runInProcess(args: string[], env: Record<string, string>): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(
    args,
    { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } },
    machinePlatform(env),
  );
  return result(args, code, null, stdout, stderr);
}

/** Handles and requests by type (timers aside), to show a test file left nothing open. */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (r !== 'Timeout' && r !== 'Immediate') counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/**
 * Call at the top of a test file: records the handles open now, and adds a last subtest that fails
 * when more are open once every other subtest has finished and cleaned up.
 */
export function checkNoHandleLeft(t: Test): void {
  const before = activeResources();
  setImmediate(() =>
    t.test('no handle left open', async (t) => {
      let leaked: string[] = [];
      for (let i = 0; i < 50; i++) {
        const after = activeResources();
        leaked = [...after].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k, n]) => `${k} x${n - (before.get(k) ?? 0)}`);
        if (leaked.length === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      t.same(leaked, [], 'every file, process and socket the tests opened is closed');
    }),
  );
}

/** Asserts a failed command: the exit code, one error line on stderr (commander may add its usage hint), and nothing on stdout without --json. */
export function assertFails(t: Test, r: CliResult, code: number, mentions: (string | RegExp)[] = []): void {
  const lines = r.stderr.trim().split('\n').filter((l) => l !== '' && !l.startsWith('(run with --help'));
  t.equal(r.code, code, `salvor ${r.args.join(' ')} exits ${code} (stderr: ${r.stderr.trim()})`);
  t.equal(lines.length, 1, 'one error line on stderr');
  for (const m of mentions) t.match(lines[0] ?? '', m, `the error mentions ${m}`);
  if (r.args.includes('--json') && r.stdout !== '') t.type(r.json().error, 'object', '--json failures print {"error": ...}');
  else t.equal(r.stdout, '', 'nothing on stdout');
}

/** Inverts one byte of a file in place. */
export function flipByte(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] = b[0]! ^ 0xff;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

/** Writes bytes into a file at an offset, in place. */
export function patchFile(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Deterministic bytes (mulberry32), so a failing image can be rebuilt exactly. */
export function seededBytes(length: number, seed: number): Buffer {
  let a = seed >>> 0;
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    out[i] = (x ^ (x >>> 14)) & 0xff;
  }
  return out;
}

export function writeJson(path: string, value: unknown): string {
  writeFileSync(path, JSON.stringify(value));
  return path;
}

export function readBytes(path: string): Buffer {
  return readFileSync(path);
}

/** `list --json` as a plain key -> JSON value map. */
export async function listValues(ws: Workspace, device: string, extra: string[] = []): Promise<Record<string, unknown>> {
  const r = await ws.run(['nvram', 'list', '--device', device, '--json', ...extra]);
  if (r.code !== 0) throw new Error(`list failed (${r.code}): ${r.stderr}`);
  return Object.fromEntries(r.json<{ entries: { key: string; value: unknown }[] }>().entries.map((e) => [e.key, e.value]));
}
