import t, { type Test as Tap } from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '../../bindings/crc';
import {
  applyPageDelta,
  applyPageDeltas,
  applyPageDeltasAsync,
  encodePageDelta,
  encodePageDeltas,
  encodePageDeltasAsync,
  pageDeltaBackend,
} from '../../lib/replication/page-delta';
import * as api from '../../index';

const root = join(__dirname, '..', '..');
const PAGE_SIZES = [512, 1024, 4096, 65536];

/** Deterministic pseudo-random numbers, so a failing case can be replayed from its seed. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/** Sets bytes [from, to) of a copy of `page` to values that differ from the old ones. */
function changed(page: Buffer, ...ranges: [number, number][]): Buffer {
  const out = Buffer.from(page);
  for (const [from, to] of ranges) for (let i = from; i < to; i++) out[i] = page[i] ^ 0x5a;
  return out;
}

function ulebBytes(v: number): number {
  let n = 1;
  while (v >= 0x80) (v = Math.floor(v / 128)), n++;
  return n;
}

/**
 * The decoder written from docs/formats/page-delta.md alone, sharing nothing with the native one:
 * returns the new page, or a string saying why the delta is malformed.
 */
function referenceApply(old: Buffer, delta: Buffer): Buffer | string {
  if (delta.length === 0) return 'empty';
  const version = delta[0] >> 4;
  const kind = delta[0] & 15;
  if (version !== 1) return 'version';
  const n = old.length;
  if (kind === 0) return delta.length === 1 ? Buffer.from(old) : 'trailing';
  if (kind === 1) return delta.length === 1 ? Buffer.alloc(n) : 'trailing';
  if (kind === 2) return delta.length === 1 + n ? Buffer.from(delta.subarray(1)) : 'full size';
  if (kind !== 3) return 'kind';
  if (delta.length === 1) return 'no runs';
  const out = Buffer.from(old);
  let i = 1;
  let pos = 0;
  const uleb = (): number | string => {
    let v = 0n;
    for (let k = 0; k < 10; k++) {
      if (i >= delta.length) return 'truncated';
      const b = delta[i++];
      if (k === 9 && b > 1) return 'overflow';
      v |= BigInt(b & 0x7f) << BigInt(7 * k);
      if (!(b & 0x80)) return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
    }
    return 'too long';
  };
  while (i < delta.length) {
    const u = uleb();
    if (typeof u === 'string') return u;
    if (u > n - pos) return 'unchanged past end';
    pos += u;
    const c = uleb();
    if (typeof c === 'string') return c;
    if (c === 0) return 'empty run';
    if (c > n - pos) return 'changed past end';
    if (c > delta.length - i) return 'run truncated';
    delta.copy(out, pos, i, i + c);
    i += c;
    pos += c;
  }
  return out;
}

interface Pair {
  name: string;
  old: Buffer;
  now: Buffer;
}

/** The adversarial shapes, for one page size. */
function shapes(n: number): Pair[] {
  const old = randomBytes(n);
  const zero = Buffer.alloc(n);
  const every = (step: number, offset = 0): Buffer => {
    const out = Buffer.from(old);
    for (let i = offset; i < n; i += step) out[i] ^= 0xff;
    return out;
  };
  const pairs: Pair[] = [
    { name: 'identical', old, now: Buffer.from(old) },
    { name: 'new page all zero', old, now: Buffer.alloc(n) },
    { name: 'zero page unchanged', old: zero, now: Buffer.alloc(n) },
    { name: 'zero page gets one byte', old: zero, now: changed(zero, [n / 2, n / 2 + 1]) },
    { name: 'all bytes changed', old, now: changed(old, [0, n]) },
    { name: 'every other byte changed', old, now: every(2) },
    { name: 'every other byte from 1', old, now: every(2, 1) },
    { name: 'every third byte', old, now: every(3) },
    { name: 'every fourth byte', old, now: every(4) },
    { name: 'single byte at start', old, now: changed(old, [0, 1]) },
    { name: 'single byte at end', old, now: changed(old, [n - 1, n]) },
    { name: 'first and last byte', old, now: changed(old, [0, 1], [n - 1, n]) },
    { name: 'straddling 8-byte boundaries', old, now: changed(old, [6, 10], [15, 17], [23, 24], [24, 25]) },
    { name: 'straddling 32-byte boundaries', old, now: changed(old, [30, 34], [63, 65], [95, 97]) },
    { name: 'straddling 64-byte boundaries', old, now: changed(old, [60, 68], [127, 129], [191, 257]) },
    { name: 'run ending at a 64-byte boundary', old, now: changed(old, [40, 64], [128, 192]) },
    { name: 'last 64 bytes', old, now: changed(old, [n - 64, n]) },
    { name: 'last 65 bytes', old, now: changed(old, [n - 65, n]) },
    { name: 'gaps of 1, 2, 3 and 4 bytes', old, now: changed(old, [10, 12], [13, 15], [17, 19], [22, 24], [28, 30]) },
    { name: 'long run', old, now: changed(old, [7, n - 300]) },
    { name: 'run of 127, 128, 129 bytes', old, now: changed(old, [0, 127], [200, 328], [400, 529]) },
    { name: 'gap of 127 then 128', old, now: changed(old, [0, 1], [128, 129], [257, 258]) },
    { name: 'half the page', old, now: changed(old, [0, n / 2]) },
    { name: 'one byte short of full', old, now: changed(old, [0, n - 2], [n - 1, n]) },
  ];
  if (n > 16384) {
    pairs.push(
      { name: 'gap above 16383 (3-byte ULEB)', old, now: changed(old, [3, 4], [20000, 20001]) },
      { name: 'run above 16383 (3-byte ULEB)', old, now: changed(old, [100, 100 + 20000]) },
      { name: 'gap of exactly 16384', old, now: changed(old, [0, 1], [16385, 16386]) },
    );
  }
  return pairs;
}

