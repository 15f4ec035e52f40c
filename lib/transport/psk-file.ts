import { readFile } from 'node:fs/promises';
import { SalvorError } from '../../bindings/salvor-error';

/** The shortest pre-shared key accepted: 128 bits. */
export const MIN_PSK_BYTES = 16;

/**
 * The one rule for a pre-shared key file, used by `salvor replicate` and the daemon alike: the key is
 * the file's bytes, less one trailing line end (LF or CRLF, so a file saved on Windows gives the same
 * key), and at least MIN_PSK_BYTES long. `source` names the input in errors (`--psk-file`,
 * `replication.pskFile`).
 */
export async function readPskFile(path: string, source: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const err = SalvorError.fromNode(e, path);
    throw new SalvorError(err.code, `${source} ${path}: ${err.message}`, { errno: err.errno, syscall: err.syscall, path });
  }
  return pskFromFileBytes(bytes, `${source} ${path}`, path);
}

/** The key in a key file's bytes (see readPskFile); `what` names the input in the error. */
export function pskFromFileBytes(bytes: Buffer, what: string, path?: string): Buffer {
  let key = bytes;
  if (key.length > 0 && key[key.length - 1] === 0x0a) key = key.subarray(0, key.length >= 2 && key[key.length - 2] === 0x0d ? -2 : -1);
  if (key.length < MIN_PSK_BYTES)
    throw new SalvorError('SALVOR_BAD_INPUT', `${what}: a pre-shared key needs at least ${MIN_PSK_BYTES} bytes (got ${key.length} after the line end)`, path === undefined ? {} : { path });
  return key;
}
