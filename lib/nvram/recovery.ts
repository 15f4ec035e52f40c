import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SalvorError } from '../../bindings/salvor-error';
import { defaultsImage, writeFreshLayout } from './fresh-layout';
import { encodeHeader, HEADER_COPY_SECTOR, HEADER_SECTOR } from './layout';
import { makeDeviceRecord, writeDeviceRecord } from './registry';
import type { SalvorNvram } from './salvor-store';
import type { CheckReport, HeaderOutcome, RecoverReport, SectorFinding } from './store';

/**
 * check and recover for the salvor layout. check never writes; its `header` and per-sector `source`
 * say what recover will do. Order of recovery: headers, the interrupted write, data sectors (spare,
 * else defaults), spare sectors (from data), then the key-value store's own consistency.
 */
export async function checkReport(store: SalvorNvram): Promise<CheckReport> {
  const { geo } = store.image;
  const h = store.headers;
  const rebuild = !h.header;
  const header: HeaderOutcome = rebuild ? 'rebuilt-from-defaults' : h.primary === 'ok' && h.copy === 'ok' ? 'ok' : 'recovered-from-copy';
  const badSectors: SectorFinding[] = [];
  if (h.primary === 'bad') badSectors.push({ sector: HEADER_SECTOR, source: rebuild ? 'defaults' : 'header-copy' });
  if (h.copy === 'bad') badSectors.push({ sector: HEADER_COPY_SECTOR, source: rebuild ? 'defaults' : 'header-copy' });
  const badSpare = new Set(store.badSpare);
  const badData = new Set(store.badData);
  for (const i of store.badData) badSectors.push({ sector: geo.dataStart + i, source: rebuild || badSpare.has(i) ? 'defaults' : 'spare' });
  for (const i of store.badSpare) badSectors.push({ sector: geo.spareStart + i, source: rebuild || badData.has(i) ? 'defaults' : 'data' });
  const kv = store.decodeStore();
  return {
    format: 'salvor',
    device: store.device.path,
    header,
    headers: { primary: h.primary, copy: h.copy },
    badSectors,
    clean: badSectors.length === 0 && store.journal.kind === 'none' && kv.damaged === 0,
    journal: store.journal.kind === 'none' ? 'clean' : store.journal.kind,
    store: { entries: kv.entries.length, damagedEntries: kv.damaged },
    geometry: { size: geo.size, sectorSize: geo.sectorSize, dataSectors: geo.dataSectors, dataStart: geo.dataStart, spareStart: geo.spareStart },
    generation: h.header ? h.header.generation.toString() : null,
  };
}

export async function recoverStore(store: SalvorNvram): Promise<RecoverReport> {
  const before = await checkReport(store);
  const recovered: SectorFinding[] = [];
  const defaults = await store.defaults();
  const { geo } = store.image;
  let journal = 'none';
  const restoredKeys: string[] = [];

  if (!store.headers.header) {
    await backupImage(store);
    const header = await writeFreshLayout(store.device, geo, defaults.entries, 1n);
    // Keep what the rebuild used, so the next loss of both headers needs no options either.
    if (!store.headers.record || store.options.defaultsPath) {
      const defaultsPath = store.options.defaultsPath ?? store.headers.record?.defaultsPath ?? null;
      await writeDeviceRecord(store.options.stateDir, makeDeviceRecord(store.device.path, geo.size, geo.sectorSize, defaultsPath, defaults.entries));
    }
    store.image.bytes.set(await store.device.read(0, geo.size));
    for (let s = 0; s < geo.spareStart + geo.dataSectors; s++) if (s !== 2 && s !== 3) recovered.push({ sector: s, source: 'defaults' });
    Object.assign(store.headers, { primary: 'ok', copy: 'ok', header });
    store.badData = [];
    store.badSpare = [];
    store.journal = { kind: 'none', lastSeq: 0n };
  } else {
    const header = store.headers.header;
    if (store.headers.primary === 'bad') {
      await store.image.write(HEADER_SECTOR, encodeHeader(header, HEADER_SECTOR));
      recovered.push({ sector: HEADER_SECTOR, source: 'header-copy' });
    }
    if (store.headers.copy === 'bad') {
      await store.image.write(HEADER_COPY_SECTOR, encodeHeader(header, HEADER_COPY_SECTOR));
      recovered.push({ sector: HEADER_COPY_SECTOR, source: 'header-copy' });
    }
    await store.image.flush();
    Object.assign(store.headers, { primary: 'ok', copy: 'ok' });
    journal = await store.finishJournal();
    recovered.push(...(await repairSectors(store, defaultsImage(geo, defaults.entries))));
    // Sectors rebuilt from defaults may cut through entries written since format: keep every intact
    // entry, and bring back the default of any key the damage removed.
    const kv = store.decodeStore();
    if (kv.damaged) {
      const have = new Set(kv.entries.map((e) => e.key));
      const missing = defaults.entries.filter((e) => !have.has(e.key));
      restoredKeys.push(...missing.map((e) => e.key));
      await store.rewriteStore(() => [...kv.entries, ...missing], { allowDamaged: true });
    }
  }
  return {
    ...before,
    recovered,
    uncorrected: [],
    journal: journal === 'none' ? before.journal : journal === 'roll-forward' ? 'rolled-forward' : 'rolled-back',
    defaultsFrom: defaults.from,
    restoredKeys,
    clean: (await checkReport(store)).clean,
  };
}

/** Data sector: from its spare, else from the defaults image (and the spare with it); spare: from data. */
async function repairSectors(store: SalvorNvram, defaults: Buffer): Promise<SectorFinding[]> {
  const { geo } = store.image;
  const b = geo.sectorSize;
  const found: SectorFinding[] = [];
  const badSpare = new Set(store.badSpare);
  for (const i of store.badData) {
    if (!badSpare.has(i)) {
      await store.image.write(geo.dataStart + i, Buffer.from(store.image.spare(i)));
      found.push({ sector: geo.dataStart + i, source: 'spare' });
    } else {
      const sector = defaults.subarray(i * b, (i + 1) * b);
      await store.image.write(geo.dataStart + i, sector);
      await store.image.write(geo.spareStart + i, sector);
      found.push({ sector: geo.dataStart + i, source: 'defaults' }, { sector: geo.spareStart + i, source: 'defaults' });
      badSpare.delete(i);
    }
  }
  await store.image.flush();
  for (const i of badSpare) {
    await store.image.write(geo.spareStart + i, Buffer.from(store.image.data(i)));
    found.push({ sector: geo.spareStart + i, source: 'data' });
  }
  await store.image.flush();
  store.badData = [];
  store.badSpare = [];
  return found;
}

/** Before a rebuild discards the data region, keep the damaged image: nothing is lost for good. */
async function backupImage(store: SalvorNvram): Promise<string> {
  const dir = join(store.options.stateDir, 'nvram', 'backups');
  const file = join(dir, `${encodeURIComponent(resolve(store.device.path))}-${new Date().toISOString().replace(/[:.]/g, '-')}.img`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(file, store.image.bytes, { mode: 0o600 });
  } catch (e) {
    throw new SalvorError('SALVOR_BACKUP', `cannot keep a backup of ${store.device.path} before rebuilding it: ${(e as Error).message}`, {
      path: file,
    });
  }
  return file;
}
