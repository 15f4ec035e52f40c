/** CRC-32C of one 64 MiB buffer: salvor's crc32c against @node-rs/crc32's. */
import { randomFillSync } from 'node:crypto';
import { crc32c as anchorCrc32c } from '@node-rs/crc32';
import { crc32c, crc32cBackend } from '../../bindings/crc';
import type { Benchmark } from './run';

const SIZE = 64 * 1024 * 1024;

export const crc32cBenchmark: Benchmark = {
  name: 'crc32c',
  title: 'CRC-32C of 64 MiB',
  target: { kind: 'speedup', value: 2.0 },
  setup: async () => {
    const buf = randomFillSync(Buffer.alloc(SIZE));
    if (crc32c(buf) !== anchorCrc32c(buf)) throw new Error('salvor and @node-rs/crc32 disagree on the CRC-32C of the input');
    return {
      subject: { label: `salvor crc32c (${crc32cBackend()})`, bytes: SIZE, run: () => crc32c(buf) },
      anchor: { label: '@node-rs/crc32 crc32c', bytes: SIZE, run: () => anchorCrc32c(buf) },
    };
  },
};
