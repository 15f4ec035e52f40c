import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SalvorError } from '../../bindings/salvor-error';
import { writeFileAtomic } from '../state-file/write-file-atomic';
import type { NvramEntry } from './store';
import { entriesToJson, parseDefaults, readDefaultsFile } from './defaults';

/**
 * What salvor keeps outside the NVRAM, in the state directory, so that a device whose header and
 * header copy are both lost can be rebuilt: its geometry, the defaults file's path and a copy of the
 * defaults as they were at format time. One JSON file per device: STATE/nvram/<encoded path>.json.
 */
export interface DeviceRecord {
  device: string;
  size: number;
  sectorSize: number;
  defaultsPath: string | null;
  defaults: Record<string, unknown>;
  formattedAt: string;
}

export function recordPath(stateDir: string, device: string): string {
  return join(stateDir, 'nvram', encodeURIComponent(resolve(device)) + '.json');
}

export async function readDeviceRecord(stateDir: string, device: string): Promise<DeviceRecord | undefined> {
  const path = recordPath(stateDir, device);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw SalvorError.fromNode(e, path);
  }
  try {
    const r = JSON.parse(text) as DeviceRecord;
    if (typeof r.size !== 'number' || typeof r.sectorSize !== 'number') throw new Error('size or sectorSize missing');
    return r;
  } catch (e) {
    throw new SalvorError('SALVOR_BAD_INPUT', `state file ${path} is damaged: ${(e as Error).message}`, { path });
  }
}

/** Written through a temporary file and rename, so a cut leaves the old record or the new one. */
export async function writeDeviceRecord(stateDir: string, record: DeviceRecord): Promise<void> {
  const path = recordPath(stateDir, record.device);
  await mkdir(join(stateDir, 'nvram'), { recursive: true }).catch((e) => {
    throw SalvorError.fromNode(e, join(stateDir, 'nvram'));
  });
  await writeFileAtomic(path, JSON.stringify(record, null, 2) + '\n').catch((e) => {
    throw SalvorError.fromNode(e, path);
  });
}

export function makeDeviceRecord(device: string, size: number, sectorSize: number, defaultsPath: string | null, defaults: NvramEntry[]): DeviceRecord {
  return {
    device: resolve(device),
    size,
    sectorSize,
    defaultsPath: defaultsPath === null ? null : resolve(defaultsPath),
    defaults: entriesToJson(defaults),
    formattedAt: new Date().toISOString(),
  };
}

/** The defaults to rebuild from: the file at the recorded path when it still parses, else the copy. */
export async function recordedDefaults(record: DeviceRecord): Promise<NvramEntry[]> {
  if (record.defaultsPath) {
    try {
      return await readDefaultsFile(record.defaultsPath);
    } catch {
      // the file moved or broke since format: the copy taken then is the next best source
    }
  }
  return parseDefaults(JSON.stringify(record.defaults), `copy of defaults in state for ${record.device}`);
}
