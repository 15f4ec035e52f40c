#!/usr/bin/env node
// `npm start`: the agent's main job on its embedded default until the daemon lands: report what the
// machine offers, then keep a simulated NVRAM under the state directory healthy (format it on first
// run, count the boot, check and repair it). Everything goes through the shipping CLI.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

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
