import { SalvorError } from '../../../bindings/salvor-error';
import type { NvramValue } from '../store';
import type { EnvVariables } from './env-image';

/**
 * Conversions between the store's typed values and U-Boot's text variables. On the device a name
 * and a value are bytes; salvor reads and writes them as UTF-8 and keeps them internally as latin1
 * strings (one char per byte) so that untouched variables round-trip byte for byte.
 */

function badInput(message: string): SalvorError {
  return new SalvorError('SALVOR_BAD_INPUT', message);
}

/** Validates a variable name and returns its internal (byte) form. */
export function envName(key: string): string {
  if (typeof key !== 'string' || key === '') throw badInput('U-Boot variable name is empty');
  if (key.includes('=')) throw badInput(`U-Boot variable name '${key}' contains '='`);
  if (key.includes('\0')) throw badInput(`U-Boot variable name ${JSON.stringify(key)} contains a NUL byte`);
  return Buffer.from(key, 'utf8').toString('latin1');
}

/** The name as callers see it. */
export function displayName(name: string): string {
  return Buffer.from(name, 'latin1').toString('utf8');
}

/** The bytes stored for a value: strings as UTF-8, ints as decimal text; bytes are refused. */
export function envValue(key: string, value: NvramValue): Buffer {
  let text: string;
  switch (value?.type) {
    case 'string':
      text = value.value;
      break;
    case 'int':
      text = value.value.toString(10);
      break;
    case 'bytes':
      throw badInput(`cannot store bytes in U-Boot variable '${key}': U-Boot environments hold text`);
    default:
      throw badInput(`U-Boot variable '${key}': value must be {type: 'string' | 'int', value}`);
  }
  if (typeof text !== 'string') throw badInput(`U-Boot variable '${key}': value is not a string`);
  if (text.includes('\0')) throw badInput(`U-Boot variable '${key}': value contains a NUL byte`);
  return Buffer.from(text, 'utf8');
}

export function nvramValue(stored: Buffer): NvramValue {
  return { type: 'string', value: stored.toString('utf8') };
}

/** A fresh variable set from a defaults map, validated like set(). */
export function variablesFromDefaults(defaults: Record<string, string>): EnvVariables {
  const variables: EnvVariables = new Map();
  for (const [key, value] of Object.entries(defaults)) {
    if (typeof value !== 'string') throw badInput(`U-Boot default '${key}' is not a string`);
    variables.set(envName(key), envValue(key, { type: 'string', value }));
  }
  return variables;
}