function kindOf(delta: Buffer): number {
  return delta[0] & 15;
}

t.test('round trip on adversarial pages, every page size', async (t) => {
  for (const n of PAGE_SIZES) {
    for (const { name, old, now } of shapes(n)) {
      const oldBefore = Buffer.from(old);
      const delta = encodePageDelta(old, now);
      const label = `${n}-byte page, ${name}`;
      t.ok(delta.length <= 1 + n, `${label}: ${delta.length} bytes, at most a full page`);
      t.equal(delta[0] >> 4, 1, `${label}: version 1 in the kind byte`);
      const back = applyPageDelta(old, delta);
      t.ok(back.equals(now), `${label}: applies to the new page`);
      const ref = referenceApply(old, delta);
      t.ok(Buffer.isBuffer(ref) && ref.equals(now), `${label}: the reference decoder agrees (${typeof ref === 'string' ? ref : 'ok'})`);
      t.ok(old.equals(oldBefore), `${label}: the old page is untouched`);
    }
  }
});

t.test('the encoder picks the documented kind', async (t) => {
  const n = 4096;
  const old = randomBytes(n);
  t.same([...encodePageDelta(old, Buffer.from(old))], [0x10], 'identical: unchanged kind, 1 byte');
  t.same([...encodePageDelta(old, Buffer.alloc(n))], [0x11], 'all zero: zero kind, 1 byte');
  t.same([...encodePageDelta(Buffer.alloc(n), Buffer.alloc(n))], [0x10], 'zero to zero: unchanged');
  const full = encodePageDelta(old, changed(old, [0, n]));
  t.equal(kindOf(full), 2, 'all changed: full kind');
  t.equal(full.length, 1 + n);
  t.equal(kindOf(encodePageDelta(old, changed(old, [0, 2]).fill(0, 100, 101))), 3, 'small change: runs');
});

t.test('run encoding is exact: sizes follow from the changed spans', async (t) => {
  const n = 4096;
  const old = randomBytes(n);
  // One byte at offset p: kind + ULEB(p) + ULEB(1) + 1 byte; the implicit tail covers the rest.
  for (const p of [0, 1, 127, 128, 16383 % n, n - 1]) {
    const d = encodePageDelta(old, changed(old, [p, p + 1]));
    t.equal(d.length, 1 + ulebBytes(p) + 1 + 1, `one byte at ${p}`);
  }
  // Gaps of 1 and 2 bytes are merged into the changed run; a gap of 3 starts a new run.
  t.equal(encodePageDelta(old, changed(old, [10, 12], [13, 15])).length, 1 + 1 + 1 + 5, 'gap of 1 merged');
  t.equal(encodePageDelta(old, changed(old, [10, 12], [14, 16])).length, 1 + 1 + 1 + 6, 'gap of 2 merged');
  t.equal(encodePageDelta(old, changed(old, [10, 12], [15, 17])).length, 1 + (1 + 1 + 2) * 2, 'gap of 3 split');
  // Every other byte changed: gaps of 1 merge into one run of n-1 bytes, which with its lengths is
  // larger than the page, so the page goes whole. Every fourth byte: gaps of 3, one 3-byte pair each.
  const every = (step: number): Buffer => {
    const out = Buffer.from(old);
    for (let i = 0; i < n; i += step) out[i] ^= 1;
    return out;
  };
  const alt = encodePageDelta(old, every(2));
  t.equal(kindOf(alt), 2, 'every other byte: full page');
  t.equal(alt.length, 1 + n);
  const fourth = encodePageDelta(old, every(4));
  t.equal(kindOf(fourth), 3, 'every fourth byte: runs');
  t.equal(fourth.length, 1 + (n / 4) * 3, 'every fourth byte: 3 bytes per changed byte');
});

