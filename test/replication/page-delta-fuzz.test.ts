/**
 * Mutation fuzzing of the page delta decoder: valid deltas and streams, mutated (bit flips, byte
 * changes, truncation, insertion, deletion, huge ULEB values, splices of two deltas), must either
 * decode to a page of the right size or throw SALVOR_BAD_DELTA; a stream that throws must leave the
 * region exactly as it was. About 5 s in `npm test`; SALVOR_FUZZ_SECONDS=N runs longer, and
 * SALVOR_FUZZ_SEED=S replays a run.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { crc32c } from '../../bindings/crc';
import { SalvorError } from '../../bindings/salvor-error';
import { applyPageDelta, applyPageDeltas, applyPageDeltasAsync, encodePageDelta, encodePageDeltas } from '../../lib/replication/page-delta';

const seconds = Number(process.env.SALVOR_FUZZ_SECONDS ?? 5);
const seed = Number(process.env.SALVOR_FUZZ_SEED ?? (Date.now() >>> 0));

function prng(s: number): (n: number) => number {
  let x = s >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const rand = prng(seed);

/** A new page derived from `old` in one of the shapes the encoder treats differently. */
function derive(old: Buffer): Buffer {
  const n = old.length;
  const now = Buffer.from(old);
  switch (rand(6)) {
    case 0:
      return now;
    case 1:
      return Buffer.alloc(n);
    case 2:
      return randomBytes(n);
    case 3:
      for (let i = rand(3); i < n; i += 2 + rand(3)) now[i] ^= 0xff;
      return now;
    default:
      for (let r = 0; r < 1 + rand(40); r++) {
        const len = 1 + rand(rand(4) === 0 ? 300 : 16);
        const at = rand(n - len);
        for (let k = at; k < at + len; k++) now[k] = rand(256);
      }
      return now;
  }
}

/** A ULEB128 that decodes to something huge (or overflows, or is too long). */
function hugeUleb(): Buffer {
  const len = 3 + rand(10);
  const out = Buffer.alloc(len, 0xff);
  out[len - 1] = rand(4);
  return out;
}

function mutate(input: Buffer, other: Buffer): Buffer {
  let b = Buffer.from(input);
  for (let m = 0; m < 1 + rand(4); m++) {
    const at = b.length ? rand(b.length) : 0;
    switch (rand(9)) {
      case 0:
        if (b.length) b[at] ^= 1 << rand(8);
        break;
      case 1:
        if (b.length) b[at] = [0, 0x7f, 0x80, 0xff, 0x10, 0x13, rand(256)][rand(7)];
        break;
      case 2:
        b = b.subarray(0, rand(b.length + 1));
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), randomBytes(1 + rand(4)), b.subarray(at)]);
        break;
      case 4:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rand(8)))]);
        break;
      case 5:
        b = Buffer.concat([b.subarray(0, at), hugeUleb(), b.subarray(at + (rand(2) ? 1 : 0))]);
        break;
      case 6:
        b = Buffer.concat([b.subarray(0, at), other.subarray(rand(other.length + 1))]);
        break;
      case 7:
        b = Buffer.concat([b, randomBytes(1 + rand(16))]);
        break;
      default:
        if (b.length > 1) b = Buffer.concat([b.subarray(0, at), b.subarray(rand(b.length))]);
        break;
    }
  }
  return b;
}

function isBadDelta(err: unknown): boolean {
  return err instanceof SalvorError && err.code === 'SALVOR_BAD_DELTA';
}

t.comment(`fuzzing for ${seconds} s, seed ${seed} (SALVOR_FUZZ_SEED=${seed} replays it)`);

t.test('mutated single-page deltas decode to a whole page or throw SALVOR_BAD_DELTA', async (t) => {
  const deadline = Date.now() + (seconds * 1000) / 2;
  const stats = { runs: 0, decoded: 0, refused: 0 };
  const failures: string[] = [];
  // The run count is a floor, not a speed check: a slow machine (an emulator) runs past the deadline.
  while ((Date.now() < deadline || stats.runs <= 1000) && failures.length < 5) {
    const n = [512, 4096, 65536][rand(8) === 0 ? 2 : rand(2)];
    const old = randomBytes(n);
    const a = encodePageDelta(old, derive(old));
    const b = encodePageDelta(old, derive(old));
    for (let k = 0; k < 50; k++) {
      const delta = mutate(a, b);
      stats.runs++;
      try {
        const page = applyPageDelta(old, delta);
        if (page.length !== n) failures.push(`decoded ${page.length} bytes for a ${n}-byte page from ${delta.toString('hex').slice(0, 80)}`);
        stats.decoded++;
      } catch (err) {
        if (!isBadDelta(err)) failures.push(`threw ${String(err)} for ${delta.toString('hex').slice(0, 80)}`);
        stats.refused++;
      }
    }
  }
  t.same(failures, [], `seed ${seed}`);
  t.ok(stats.runs > 1000, `${stats.runs} mutated deltas: ${stats.decoded} decoded, ${stats.refused} refused`);
});

/** Fixes the CRC-32C trailer after a mutation most of the time, so the record parser is exercised. */
function maybeReseal(s: Buffer): Buffer {
  if (s.length < 4 || rand(10) < 2) return s;
  const out = Buffer.from(s);
  out.writeUInt32LE(crc32c(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

t.test('mutated streams apply whole or throw SALVOR_BAD_DELTA with the region untouched', async (t) => {
  const deadline = Date.now() + (seconds * 1000) / 2;
  const stats = { runs: 0, applied: 0, refused: 0, async: 0 };
  const failures: string[] = [];
  while ((Date.now() < deadline || stats.runs <= 500) && failures.length < 5) {
    const n = [512, 4096][rand(2)];
    const pages = 1 + rand(12);
    const old = randomBytes(n * pages);
    const derived = (): Buffer => Buffer.concat(Array.from({ length: pages }, (_, p) => derive(old.subarray(p * n, (p + 1) * n))));
    const a = encodePageDeltas(old, derived(), n);
    const b = encodePageDeltas(old, derived(), n);
    for (let k = 0; k < 30; k++) {
      const s = maybeReseal(mutate(a, b));
      const region = Buffer.from(old);
      stats.runs++;
      const useAsync = rand(20) === 0;
      try {
        const count = useAsync ? await applyPageDeltasAsync(region, s, n) : applyPageDeltas(region, s, n);
        if (!(count >= 0 && count <= pages)) failures.push(`applied ${count} records to ${pages} pages`);
        stats.applied++;
      } catch (err) {
        if (!isBadDelta(err)) failures.push(`threw ${String(err)} for ${s.toString('hex').slice(0, 80)}`);
        else if (!region.equals(old)) failures.push(`refused but changed the region: ${s.toString('hex').slice(0, 80)}`);
        stats.refused++;
      }
      if (useAsync) stats.async++;
    }
  }
  t.same(failures, [], `seed ${seed}`);
  t.ok(stats.runs > 500, `${stats.runs} mutated streams (${stats.async} async): ${stats.applied} applied, ${stats.refused} refused`);
});
