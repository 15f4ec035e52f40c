import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { SalvorError } from '../../bindings/salvor-error';
import { configSchema, type AgentConfig } from './config-schema';

/** A loaded config with where it came from (undefined: the embedded default) and the state directory resolved. */
export interface LoadedConfig {
  file: string | undefined;
  config: AgentConfig;
  stateDir: string;
}

function keyPath(path: PropertyKey[]): string {
  return path.length ? path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[') : '(top level)';
}

/** One line per problem: the key path and what was expected. */
export function describeIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((i) => {
    if (i.code === 'unrecognized_keys') return `${i.keys.map((k) => keyPath([...i.path, k])).join(', ')}: unknown key${i.keys.length > 1 ? 's' : ''}`;
    return `${keyPath(i.path)}: ${i.message.replace(/^Invalid input: /, '')}`;
  });
}

/** Validates a parsed JSON value; SALVOR_BAD_CONFIG names the file, the key path and what was expected. */
export function validateConfig(value: unknown, file: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const r = configSchema.safeParse(value);
  const where = file ?? 'the embedded default config';
  if (!r.success) {
    const lines = describeIssues(r.error.issues);
    throw new SalvorError('SALVOR_BAD_CONFIG', `${where}: ${lines[0]}${lines.length > 1 ? ` (and ${lines.length - 1} more: ${lines.slice(1).join('; ')})` : ''}`, file ? { path: file } : {});
  }
  const stateDir = resolve(r.data.stateDir ?? (env.SALVOR_STATE_DIR || 'var'));
  return { file, config: r.data, stateDir };
}

/** Reads and validates FILE, or the embedded default when no file is given. */
export async function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  if (file === undefined) return validateConfig({}, undefined, env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw SalvorError.fromNode(e, file);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new SalvorError('SALVOR_BAD_CONFIG', `${file}: not JSON: ${(e as Error).message}`, { path: file });
  }
  return validateConfig(value, file, env);
}
