import t from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c, crc32cBackend } from '../../index';
import { AT_HWCAP, HWCAP_CRC32, auxvEntry } from '../arm64/auxv';

const root = join(__dirname, '..', '..');

/** CRC-32C one bit at a time: shares nothing with the native code it checks. */
function referenceCrc32c(buf: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  for (let i = 0; i < buf.length; i++) {
    c ^= buf[i];
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1));
  }
  return ~c >>> 0;
}

/** Lengths next to every switch in the native paths: 3-way blocks, 256-byte folding, 4 KiB sectors, 12 KiB blocks. */
const tierLengths = [143, 144, 145, 255, 256, 257, 511, 512, 513, 4088, 4092, 4096, 4100, 8192, 12287, 12288, 12289, 12312, 24575, 24576, 24577, 40000];

interface Case {
  off: number;
  len: number;
  want: number;
}

/** One random pool per length, read at offsets 0..15 (subarray, so the native side sees misaligned pointers). */
function buildCases(): { pool: Buffer; cases: Case[] } {
  const lengths = [...Array.from({ length: 1101 }, (_, i) => i), ...tierLengths];
  const pools: Buffer[] = [];
  const cases: Case[] = [];
  let base = 0;
  for (const len of lengths) {
    const pool = randomBytes(len + 16);
    for (let off = 0; off < 16; off++)
      cases.push({ off: base + off, len, want: referenceCrc32c(pool.subarray(off, off + len)) });
    pools.push(pool);
    base += pool.length;
  }
  return { pool: Buffer.concat(pools), cases };
}

const { pool, cases } = buildCases();

function mismatches(got: (c: Case, i: number) => number): string[] {
  const bad: string[] = [];
  for (const [i, c] of cases.entries()) {
    const v = got(c, i);
    if (v !== c.want) bad.push(`len ${c.len} at offset ${c.off}: got ${v.toString(16)}, want ${c.want.toString(16)}`);
  }
  return bad.slice(0, 10);
}

t.test('matches a bitwise reference at every length 0..1100 and every offset 0..15', async (t) => {
  t.same(mismatches((c) => crc32c(pool.subarray(c.off, c.off + c.len))), []);
});

t.test('seeded calls match the reference', async (t) => {
  const bad: string[] = [];
  for (const len of [0, 1, 7, 100, 1000, ...tierLengths]) {
    const buf = randomBytes(len + 5).subarray(5);
    const seed = randomInt(0, 0xffffffff);
    if (crc32c(buf, seed) !== referenceCrc32c(buf, seed)) bad.push(`len ${len} seed ${seed}`);
  }
  t.same(bad, []);
});

t.test('10 MiB random buffer, whole and chained across random split points', async (t) => {
  const big = randomBytes(10 * 1024 * 1024);
  const want = referenceCrc32c(big);
  t.equal(crc32c(big), want, 'whole buffer');
  t.equal(crc32c(big.subarray(3)), referenceCrc32c(big.subarray(3)), 'misaligned by 3');
  for (let round = 0; round < 5; round++) {
    const cuts = Array.from({ length: 1 + randomInt(0, 20) }, () => randomInt(0, big.length + 1)).sort((a, b) => a - b);
    let crc = 0;
    let at = 0;
    for (const cut of [...cuts, big.length]) {
      crc = crc32c(big.subarray(at, cut), crc);
      at = cut;
    }
    t.equal(crc, want, `chained over ${cuts.length + 1} pieces`);
  }
});

/** x86 flags from /proc/cpuinfo: the kernel's reading of cpuid, which an x86-64 host reports for itself. */
function x86Flags(): Set<string> | undefined {
  if (!existsSync('/proc/cpuinfo')) return undefined;
  const line = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .find((l) => /^flags\s*:/.test(l));
  return line ? new Set(line.split(':')[1].trim().split(/\s+/)) : undefined;
}

const overridden = process.env.SALVOR_CRC32C_BACKEND !== undefined;

t.test('a hardware path is in use where the CPU has one', async (t) => {
  if (overridden) return t.skip('SALVOR_CRC32C_BACKEND is set for this run');
  const backend = crc32cBackend();
  if (process.arch === 'x64') {
    const flags = x86Flags();
    if (!flags) return t.skip('no flags line in /proc/cpuinfo on this x86-64 host');
    if (flags.has('sse4_2') && flags.has('pclmulqdq')) {
      t.ok(['sse42-3way-pclmul', 'avx512-vpclmulqdq'].includes(backend), `x86-64 with sse4_2 and pclmulqdq uses ${backend}`);
      if (flags.has('avx512f') && flags.has('avx512vl') && flags.has('vpclmulqdq')) t.equal(backend, 'avx512-vpclmulqdq');
    } else t.equal(backend, 'table', 'no sse4_2 or pclmulqdq in /proc/cpuinfo flags');
  } else if (process.arch === 'arm64') {
    const hwcap = auxvEntry(AT_HWCAP);
    if (hwcap === undefined) return t.skip('no AT_HWCAP in /proc/self/auxv');
    if (hwcap & HWCAP_CRC32) t.equal(backend, 'armv8-crc', `AT_HWCAP 0x${hwcap.toString(16)} has HWCAP_CRC32`);
    else t.equal(backend, 'table', `AT_HWCAP 0x${hwcap.toString(16)} lacks HWCAP_CRC32`);
  } else {
    t.equal(backend, 'table', `no hardware CRC-32C path is built for ${process.arch}`);
  }
});

/** Runs the cases through the addon in a child process whose SALVOR_CRC32C_BACKEND selects one path. */
function runWithBackend(name: string): { backend: string; crcs: number[] } {
  const script = `
    const addon = require(${JSON.stringify(join(root, 'node_modules', 'node-gyp-build'))})(${JSON.stringify(root)});
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => {
      const input = Buffer.concat(chunks);
      const cases = JSON.parse(input.subarray(0, input.indexOf(10)).toString());
      const pool = input.subarray(input.indexOf(10) + 1);
      const crcs = cases.map(([off, len]) => addon.crc32c(pool.subarray(off, off + len)));
      process.stdout.write(JSON.stringify({ backend: addon.crc32cBackend, crcs }));
    });`;
  const input = Buffer.concat([Buffer.from(JSON.stringify(cases.map((c) => [c.off, c.len])) + '\n'), pool]);
  const child = spawnSync(process.execPath, ['-e', script], {
    input,
    env: { ...process.env, SALVOR_CRC32C_BACKEND: name },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(`child for ${name} exited ${child.status}: ${child.stderr.toString()}`);
  return JSON.parse(child.stdout.toString()) as { backend: string; crcs: number[] };
}

t.test('every implementation this CPU runs agrees with the reference', async (t) => {
  const candidates = ['avx512-vpclmulqdq', 'sse42-3way-pclmul', 'armv8-crc', 'table'];
  let ran = 0;
  for (const name of candidates) {
    const { backend, crcs } = runWithBackend(name);
    if (backend !== name) {
      t.comment(`${name}: not runnable here (dispatched to ${backend})`);
      continue;
    }
    ran++;
    t.same(mismatches((_, i) => crcs[i]), [], `${name} matches`);
  }
  t.ok(ran >= 1, 'the table path at least ran');
});

t.test('an unknown SALVOR_CRC32C_BACKEND falls back to the default choice', async (t) => {
  const fallback = runWithBackend('no-such-backend').backend;
  if (overridden) t.type(fallback, 'string');
  else t.equal(fallback, crc32cBackend());
});
