import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { addon, callNative } from '../../bindings/addon';
import { crc32c } from '../../bindings/crc';
import { SalvorError } from '../../bindings/salvor-error';
import {
  applyPageDelta,
  applyPageDeltas,
  applyPageDeltasAsync,
  encodePageDelta,
  encodePageDeltas,
  encodePageDeltasAsync,
} from '../../lib/replication/page-delta';

const N = 4096;
const old = randomBytes(N);

function bytes(...parts: (number | number[] | Buffer)[]): Buffer {
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(typeof p === 'number' ? [p] : p))));
}

/** Runs fn and returns the SalvorError it threw (failing the test when it returned). */
function badDelta(t: Test, fn: () => unknown, message: RegExp, label: string): void {
  try {
    fn();
    t.fail(`${label}: accepted`);
  } catch (err) {
    t.type(err, SalvorError, `${label}: a SalvorError`);
    t.equal((err as SalvorError).code, 'SALVOR_BAD_DELTA', `${label}: SALVOR_BAD_DELTA`);
    t.match((err as SalvorError).message, message, `${label}: says what and where`);
  }
}

t.test('malformed single-page deltas: SALVOR_BAD_DELTA naming the problem and the byte', async (t) => {
  const cases: [string, Buffer, RegExp][] = [
    ['empty', bytes(), /empty page encoding .* at byte 0$/],
    ['version 2', bytes(0x23), /unknown page delta version 2 .* at byte 0$/],
    ['version 0', bytes(0x03, 0, 1, 7), /unknown page delta version 0/],
    ['version 15', bytes(0xf0), /unknown page delta version 15/],
    ['kind 4', bytes(0x14), /unknown page delta kind 4 at byte 0$/],
    ['kind 15', bytes(0x1f, 1, 2), /unknown page delta kind 15/],
    ['unchanged with trailing garbage', bytes(0x10, 0), /1 trailing bytes after an unchanged-page kind byte at byte 1$/],
    ['zero with trailing garbage', bytes(0x11, 1, 2, 3), /3 trailing bytes after a zero-page kind byte at byte 1$/],
    ['full page truncated', bytes(0x12, randomBytes(N - 1)), /full page truncated .* 4095 bytes, page size 4096 at byte 4096$/],
    ['full page for a larger page size', bytes(0x12, randomBytes(2 * N)), /full page longer than the page size 4096: 8192 bytes at byte 4097$/],
    ['full page with one byte of garbage', bytes(0x12, randomBytes(N + 1)), /full page longer than the page size/],
    ['runs with no runs', bytes(0x13), /runs page with no runs at byte 1$/],
    ['truncated unchanged length', bytes(0x13, 0x80), /truncated ULEB128 unchanged length at byte 1$/],
    ['truncated changed length', bytes(0x13, 5), /truncated ULEB128 changed length at byte 2$/],
    ['truncated changed length, 2 bytes', bytes(0x13, 5, 0x81), /truncated ULEB128 changed length at byte 2$/],
    ['ULEB longer than 10 bytes', bytes(0x13, Array(10).fill(0x80), 0), /ULEB128 unchanged length longer than 10 bytes at byte 1$/],
    ['ULEB of 11 bytes of 0xff', bytes(0x13, Array(11).fill(0xff)), /longer than 10 bytes at byte 1$/],
    ['ULEB overflowing 64 bits', bytes(0x13, Array(9).fill(0xff), 0x02), /ULEB128 unchanged length overflows 64 bits at byte 1$/],
    ['ULEB of 2^64-1', bytes(0x13, Array(9).fill(0xff), 0x01), /unchanged run of 18446744073709551615 bytes .* passes the page end/],
    ['changed length of 2^63', bytes(0x13, 0, Array(9).fill(0x80), 0x01), /changed run of 9223372036854775808 bytes at page offset 0 passes the page end \(4096\) at byte 2$/],
    ['unchanged run past the page end', bytes(0x13, 0x81, 0x20), /unchanged run of 4097 bytes at page offset 0 passes the page end \(4096\) at byte 1$/],
    ['changed run past the page end', bytes(0x13, 0xfa, 0x1f, 7, randomBytes(7)), /changed run of 7 bytes at page offset 4090 passes the page end/],
    ['second pair past the end', bytes(0x13, 0, 1, 9, 0x80, 0x20, 1, 9), /unchanged run of 4096 bytes at page offset 1 passes the page end .* at byte 4$/],
    ['changed run of zero bytes', bytes(0x13, 4, 0), /changed run of 0 bytes at byte 2$/],
    ['changed bytes truncated', bytes(0x13, 0, 5, 1, 2), /changed run truncated: needs 5 bytes, 2 left at byte 5$/],
    ['trailing garbage after a run', bytes(0x13, 0, 1, 0xaa, 0x05), /truncated ULEB128 changed length at byte 5$/],
    ['trailing huge ULEB after a run', bytes(0x13, 0, 1, 0xaa, Array(10).fill(0xff)), /longer than 10 bytes at byte 4$/],
  ];
  for (const [label, delta, message] of cases) {
    const before = Buffer.from(old);
    badDelta(t, () => applyPageDelta(old, delta), message, label);
    t.ok(old.equals(before), `${label}: old page untouched`);
  }
});

