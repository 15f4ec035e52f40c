import { SalvorError } from '../../bindings/salvor-error';
import { checkInt64 } from './defaults';
import type { NvramValue } from './store';

export const VALUE_TYPES = ['string', 'int', 'bytes'] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

/** Parses a value given on the command line: int in decimal or 0x hex, bytes as hex digits. */
export function parseCliValue(text: string, type: ValueType): NvramValue {
  const bad = (what: string) => new SalvorError('SALVOR_BAD_INPUT', `value '${text.slice(0, 40)}' is not ${what}`);
  if (type === 'string') {
    if (text.includes('\0')) throw bad('a string without NUL');
    return { type, value: text };
  }
  if (type === 'int') {
    if (!/^-?(\d+|0x[0-9a-fA-F]+)$/.test(text)) throw bad('an integer (decimal or 0x hex)');
    const neg = text.startsWith('-');
    const v = BigInt(neg ? text.slice(1) : text) * (neg ? -1n : 1n);
    try {
      return { type, value: checkInt64(v) };
    } catch (e) {
      throw new SalvorError('SALVOR_BAD_INPUT', `value ${(e as Error).message}`);
    }
  }
  const hex = text.replace(/^0x/, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw bad('bytes as an even number of hex digits');
  return { type, value: Buffer.from(hex, 'hex') };
}

/** How `get` prints a value: strings as they are, ints in decimal, bytes in hex. */
export function formatValue(v: NvramValue): string {
  if (v.type === 'string') return v.value;
  if (v.type === 'int') return v.value.toString();
  return v.value.toString('hex');
}
