import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { assertFails, checkNoHandleLeft, listValues, repoRoot, workspace, type Workspace } from './helpers';

// Several salvor processes writing one image at once: the device lock serialises them, so every key
// each writer set is there at the end and the store checks clean. A writer that finds the lock held
// waits for it, up to --lock-timeout milliseconds. Each writer is one process running its sets one
// after another through the CLI's in-process entry (each set opens, locks, writes and closes the
// device, as a separate `salvor nvram set` would); checks run in this process.

checkNoHandleLeft(t);

async function formatted(ws: Workspace): Promise<string> {
  const img = ws.path('nv.img');
  const r = await ws.run(['nvram', 'format', '--device', img, '--size', '64K', '--sector-size', '512']);
  if (r.code !== 0) throw new Error(`format failed: ${r.stderr}`);
  return img;
}

/** The body of a writer process: `count` sets of its own keys, printing the keys and values it wrote. */
const writerScript = `
  const { runCli } = require(${JSON.stringify(join(repoRoot, 'dist', 'lib', 'cli', 'run-cli.js'))});
  const { machinePlatform } = require(${JSON.stringify(join(repoRoot, 'dist', 'tools', 'platform.js'))});
  const [img, name, count] = JSON.parse(process.argv[1]);
  (async () => {
    const mine = {};
    for (let i = 0; i < count; i++) {
      const key = name + '-' + String(i).padStart(2, '0');
      const value = name + ' wrote ' + i + ' ' + '.'.repeat(i % 7);
      let err = '';
      const code = await runCli(['nvram', 'set', '--device', img, key, value], { stdout: { write() {} }, stderr: { write: (s) => (err += s) } }, machinePlatform(process.env));
      if (code !== 0) { process.stderr.write(name + ': set ' + key + ' exited ' + code + ': ' + err); process.exit(1); }
      mine[key] = value;
    }
    process.stdout.write(JSON.stringify(mine));
  })();
`;

/** One writer process: `count` sets of its own keys. */
function writer(t: Test, ws: Workspace, img: string, name: string, count: number): Promise<Record<string, string>> {
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', writerScript, JSON.stringify([img, name, count])], {
    env: ws.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, string>) : reject(new Error(`writer ${name} exited ${code}: ${err}`)))),
  );
}

for (const writers of [2, 3]) {
  t.test(`${writers} processes setting their own keys at the same time`, async (t) => {
    const ws = workspace(t);
    const img = await formatted(ws);
    const names = Array.from({ length: writers }, (_, i) => `w${i}`);
    const written = await Promise.all(names.map((n) => writer(t, ws, img, n, writers === 2 ? 20 : 12)));
    const expected = Object.assign({}, ...written) as Record<string, string>;
    t.same(await listValues(ws, img), expected, 'every key of every writer is there');
    const check = await ws.run(['nvram', 'check', '--device', img, '--json']);
    t.equal(check.code, 0, 'the store checks clean');
    t.match(check.json(), { clean: true, journal: 'clean', badSectors: [], store: { entries: Object.keys(expected).length, damagedEntries: 0 } });
  });
}

t.test('readers and writers interleaved see whole stores', async (t) => {
  const ws = workspace(t);
  const img = await formatted(ws);
  const reads: Promise<void>[] = [];
  const readLoop = async () => {
    for (let i = 0; i < 15; i++) {
      const r = await ws.run(['nvram', 'check', '--device', img, '--json']);
      t.equal(r.code, 0, 'a check during the writes sees a clean store');
    }
  };
  reads.push(readLoop());
  const written = await writer(t, ws, img, 'solo', 15);
  await Promise.all(reads);
  t.same(await listValues(ws, img), written);
});

/** A child process holding the store open for writing (so holding the device lock) until told to let go. */
async function holdLock(t: Test, ws: Workspace, img: string): Promise<{ release(): Promise<void> }> {
  const script = `
    const { openNvram } = require(${JSON.stringify(join(repoRoot, 'dist', 'index.js'))});
    openNvram({ device: ${JSON.stringify(img)}, writable: true }).then((store) => {
      process.stdout.write('held\\n');
      process.stdin.once('data', () => store.close().then(() => process.stdout.write('released\\n')).then(() => process.exit(0)));
    }, (err) => { process.stderr.write(String(err) + '\\n'); process.exit(3); });
  `;
  const child: ChildProcess = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', script], { env: ws.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('held')) resolve();
    });
    exited.then((code) => reject(new Error(`the lock holder exited ${code}: ${err}`)));
  });
  return {
    async release() {
      child.stdin!.write('go\n');
      const code = await exited;
      if (code !== 0) throw new Error(`the lock holder exited ${code}: ${err}`);
    },
  };
}

t.test('a writer gives up after --lock-timeout while another process holds the lock', async (t) => {
  const ws = workspace(t);
  const img = await formatted(ws);
  const holder = await holdLock(t, ws, img);
  const started = Date.now();
  const r = await ws.run(['nvram', 'set', '--device', img, 'k', 'v', '--lock-timeout', '1']);
  assertFails(t, r, 8, [/locked/, /nv\.img/]);
  t.ok(Date.now() - started < 5000, 'without waiting for the default timeout');
  assertFails(t, await ws.run(['nvram', 'get', '--device', img, 'k', '--lock-timeout', '1']), 8, [/locked/]);
  assertFails(t, await ws.run(['nvram', 'recover', '--device', img, '--lock-timeout', '1']), 8, [/locked/]);
  const timed = Date.now();
  assertFails(t, await ws.run(['nvram', 'check', '--device', img, '--lock-timeout', '400']), 8, [/locked/]);
  t.ok(Date.now() - timed >= 400, 'it waited the --lock-timeout it was given');
  await holder.release();
  t.equal((await ws.run(['nvram', 'set', '--device', img, 'k', 'v', '--lock-timeout', '1'])).code, 0, 'once released, the lock is free');
  t.same(await listValues(ws, img), { k: 'v' }, 'the failed attempts changed nothing');
});

t.test('a second writer waits for the lock and then succeeds', async (t) => {
  const ws = workspace(t);
  const img = await formatted(ws);
  const holder = await holdLock(t, ws, img);
  const started = Date.now();
  const waiting = ws.run(['nvram', 'set', '--device', img, 'late', 'arrival']);
  await new Promise((resolve) => setTimeout(resolve, 700));
  await holder.release();
  const r = await waiting;
  t.equal(r.code, 0, `the waiting set succeeds (${r.stderr.trim()})`);
  t.ok(Date.now() - started >= 700, 'after the holder let go');
  t.same(await listValues(ws, img), { late: 'arrival' });
});