t.test('the examples in docs/formats/page-delta.md', async (t) => {
  const n = 4096;
  const old = randomBytes(n);
  const hex = (b: Buffer): string => b.toString('hex');
  const one = (at: number, value = 0xaa): Buffer => {
    const now = Buffer.from(old);
    now[at] = value === old[at] ? value ^ 1 : value;
    return now;
  };
  t.equal(hex(encodePageDelta(old, Buffer.from(old))), '10');
  t.equal(hex(encodePageDelta(old, Buffer.alloc(n))), '11');
  const at0 = one(0);
  t.equal(hex(encodePageDelta(old, at0)), `130001${at0.subarray(0, 1).toString('hex')}`);
  const at200 = one(200);
  t.equal(hex(encodePageDelta(old, at200)), `13c80101${at200.subarray(200, 201).toString('hex')}`);
  const folded = changed(old, [10, 12], [13, 15]);
  t.equal(hex(encodePageDelta(old, folded)), `130a05${folded.subarray(10, 15).toString('hex')}`);
  const split = changed(old, [10, 12], [15, 17]);
  t.equal(hex(encodePageDelta(old, split)), `130a02${split.subarray(10, 12).toString('hex')}0302${split.subarray(15, 17).toString('hex')}`);
  const last = one(4095);
  t.equal(hex(encodePageDelta(old, last)), `13ff1f01${last.subarray(4095).toString('hex')}`);
  const region = Buffer.concat(Array.from({ length: 8 }, () => randomBytes(n)));
  const next = Buffer.from(region);
  next[5 * n] = region[5 * n] === 0xaa ? 0xab : 0xaa;
  const stream = encodePageDeltas(region, next, n);
  const body = `534c504401` + `0c0000` + `01000000` + `0504130001${next[5 * n].toString(16)}`;
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32c(Buffer.from(body, 'hex')));
  t.equal(hex(stream), body + crc.toString('hex'), 'the stream example, byte for byte');
});

t.test('random pages with random change densities', async (t) => {
  const seed = Date.now() >>> 0;
  const rand = prng(seed);
  let bad = 0;
  for (let round = 0; round < 400 && bad < 5; round++) {
    const n = PAGE_SIZES[rand(PAGE_SIZES.length)];
    const old = randomBytes(n);
    const now = Buffer.from(old);
    const density = [0.001, 0.01, 0.05, 0.2, 0.5, 0.9][rand(6)];
    const runs = Math.max(1, Math.round((n * density) / 8));
    for (let r = 0; r < runs; r++) {
      const len = 1 + rand(16);
      const at = rand(n - len);
      for (let k = at; k < at + len; k++) now[k] = rand(256);
    }
    const delta = encodePageDelta(old, now);
    const ref = referenceApply(old, delta);
    if (!applyPageDelta(old, delta).equals(now) || !(Buffer.isBuffer(ref) && ref.equals(now)) || delta.length > 1 + n) {
      bad++;
      t.fail(`seed ${seed} round ${round}: ${n}-byte page, density ${density}`);
    }
  }
  t.equal(bad, 0, `400 random pages (seed ${seed})`);
});

/** A region whose pages are, in turn: unchanged, runs, all zero, full, runs, unchanged, ... */
function mixedRegion(n: number, pages: number, seed: number): { old: Buffer; now: Buffer; differing: number[] } {
  const rand = prng(seed);
  const old = randomBytes(n * pages);
  const now = Buffer.from(old);
  const differing: number[] = [];
  for (let p = 0; p < pages; p++) {
    const page = now.subarray(p * n, (p + 1) * n);
    switch (p % 5) {
      case 0:
        continue;
      case 1:
      case 4:
        for (let r = 0; r < 1 + rand(20); r++) page[rand(n)] ^= 1 + rand(255);
        break;
      case 2:
        page.fill(0);
        break;
      case 3:
        for (let i = 0; i < n; i++) page[i] ^= 0xa5;
        break;
    }
    differing.push(p);
  }
  return { old, now, differing };
}

