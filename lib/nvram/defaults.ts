import { readFile } from 'node:fs/promises';
import { SalvorError } from '../../bindings/salvor-error';
import type { NvramEntry, NvramValue } from './store';
import { validateKey } from './kv-codec';

/**
 * Defaults: a JSON object of key values given at format time and used when a sector and its spare
 * are both lost, or the header and its copy are. Values: a string; an integer (a JSON number, or
 * {"int": "123"} beyond 2^53); bytes as {"hex": "00ff"}.
 */
export function parseDefaults(text: string, path: string): NvramEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SalvorError('SALVOR_BAD_INPUT', `defaults file ${path} is not valid JSON: ${(e as Error).message}`, { path });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new SalvorError('SALVOR_BAD_INPUT', `defaults file ${path} must hold a JSON object of key values`, { path });
  return Object.entries(json as Record<string, unknown>).map(([key, raw]) => {
    try {
      validateKey(key);
      return { key, value: jsonToValue(raw) };
    } catch (e) {
      throw new SalvorError('SALVOR_BAD_INPUT', `defaults file ${path}, key '${key}': ${(e as Error).message}`, { path });
    }
  });
}

export async function readDefaultsFile(path: string): Promise<NvramEntry[]> {
  const text = await readFile(path, 'utf8').catch((e) => {
    throw SalvorError.fromNode(e, path);
  });
  return parseDefaults(text, path);
}

export function jsonToValue(raw: unknown): NvramValue {
  if (typeof raw === 'string') return { type: 'string', value: raw };
  if (typeof raw === 'number') {
    if (!Number.isSafeInteger(raw)) throw new Error(`${raw} is not an integer within 2^53 (use {"int": "..."})`);
    return { type: 'int', value: BigInt(raw) };
  }
  if (raw && typeof raw === 'object') {
    const o = raw as Record<string, unknown>;
    if (typeof o.int === 'string' && /^-?\d+$/.test(o.int)) return { type: 'int', value: checkInt64(BigInt(o.int)) };
    if (typeof o.hex === 'string' && /^([0-9a-fA-F]{2})*$/.test(o.hex)) return { type: 'bytes', value: Buffer.from(o.hex, 'hex') };
  }
  throw new Error('value must be a string, an integer, {"int": "digits"} or {"hex": "even hex digits"}');
}

export function checkInt64(v: bigint): bigint {
  if (v < -(2n ** 63n) || v >= 2n ** 63n) throw new Error(`${v} does not fit a signed 64-bit integer`);
  return v;
}

/** The JSON form of a value, as `get --json` and `list --json` print it and defaults files hold it. */
export function valueToJson(v: NvramValue): unknown {
  if (v.type === 'string') return v.value;
  if (v.type === 'bytes') return { hex: v.value.toString('hex') };
  return v.value >= BigInt(Number.MIN_SAFE_INTEGER) && v.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v.value) : { int: v.value.toString() };
}

export function entriesToJson(entries: NvramEntry[]): Record<string, unknown> {
  return Object.fromEntries(entries.map((e) => [e.key, valueToJson(e.value)]));
}
