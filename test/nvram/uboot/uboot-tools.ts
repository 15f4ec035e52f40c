/**
 * The real U-Boot tools (u-boot-tools' mkenvimage, libubootenv-tool's fw_printenv/fw_setenv) for the
 * tests in this folder. They are required: a missing tool fails the suite, it never skips it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { openKernelNvramDevice } from '../../../platform/linux/nvram-device';
import { openUbootStore, type UbootStoreOptions } from '../../../lib/nvram/uboot/uboot-store';
import type { NvramStore } from '../../../lib/nvram/store';

export const ubootToolNames = ['mkenvimage', 'fw_printenv', 'fw_setenv'];

/** Asserts every tool is on PATH (fw_printenv/fw_setenv also need /var/lock writable: they lock /var/lock/fw_printenv.lock). */
export function assertUbootTools(t: Test): void {
  for (const tool of ubootToolNames) {
    const found = spawnSync('which', [tool], { encoding: 'utf8' });
    t.equal(found.status, 0, `${tool} must be installed (apt-get install u-boot-tools libubootenv-tool)`);
    if (found.status !== 0) throw new Error(`${tool} is not installed: apt-get install u-boot-tools libubootenv-tool`);
  }
}

/** Runs mkenvimage on `name=value` lines; returns the image path. */
export function mkenvimage(dir: string, name: string, sizeHex: string, lines: string[], redundant = false): string {
  const input = join(dir, `${name}.txt`);
  const output = join(dir, name);
  writeFileSync(input, lines.map((l) => `${l}\n`).join(''));
  execFileSync('mkenvimage', ['-s', sizeHex, ...(redundant ? ['-r'] : []), '-o', output, input], { stdio: 'pipe' });
  return output;
}

export function writeConfig(dir: string, lines: string[], name = 'fw_env.config'): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
  return path;
}

/** fw_printenv's whole output as a name -> value map (values must not contain newlines). */
export function fwPrintenv(config: string): Map<string, string> {
  const out = execFileSync('fw_printenv', ['-c', config], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const vars = new Map<string, string>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    vars.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return vars;
}

/** fw_printenv's exit status and output, for environments it may refuse. */
export function fwPrintenvRaw(config: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('fw_printenv', ['-c', config], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** fw_setenv NAME VALUE, or NAME alone to delete it. */
export function fwSetenv(config: string, name: string, value?: string): void {
  execFileSync('fw_setenv', ['-c', config, name, ...(value === undefined ? [] : [value])], { stdio: 'pipe' });
}

export function openStore(config: string, options: Partial<UbootStoreOptions> = {}): Promise<NvramStore> {
  return openUbootStore(config, openKernelNvramDevice, { writable: true, ...options });
}

/** The store's variables as name -> string, for comparing with fw_printenv. */
export async function storeVariables(store: NvramStore): Promise<Map<string, string>> {
  const vars = new Map<string, string>();
  for (const entry of await store.list()) {
    if (entry.value.type !== 'string') throw new Error(`${entry.key} is not a string`);
    vars.set(entry.key, entry.value.value);
  }
  return vars;
}

/** Flips every bit of `length` bytes at `offset` of a file: a sure CRC mismatch. */
export function flipBytes(path: string, offset: number, length = 4): void {
  const bytes = readFileSync(path);
  for (let i = offset; i < offset + length; i++) bytes[i] ^= 0xff;
  writeFileSync(path, bytes);
}

/** Sets the flags byte of a redundant copy at `offset` (the CRC does not cover it). */
export function setFlags(path: string, offset: number, flags: number): void {
  const bytes = readFileSync(path);
  bytes[offset + 4] = flags;
  writeFileSync(path, bytes);
}

export function flagsAt(path: string, offset: number): number {
  return readFileSync(path)[offset + 4];
}
