import { crc32 } from '../../../bindings/crc';

/**
 * One U-Boot environment copy as bytes (docs/formats/uboot-env.md):
 *   single:    [0..4) CRC-32 (IEEE, little-endian) of the data area, [4..size) data
 *   redundant: [0..4) CRC-32 of the data area, [4] flags (serial), [5..size) data
 * Data is `name=value\0` entries ended by an extra `\0`; the rest is padding (0xff, as mkenvimage pads).
 */
export const padByte = 0xff;

export function headerLength(redundant: boolean): number {
  return redundant ? 5 : 4;
}

/**
 * Variables in stored order. Names and values are kept as the raw bytes on the device (latin1
 * strings map bytes 1:1), so rewriting an environment never alters variables nobody touched.
 */
export type EnvVariables = Map<string, Buffer>;

export type DecodedCopy = { valid: true; serial: number | undefined; variables: EnvVariables } | { valid: false; serial: undefined };

/** Checks the CRC and, when it matches, parses the variables. `serial` is the flags byte (redundant only). */
export function decodeEnvCopy(image: Buffer, redundant: boolean): DecodedCopy {
  const header = headerLength(redundant);
  const data = image.subarray(header);
  if (image.readUInt32LE(0) !== crc32(data)) return { valid: false, serial: undefined };
  return { valid: true, serial: redundant ? image[4] : undefined, variables: parseEnvData(data) };
}

/** Entries up to the first empty one; an entry without '=' is skipped, a repeated name keeps the last value (as U-Boot does). */
export function parseEnvData(data: Buffer): EnvVariables {
  const variables: EnvVariables = new Map();
  let at = 0;
  while (at < data.length) {
    let end = data.indexOf(0, at);
    if (end < 0) end = data.length;
    if (end === at) break;
    const entry = data.subarray(at, end);
    const eq = entry.indexOf(0x3d);
    if (eq > 0) {
      const name = entry.subarray(0, eq).toString('latin1');
      variables.delete(name); // a later duplicate moves to its own position, as a fresh insert would
      variables.set(name, Buffer.from(entry.subarray(eq + 1)));
    }
    at = end + 1;
  }
  return variables;
}

/** Bytes the data area needs for these variables: each `name=value\0`, plus the closing `\0`. */
export function envDataLength(variables: EnvVariables): number {
  let n = 1;
  for (const [name, value] of variables) n += Buffer.byteLength(name, 'latin1') + 1 + value.length + 1;
  return n;
}

/** The largest data area an environment of `envSize` bytes holds. */
export function dataCapacity(envSize: number, redundant: boolean): number {
  return envSize - headerLength(redundant);
}

/** Builds a whole copy image. The caller has checked that the variables fit (envDataLength <= dataCapacity). */
export function encodeEnvCopy(variables: EnvVariables, envSize: number, redundant: boolean, serial: number): Buffer {
  const header = headerLength(redundant);
  const image = Buffer.alloc(envSize, padByte);
  let at = header;
  for (const [name, value] of variables) {
    at += image.write(name, at, 'latin1');
    image[at++] = 0x3d;
    at += value.copy(image, at);
    image[at++] = 0;
  }
  image[at] = 0;
  if (redundant) image[4] = serial & 0xff;
  image.writeUInt32LE(crc32(image.subarray(header)), 0);
  return image;
}

/**
 * U-Boot's rule for two valid copies: the higher flags byte is newer, except that 0 is newer than
 * 255 (the serial wrapped); equal flags pick copy 0. Returns the active copy's index.
 */
export function newerCopy(serial0: number, serial1: number): 0 | 1 {
  if (serial0 === 255 && serial1 === 0) return 1;
  if (serial0 === 0 && serial1 === 255) return 0;
  return serial1 > serial0 ? 1 : 0;
}

/** The active copy among decoded ones, or undefined when none is valid. */
export function activeCopy(copies: DecodedCopy[]): number | undefined {
  const valid = copies.map((c) => c.valid);
  if (copies.length === 1) return valid[0] ? 0 : undefined;
  if (valid[0] && valid[1]) return newerCopy(copies[0].serial ?? 0, copies[1].serial ?? 0);
  if (valid[0]) return 0;
  if (valid[1]) return 1;
  return undefined;
}

/** The serial a freshly written copy gets so that it wins over `activeSerial` (libubootenv writes the same). */
export function nextSerial(activeSerial: number): number {
  return (activeSerial + 1) & 0xff;
}

/** A serial that loses to `activeSerial`: used when recover rewrites a bad copy but must keep the good one active. */
export function olderSerial(activeSerial: number): number {
  return (activeSerial + 255) & 0xff;
}

/** Names sorted by their bytes (strcmp order), the order U-Boot and libubootenv save in. */
export function sortedVariables(variables: EnvVariables): EnvVariables {
  const names = [...variables.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); // latin1: code unit = byte
  return new Map(names.map((n) => [n, variables.get(n) as Buffer]));
}