/** The records of a stream, read per the format document. */
function readStream(t: Tap, s: Buffer): { pageSize: number; count: number; records: { index: number; kind: number; length: number }[] } {
  t.equal(s.subarray(0, 4).toString('latin1'), 'SLPD', 'magic');
  t.equal(s[4], 1, 'stream version');
  t.equal(s.readUInt16LE(6), 0, 'reserved');
  t.equal(s.readUInt32LE(s.length - 4), crc32c(s.subarray(0, s.length - 4)), 'CRC-32C trailer');
  const count = s.readUInt32LE(8);
  const records: { index: number; kind: number; length: number }[] = [];
  let i = 12;
  const uleb = (): number => {
    let v = 0;
    let shift = 1;
    for (;;) {
      const b = s[i++];
      v += (b & 0x7f) * shift;
      shift *= 128;
      if (!(b & 0x80)) return v;
    }
  };
  while (i < s.length - 4) {
    const index = uleb();
    const length = uleb();
    records.push({ index, kind: s[i] & 15, length });
    i += length;
  }
  return { pageSize: 2 ** s[5], count, records };
}

t.test('batch: every differing page gets one record, in order, and applies in place', async (t) => {
  for (const n of [512, 4096, 65536]) {
    const pages = n === 65536 ? 12 : 40;
    const { old, now, differing } = mixedRegion(n, pages, n);
    const stream = encodePageDeltas(old, now, n);
    const { pageSize, count, records } = readStream(t, stream);
    t.equal(pageSize, n);
    t.equal(count, differing.length, `${n}: record count`);
    t.same(
      records.map((r) => r.index),
      differing,
      `${n}: records for exactly the differing pages`,
    );
    t.same([...new Set(records.map((r) => r.kind))].sort(), [1, 2, 3], `${n}: zero, full and runs records present`);
    const region = Buffer.from(old);
    t.equal(applyPageDeltas(region, stream, n), differing.length);
    t.ok(region.equals(now), `${n}: region equals the new pages`);
    t.equal(applyPageDeltas(region, stream, n), differing.length, 'applying twice is harmless');
    t.ok(region.equals(now));
    t.ok((await encodePageDeltasAsync(old, now, n)).equals(stream), `${n}: async encode gives the same bytes`);
    const asyncRegion = Buffer.from(old);
    t.equal(await applyPageDeltasAsync(asyncRegion, stream, n), differing.length);
    t.ok(asyncRegion.equals(now), `${n}: async apply`);
  }
});

t.test('batch with page index lists', async (t) => {
  const n = 4096;
  const { old, now, differing } = mixedRegion(n, 30, 7);
  const listed = [0, 1, 2, 3, 9, 17, 29];
  for (const list of [listed, Uint32Array.from(listed)]) {
    const stream = encodePageDeltas(old, now, n, list);
    const { records } = readStream(t, stream);
    t.same(
      records.map((r) => r.index),
      listed.filter((p) => differing.includes(p)),
      'only listed pages that differ get records',
    );
    const region = Buffer.from(old);
    applyPageDeltas(region, stream, n);
    for (let p = 0; p < 30; p++) {
      const want = (listed.includes(p) ? now : old).subarray(p * n, (p + 1) * n);
      if (!region.subarray(p * n, (p + 1) * n).equals(want)) t.fail(`page ${p}`);
    }
    t.ok((await encodePageDeltasAsync(old, now, n, list)).equals(stream), 'async with a list gives the same bytes');
  }
  const all = encodePageDeltas(old, now, n, Array.from({ length: 30 }, (_, i) => i));
  t.ok(all.equals(encodePageDeltas(old, now, n)), 'listing every page is the same as no list');
  t.equal(encodePageDeltas(old, now, n, []).length, 16, 'an empty list gives an empty stream');
});

t.test('empty and unchanged regions give a 16-byte stream that applies as nothing', async (t) => {
  for (const [old, now] of [
    [Buffer.alloc(0), Buffer.alloc(0)],
    [randomBytes(8192), null],
  ] as [Buffer, Buffer | null][]) {
    const same = now ?? Buffer.from(old);
    const stream = encodePageDeltas(old, same, 4096);
    t.equal(stream.length, 16);
    t.equal(readStream(t, stream).count, 0);
    const region = Buffer.from(old);
    t.equal(applyPageDeltas(region, stream, 4096), 0);
    t.ok(region.equals(old));
  }
});