t.test('a delta for another page size is refused', async (t) => {
  const small = randomBytes(512);
  const full512 = encodePageDelta(small, Buffer.alloc(512, 7));
  badDelta(t, () => applyPageDelta(old, full512), /full page truncated or for a smaller page/, '512-byte full page on 4096');
  const runsFar = encodePageDelta(Buffer.alloc(N), Buffer.alloc(N).fill(1, 4000, 4001));
  badDelta(t, () => applyPageDelta(small, runsFar), /passes the page end \(512\)/, '4096-byte runs on 512');
});

/** A valid 4-page stream touching pages 0, 1 and 3 (runs, zero, full). */
function sampleStream(): { region: Buffer; now: Buffer; stream: Buffer } {
  const region = randomBytes(4 * N);
  const now = Buffer.from(region);
  now[5] ^= 1;
  now.fill(0, N, 2 * N);
  randomBytes(N).copy(now, 3 * N);
  return { region, now, stream: encodePageDeltas(region, now, N) };
}

/** Recomputes the CRC-32C trailer after an edit, so the parser behind the checksum is reached. */
function reseal(s: Buffer): Buffer {
  const out = Buffer.from(s);
  out.writeUInt32LE(crc32c(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

/** A stream built by hand: header fields, records, and a correct checksum. */
function stream(records: Buffer, count: number, log2 = 12): Buffer {
  const header = Buffer.alloc(12);
  header.write('SLPD', 0, 'latin1');
  header[4] = 1;
  header[5] = log2;
  header.writeUInt32LE(count, 8);
  return reseal(Buffer.concat([header, records, Buffer.alloc(4)]));
}

t.test('malformed streams: SALVOR_BAD_DELTA, and the region is left exactly as it was', async (t) => {
  const { region, stream: good } = sampleStream();
  const edit = (at: number, value: number): Buffer => {
    const s = Buffer.from(good);
    s[at] = value;
    return s;
  };
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /shorter than its header and checksum .* at byte 0$/],
    ['15 bytes', good.subarray(0, 15), /stream of 15 bytes is shorter/],
    ['bad magic', edit(0, 0x41), /not a page delta stream \(bad magic\) at byte 0$/],
    ['version 2', edit(4, 2), /unknown page delta stream version 2 at byte 4$/],
    ['page size exponent 8', edit(5, 8), /page size exponent 8 outside 9\.\.16 at byte 5$/],
    ['page size exponent 17', edit(5, 17), /page size exponent 17 outside/],
    ['stream for another page size', edit(5, 13), /stream is for 8192-byte pages, the region has 4096-byte pages at byte 5$/],
    ['reserved bytes set', edit(6, 1), /reserved header bytes are not zero at byte 6$/],
    ['a flipped bit in a record', edit(20, good[20] ^ 4), /checksum mismatch .* at byte \d+$/],
    ['a flipped bit in the checksum', edit(good.length - 1, good[good.length - 1] ^ 0x80), /checksum mismatch/],
    ['truncated by one byte', good.subarray(0, good.length - 1), /checksum mismatch/],
    ['appended garbage', Buffer.concat([good, Buffer.from([1, 2, 3])]), /checksum mismatch/],
    ['appended garbage, resealed', reseal(Buffer.concat([good.subarray(0, good.length - 4), Buffer.from([1, 2, 3, 0, 0, 0, 0])])), /3 trailing bytes after the last of 3 records/],
    ['record count too high, resealed', reseal(Buffer.from(good).fill(9, 8, 9)), /stream ends after 3 of 9 records/],
    ['record count too low, resealed', reseal(Buffer.from(good).fill(1, 8, 9)), /trailing bytes after the last of 1 records/],
    ['page index past the region', stream(bytes(4, 1, 0x11), 1), /page index 4 past the end of the region \(4 pages\) at byte 12$/],
    ['page index of 2^64-1', stream(bytes(Array(9).fill(0xff), 1, 1, 0x11), 1), /page index 18446744073709551615 past the end/],
    ['page index ULEB too long', stream(bytes(Array(11).fill(0x80)), 1), /ULEB128 page index longer than 10 bytes at byte 12$/],
    ['page indexes repeated', stream(bytes(1, 1, 0x11, 1, 1, 0x11), 2), /page index 1 not above the previous record's at byte 15$/],
    ['page indexes descending', stream(bytes(2, 1, 0x11, 1, 1, 0x11), 2), /page index 1 not above/],
    ['record length past the end', stream(bytes(0, 9, 0x13, 0, 1), 1), /record length 9 passes the end of the records \(3 left\) at byte 13$/],
    ['record length zero', stream(bytes(0, 0), 1), /empty page encoding \(no kind byte\) at byte 14$/],
    ['record length truncated', stream(bytes(0, 0x80), 1), /truncated ULEB128 record length at byte 13$/],
    ['bad page inside a record: offset counts from the stream start', stream(bytes(0, 1, 0x11, 2, 3, 0x13, 0x82, 0x20), 2), /unchanged run of 4098 bytes .* at byte 18$/],
    ['bad kind inside a record', stream(bytes(0, 1, 0x15), 1), /unknown page delta kind 5 at byte 14$/],
  ];
  for (const [label, s, message] of cases) {
    const before = Buffer.from(region);
    badDelta(t, () => applyPageDeltas(region, s, N), message, label);
    t.ok(region.equals(before), `${label}: region untouched`);
  }
});

t.test('a stream that goes bad after valid records changes nothing (checked whole before writing)', async (t) => {
  const { region } = sampleStream();
  const before = Buffer.from(region);
  // Records for pages 0 and 1 are fine; page 3's runs pass the page end.
  const s = stream(bytes(0, 1, 0x11, 1, 4, 0x13, 0, 1, 0xee, 3, 4, 0x13, 0x80, 0x21, 9), 3);
  badDelta(t, () => applyPageDeltas(region, s, N), /unchanged run of 4224 bytes at page offset 0 passes .* at byte 24$/, 'third record bad');
  t.ok(region.equals(before), 'pages 0 and 1 were not written');
  await t.rejects(applyPageDeltasAsync(region, s, N), { code: 'SALVOR_BAD_DELTA', name: 'SalvorError' }, 'async rejects alike');
  t.ok(region.equals(before), 'async left it untouched too');
});

t.test('argument errors are TypeErrors naming the parameter', async (t) => {
  const page = randomBytes(N);
  const notBuffer = 'abc' as unknown as Buffer;
  t.throws(() => encodePageDelta(notBuffer, page), { name: 'TypeError', message: /encodePageDelta: oldPage must be a Buffer/ });
  t.throws(() => encodePageDelta(page, Buffer.alloc(100)), { name: 'TypeError', message: /newPage must be one page, a power of two from 512 to 65536 bytes \(got 100\)/ });
  t.throws(() => encodePageDelta(Buffer.alloc(256), Buffer.alloc(256)), { name: 'TypeError', message: /oldPage must be one page/ });
  t.throws(() => encodePageDelta(Buffer.alloc(131072), Buffer.alloc(131072)), { name: 'TypeError', message: /oldPage must be one page/ });
  t.throws(() => encodePageDelta(page, Buffer.alloc(8192)), { name: 'TypeError', message: /same size \(4096 and 8192 bytes\)/ });
  t.throws(() => applyPageDelta(Buffer.alloc(3000), Buffer.from([0x10])), { name: 'TypeError', message: /applyPageDelta: oldPage must be one page/ });
  t.throws(() => applyPageDelta(page, [0x10] as unknown as Buffer), { name: 'TypeError', message: /applyPageDelta: delta must be a Buffer/ });
  const region = Buffer.alloc(4 * N);
  t.throws(() => encodePageDeltas(region, region, 3000), { name: 'TypeError', message: /pageSize must be a power of two from 512 to 65536 \(got 3000\)/ });
  t.throws(() => encodePageDeltas(region, region, 131072), { name: 'TypeError', message: /pageSize must be/ });
  t.throws(() => encodePageDeltas(region, region, '4096' as unknown as number), { name: 'TypeError', message: /pageSize must be/ });
  t.throws(() => encodePageDeltas(region.subarray(1), region.subarray(1), N), { name: 'TypeError', message: /oldPages must be a whole number of 4096-byte pages \(got 16383 bytes\)/ });
  t.throws(() => encodePageDeltas(region, Buffer.alloc(2 * N), N), { name: 'TypeError', message: /same length \(16384 and 8192 bytes\)/ });
  t.throws(() => encodePageDeltas(region, region, N, [0, 4]), { name: 'TypeError', message: /pageIndexes\[1\] must be a page number below 4 \(got 4\)/ });
  t.throws(() => encodePageDeltas(region, region, N, [1.5]), { name: 'TypeError', message: /pageIndexes\[0\] must be a page number/ });
  t.throws(() => encodePageDeltas(region, region, N, [-1]), { name: 'TypeError', message: /pageIndexes\[0\]/ });
  t.throws(() => encodePageDeltas(region, region, N, [2, 1]), { name: 'TypeError', message: /strictly increasing \(pageIndexes\[1\] is 1 after 2\)/ });
  t.throws(() => encodePageDeltas(region, region, N, [1, 1]), { name: 'TypeError', message: /strictly increasing/ });
  t.throws(() => encodePageDeltas(region, region, N, 'all' as unknown as number[]), { name: 'TypeError', message: /pageIndexes must be an array/ });
  t.throws(() => encodePageDeltasAsync(region, region, 1000), { name: 'TypeError', message: /encodePageDeltasAsync: pageSize/ });
  t.throws(() => applyPageDeltas(region, notBuffer, N), { name: 'TypeError', message: /applyPageDeltas: deltas must be a Buffer/ });
  t.throws(() => applyPageDeltas(region.subarray(0, 100), Buffer.alloc(16), N), { name: 'TypeError', message: /pages must be a whole number/ });
  t.throws(() => applyPageDeltas(region, region.subarray(N - 8, N + 8), N), { name: 'TypeError', message: /must not share memory/ });
  t.throws(() => applyPageDeltasAsync(region, region.subarray(0, 16), N), { name: 'TypeError', message: /applyPageDeltasAsync: deltas must not share memory/ });
});

t.test('the native side checks shapes again (SALVOR_EINVAL) and never reads past a buffer', async (t) => {
  const native = addon();
  const region = Buffer.alloc(4 * N);
  const cases: [string, () => unknown][] = [
    ['index past the region', () => native.encodePageDeltas(region, region, N, Uint32Array.of(4))],
    ['indexes not increasing', () => native.encodePageDeltas(region, region, N, Uint32Array.of(2, 2))],
    ['indexes of the wrong type', () => native.encodePageDeltas(region, region, N, Int32Array.of(1) as unknown as Uint32Array)],
    ['lengths differ', () => native.encodePageDeltas(region, region.subarray(N), N)],
    ['page size not a power of two', () => native.encodePageDeltas(region, region, 1000)],
    ['region not whole pages', () => native.applyPageDeltas(region.subarray(1), Buffer.alloc(16), N)],
    ['overlapping buffers', () => native.applyPageDeltas(region, region.subarray(10, 40), N)],
    ['page of 100 bytes', () => native.encodePageDelta(Buffer.alloc(100), Buffer.alloc(100))],
    ['pages of different sizes', () => native.encodePageDelta(Buffer.alloc(512), Buffer.alloc(1024))],
    ['apply on a 100-byte page', () => native.applyPageDelta(Buffer.alloc(100), Buffer.from([0x10]))],
  ];
  for (const [label, fn] of cases) t.throws(() => callNative(fn), { code: 'SALVOR_EINVAL', name: 'SalvorError' }, label);
  t.throws(() => callNative(() => native.encodePageDeltasAsync(region, region, N, Uint32Array.of(9))), { code: 'SALVOR_EINVAL' }, 'async checks before queueing');
});
