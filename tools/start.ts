#!/usr/bin/env node
// `npm start`: the agent's main job on its embedded default until the daemon lands: report what the
// machine offers, keep a simulated NVRAM under the state directory healthy (format it on first run,
// count the boot, check and repair it), then replicate a region to a local standby peer on loopback
// until it is in sync. Everything goes through the shipping CLI.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const cli = join(__dirname, 'salvor.js');
const stateDir = resolve(process.env.SALVOR_STATE_DIR || 'var');
const image = join(stateDir, 'nvram.img');
const defaults = join(__dirname, '..', '..', 'platform', 'sim', 'default-nvram.json');

function salvor(args: string[], okCodes = [0]): { code: number; stdout: string } {
  process.stderr.write(`$ salvor ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env: { ...process.env, SALVOR_STATE_DIR: stateDir } });
  process.stdout.write(r.stdout);
  const code = r.status ?? 8;
  if (!okCodes.includes(code)) {
    process.stderr.write(`salvor ${args[0]} ${args[1] ?? ''} exited ${code}\n`);
    process.exit(code);
  }
  return { code, stdout: r.stdout };
}

mkdirSync(stateDir, { recursive: true });
salvor(['doctor']);
if (!existsSync(image)) salvor(['nvram', 'format', '--device', image, '--size', '64K', '--defaults', defaults]);
const check = salvor(['nvram', 'check', '--device', image], [0, 4]);
if (check.code === 4) salvor(['nvram', 'recover', '--device', image], [0, 1]);
const boots = JSON.parse(salvor(['nvram', 'get', '--device', image, 'boot_count', '--json']).stdout) as { value: number };
salvor(['nvram', 'set', '--device', image, 'boot_count', String(boots.value + 1), '--type', 'int']);
salvor(['nvram', 'list', '--device', image]);
process.stderr.write(`simulated NVRAM ${image} is clean; boot ${boots.value + 1} recorded\n`);

/** Runs `salvor replicate ROLE ...` in the background, echoing its events, until `until` sees the one it waits for. */
function replicate(args: string[], stateDir: string, until: (e: Record<string, unknown>) => boolean): { stop: () => void; reached: Promise<Record<string, unknown>> } {
  process.stderr.write(`$ salvor replicate ${args.join(' ')}\n`);
  const child = spawn(process.execPath, [cli, 'replicate', ...args, '--json'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SALVOR_STATE_DIR: stateDir } });
  const reached = new Promise<Record<string, unknown>>((resolveEvent, reject) => {
    child.on('exit', (code) => reject(new Error(`salvor replicate ${args[0]} exited ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as Record<string, unknown>;
      if (e.event !== 'epoch') process.stdout.write(`  [${args[0]}] ${line}\n`);
      if (until(e)) resolveEvent(e);
    });
  });
  return { stop: () => child.kill('SIGTERM'), reached };
}

async function replicateToLocalStandby(): Promise<void> {
  const region = join(stateDir, 'region.bin');
  const replica = join(stateDir, 'replica.bin');
  const psk = join(stateDir, 'replication.psk');
  if (!existsSync(psk)) writeFileSync(psk, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  if (!existsSync(region)) writeFileSync(region, randomBytes(4 * 1024 * 1024));
  const url = `tcp://127.0.0.1:${7700 + (process.pid % 200)}`;
  const primary = replicate(['primary', '--region', region, '--listen', url, '--psk-file', psk], join(stateDir, 'primary'), (e) => e.event === 'serving');
  try {
    await primary.reached;
    const standby = replicate(['standby', '--connect', url, '--replica', replica, '--psk-file', psk], join(stateDir, 'standby'), (e) => e.event === 'epoch' && e.committed === true);
    try {
      await standby.reached;
      const equal = readFileSync(region).equals(readFileSync(replica));
      process.stderr.write(`local standby in sync over ${url}: replica ${equal ? 'equals' : 'DIFFERS FROM'} the region\n`);
      if (!equal) process.exitCode = 4;
    } finally {
      standby.stop();
    }
  } finally {
    primary.stop();
  }
}

replicateToLocalStandby().catch((err: Error) => {
  process.stderr.write(`replication to the local standby failed: ${err.message}\n`);
  process.exitCode = 8;
});