t.test('large region: 64 MiB of 4 KiB pages with scattered changes, sync and async', async (t) => {
  const n = 4096;
  const size = 64 * 1024 * 1024;
  const old = randomBytes(size);
  const now = Buffer.from(old);
  const rand = prng(99);
  for (let p = 0; p < size; p += n) for (let r = 0; r < 10; r++) now[p + rand(n)] ^= 1 + rand(255);
  const stream = await encodePageDeltasAsync(old, now, n);
  t.ok(stream.equals(encodePageDeltas(old, now, n)), 'sync and async agree');
  const region = Buffer.from(old);
  t.equal(await applyPageDeltasAsync(region, stream, n), size / n);
  t.ok(region.equals(now));
});

t.test('index.ts exports the four functions', async (t) => {
  t.equal(api.encodePageDelta, encodePageDelta);
  t.equal(api.applyPageDelta, applyPageDelta);
  t.equal(api.encodePageDeltas, encodePageDeltas);
  t.equal(api.applyPageDeltas, applyPageDeltas);
});

/** Encodes fixed inputs in a child whose SALVOR_PAGE_DELTA_SIMD selects one compare path. */
function encodeWithBackend(name: string, input: Buffer, pageSize: number): { backend: string; digest: string } {
  const script = `
    const addon = require(${JSON.stringify(join(root, 'node_modules', 'node-gyp-build'))})(${JSON.stringify(root)});
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => {
      const all = Buffer.concat(chunks);
      const half = all.length / 2, n = ${pageSize};
      const hash = require('node:crypto').createHash('sha256');
      hash.update(addon.encodePageDeltas(all.subarray(0, half), all.subarray(half), n));
      for (let p = 0; p < half; p += n) hash.update(addon.encodePageDelta(all.subarray(p, p + n), all.subarray(half + p, half + p + n)));
      process.stdout.write(JSON.stringify({ backend: addon.pageDeltaBackend, digest: hash.digest('hex') }));
    });`;
  const child = spawnSync(process.execPath, ['-e', script], { input, env: { ...process.env, SALVOR_PAGE_DELTA_SIMD: name }, maxBuffer: 1 << 20 });
  if (child.status !== 0) throw new Error(`child for ${name} exited ${child.status}: ${child.stderr.toString()}`);
  return JSON.parse(child.stdout.toString()) as { backend: string; digest: string };
}

t.test('every compare path this CPU runs gives byte-identical deltas', async (t) => {
  const n = 4096;
  const pairs = [...shapes(n), ...shapes(n).map((s) => ({ ...s, now: changed(s.now, [n / 3, n / 3 + 9]) }))];
  const input = Buffer.concat([...pairs.map((p) => p.old), ...pairs.map((p) => p.now)]);
  const want = encodeWithBackend(pageDeltaBackend(), input, n);
  t.equal(want.backend, pageDeltaBackend());
  let ran = 0;
  for (const name of ['avx512vbmi2', 'avx512bw', 'avx2', 'sse2', 'neon', 'portable']) {
    const got = encodeWithBackend(name, input, n);
    if (got.backend !== name) {
      t.comment(`${name}: not run by this CPU (fell back to ${got.backend})`);
      continue;
    }
    ran++;
    t.equal(got.digest, want.digest, `${name} matches ${want.backend}`);
  }
  t.ok(ran >= (process.arch === 'x64' || process.arch === 'arm64' ? 2 : 1), `${ran} compare paths checked`);
});

function cpuFlags(): Set<string> | undefined {
  if (!existsSync('/proc/cpuinfo')) return undefined;
  const line = readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .find((l) => /^(flags|Features)\s*:/.test(l));
  return line ? new Set(line.split(':')[1].trim().split(/\s+/)) : undefined;
}

t.test('the fastest compare path this CPU has is in use', async (t) => {
  if (process.env.SALVOR_PAGE_DELTA_SIMD) return t.skip('SALVOR_PAGE_DELTA_SIMD is set for this run');
  const flags = cpuFlags();
  if (!flags) return t.skip('no /proc/cpuinfo flags line on this host');
  let want = process.arch === 'arm64' ? 'neon' : 'portable'; // Advanced SIMD is part of every AArch64 CPU
  if (process.arch === 'x64') {
    const avx512 = flags.has('avx512f') && flags.has('avx512bw');
    const bmi = flags.has('popcnt') && flags.has('bmi1');
    if (avx512 && flags.has('avx512_vbmi2')) want = 'avx512vbmi2';
    else if (avx512 && bmi) want = 'avx512bw';
    else if (flags.has('avx2') && bmi) want = 'avx2';
    else want = 'sse2';
  }
  t.equal(pageDeltaBackend(), want);
});
