import { addon, callNative } from './addon';

function checkArgs(buf: Uint8Array, seed: number | undefined, name: string): void {
  if (!(buf instanceof Uint8Array)) throw new TypeError(`${name}: buf must be a Buffer or Uint8Array`);
  if (seed !== undefined && (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff))
    throw new TypeError(`${name}: seed must be an unsigned 32-bit integer`);
}

/** CRC-32C (Castagnoli). `seed` is a previous result, so crc32c(b, crc32c(a)) == crc32c(a+b). */
export function crc32c(buf: Uint8Array, seed?: number): number {
  checkArgs(buf, seed, 'crc32c');
  return callNative(() => addon().crc32c(buf, seed));
}

/** CRC-32 (IEEE 802.3, as zlib and U-Boot compute it). `seed` chains like crc32c's. */
export function crc32(buf: Uint8Array, seed?: number): number {
  checkArgs(buf, seed, 'crc32');
  return callNative(() => addon().crc32(buf, seed));
}

/** Which CRC-32C implementation the addon dispatched to on this CPU. */
export function crc32cBackend(): string {
  return addon().crc32cBackend;
}
