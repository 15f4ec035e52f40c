import { stat, unlink } from 'node:fs/promises';
import { SalvorError } from '../../bindings/salvor-error';
import type { DeviceOpener } from './device';
import { readDefaultsFile } from './defaults';
import { defaultsImage, writeFreshLayout } from './fresh-layout';
import { computeGeometry, decodeHeader, defaultSectorSize, findHeaderCopy, MAX_SECTOR, type Geometry } from './layout';
import { makeDeviceRecord, readDeviceRecord, recordPath, writeDeviceRecord } from './registry';

export interface FormatOptions {
  size: number;
  sectorSize?: number;
  defaultsPath?: string;
  /** Erase a device that already holds a valid salvor NVRAM. */
  force?: boolean;
  stateDir: string;
  lockTimeoutMs?: number;
}

export interface FormatResult {
  device: string;
  geometry: Geometry;
  generation: string;
  defaults: number;
  created: boolean;
  stateFile: string;
}

/**
 * Lays out a fresh NVRAM holding the defaults. Every check (geometry, defaults, an existing store,
 * the device size) runs before the first write; a failure after that removes what format created.
 */
export async function formatNvram(path: string, opener: DeviceOpener, o: FormatOptions): Promise<FormatResult> {
  const geo = computeGeometry(o.size, o.sectorSize ?? defaultSectorSize(o.size));
  const entries = o.defaultsPath ? await readDefaultsFile(o.defaultsPath) : [];
  defaultsImage(geo, entries); // throws SALVOR_BAD_INPUT when the defaults do not fit
  const created = await stat(path).then(
    () => false,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return true;
      throw SalvorError.fromNode(e, path);
    },
  );
  const device = await opener(path, { writable: true, createSize: o.size });
  const oldRecord = await readDeviceRecord(o.stateDir, path);
  let recordWritten = false;
  try {
    await device.lock(true, o.lockTimeoutMs ?? 10_000);
    if (device.size < o.size)
      throw new SalvorError('SALVOR_BAD_INPUT', `${path} holds ${device.size} bytes, less than --size ${o.size}`, { path });
    const head = await device.read(0, Math.min(device.size, 2 * MAX_SECTOR));
    let generation = 1n;
    const existing = existingHeader(head);
    if (existing.ok) {
      if (!o.force)
        throw new SalvorError(
          'SALVOR_BAD_INPUT',
          `${path} already holds a salvor NVRAM (generation ${existing.header.generation}); pass --force to erase it`,
          { path },
        );
      generation = existing.header.generation + 1n;
    }
    await writeDeviceRecord(o.stateDir, makeDeviceRecord(path, geo.size, geo.sectorSize, o.defaultsPath ?? null, entries));
    recordWritten = true;
    const header = await writeFreshLayout(device, geo, entries, generation);
    await device.close();
    return { device: path, geometry: geo, generation: header.generation.toString(), defaults: entries.length, created, stateFile: recordPath(o.stateDir, path) };
  } catch (err) {
    await device.close();
    if (created) await unlink(path).catch(() => undefined);
    if (recordWritten) {
      if (oldRecord) await writeDeviceRecord(o.stateDir, oldRecord).catch(() => undefined);
      else await unlink(recordPath(o.stateDir, path)).catch(() => undefined);
    }
    throw err;
  }
}

/** The header or, failing that, the header copy: either means a store is there. */
function existingHeader(head: Buffer): ReturnType<typeof decodeHeader> {
  const primary = decodeHeader(head, 0);
  const copy = primary.ok ? undefined : findHeaderCopy(head);
  return copy ? { ok: true, header: copy } : primary;
}
