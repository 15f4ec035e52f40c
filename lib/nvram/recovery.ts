import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SalvorError } from '../../bindings/salvor-error';
import { headerFor, writeFreshLayout } from './fresh-layout';
import type { JournalAction } from './journal';
import { encodeHeader, HEADER_COPY_SECTOR, HEADER_SECTOR } from './layout';
import { makeDeviceRecord, writeDeviceRecord } from './registry';
import type { SalvorNvram } from './salvor-store';
import type { CheckReport, HeaderOutcome, NvramEntry, RecoverReport, SectorFinding } from './store';

/**
 * check and recover for the salvor layout. check never writes; its `header` and per-sector `source`
 * say what recover will do. Order of recovery: headers, the interrupted write, data sectors (spare,
 * else defaults), spare sectors (from data), then the key-value store's own consistency.
 */
export async function checkReport(store: SalvorNvram): Promise<CheckReport> {
  const { geo } = store.image;
  const h = store.headers;
  const fromDefaults = !h.header && !h.rebuilt?.survivors;
  const header: HeaderOutcome = h.header
    ? h.primary === 'ok' && h.copy === 'ok'
      ? 'ok'
      : 'recovered-from-copy'
    : fromDefaults
      ? 'rebuilt-from-defaults'
      : 'rebuilt-from-geometry';
  const headerSource = h.header ? 'header-copy' : fromDefaults ? 'defaults' : 'geometry';
  const badSectors: SectorFinding[] = [];
  if (h.primary === 'bad') badSectors.push({ sector: HEADER_SECTOR, source: headerSource });
  if (h.copy === 'bad') badSectors.push({ sector: HEADER_COPY_SECTOR, source: headerSource });
  const badSpare = new Set(store.badSpare);
  const badData = new Set(store.badData);
  for (const i of store.badData) badSectors.push({ sector: geo.dataStart + i, source: fromDefaults || badSpare.has(i) ? 'defaults' : 'spare' });
  for (const i of store.badSpare) badSectors.push({ sector: geo.spareStart + i, source: fromDefaults || badData.has(i) ? 'defaults' : 'data' });
  const kv = store.decodeStore();
  return {
    format: 'salvor',
    device: store.device.path,
    header,
    headers: { primary: h.primary, copy: h.copy },
    ...(h.rebuilt ? { geometryFrom: h.rebuilt.from } : {}),
    badSectors,
    clean: badSectors.length === 0 && store.journal.kind === 'none' && kv.damaged === 0,
    journal: store.journal.kind === 'none' ? 'clean' : store.journal.kind,
    store: { entries: kv.entries.length, damagedEntries: kv.damaged, damagedKeys: kv.damagedKeys, unnamedDamage: kv.unnamedDamage },
    geometry: { size: geo.size, sectorSize: geo.sectorSize, dataSectors: geo.dataSectors, dataStart: geo.dataStart, spareStart: geo.spareStart },
    generation: h.header ? h.header.generation.toString() : null,
  };
}

/** What recover did to the keys: every key brought back and every key lost, by name. */
interface KeyOutcome {
  recoveredKeys: string[];
  restoredKeys: string[];
  lostKeys: string[];
  lostUnnamed: number;
}

export async function recoverStore(store: SalvorNvram): Promise<RecoverReport> {
  const before = await checkReport(store);
  const beforeView = store.decodeStore();
  const damagedImage = Buffer.from(store.image.bytes);
  const defaults = await store.defaults();
  const h = store.headers;
  let recovered: SectorFinding[];
  let journal: JournalAction['kind'] = 'none';
  let keys: KeyOutcome;
  if (!h.header && !h.rebuilt?.survivors) {
    recovered = await rebuildFromDefaults(store, defaults, damagedImage);
    const defaultKeys = new Set(defaults.entries.map((e) => e.key));
    keys = {
      recoveredKeys: [],
      restoredKeys: [...defaultKeys].sort(),
      lostKeys: [...new Set([...beforeView.entries.map((e) => e.key), ...beforeView.damagedKeys])].filter((k) => !defaultKeys.has(k)).sort(),
      lostUnnamed: beforeView.unnamedDamage,
    };
  } else {
    const headerRebuilt = !h.header;
    recovered = await repairHeaders(store, defaults);
    journal = await store.finishJournal();
    const repaired = await repairSectors(store);
    recovered.push(...repaired.found);
    keys = await rebuildDamagedEntries(store, defaults.entries, repaired.touched, headerRebuilt, damagedImage);
  }
  const after = await checkReport(store);
  return {
    ...before,
    recovered,
    uncorrected: [],
    journal: journal === 'none' ? before.journal : journal === 'roll-forward' ? 'rolled-forward' : 'rolled-back',
    defaultsFrom: defaults.from,
    ...keys,
    generation: after.generation,
    clean: after.clean,
  };
}

/** Nothing of the store survives: lay it out again from the defaults, after keeping the damaged image. */
async function rebuildFromDefaults(store: SalvorNvram, defaults: { entries: NvramEntry[] }, damagedImage: Buffer): Promise<SectorFinding[]> {
  const { geo } = store.image;
  await backupImage(store, damagedImage);
  const header = await writeFreshLayout(store.device, geo, defaults.entries, store.headers.rebuilt?.generation ?? 1n);
  await rememberGeometry(store, defaults.entries);
  store.image.bytes.set(await store.device.read(0, geo.size));
  const recovered: SectorFinding[] = [];
  for (let s = 0; s < geo.spareStart + geo.dataSectors; s++) if (s !== 2 && s !== 3) recovered.push({ sector: s, source: 'defaults' });
  Object.assign(store.headers, { primary: 'ok', copy: 'ok', header });
  store.badData = [];
  store.badSpare = [];
  store.journal = { kind: 'none', lastSeq: 0n };
  return recovered;
}

/** Keep what a rebuild used, so the next loss of both headers needs no options either. */
async function rememberGeometry(store: SalvorNvram, defaults: NvramEntry[]): Promise<void> {
  const { geo } = store.image;
  if (store.headers.record && !store.options.defaultsPath) return;
  const defaultsPath = store.options.defaultsPath ?? store.headers.record?.defaultsPath ?? null;
  await writeDeviceRecord(store.options.stateDir, makeDeviceRecord(store.device.path, geo.size, geo.sectorSize, defaultsPath, defaults));
}

/** A header from its copy, or both from the geometry that survives (keeping the generation they stated). */
async function repairHeaders(store: SalvorNvram, defaults: { entries: NvramEntry[] }): Promise<SectorFinding[]> {
  const h = store.headers;
  const found: SectorFinding[] = [];
  let header = h.header;
  const source = header ? 'header-copy' : 'geometry';
  if (!header) {
    header = headerFor(store.image.geo, h.rebuilt?.generation ?? 1n, defaults.entries);
    await rememberGeometry(store, defaults.entries);
  }
  if (h.copy === 'bad') {
    await store.image.write(HEADER_COPY_SECTOR, encodeHeader(header, HEADER_COPY_SECTOR));
    found.push({ sector: HEADER_COPY_SECTOR, source });
    await store.image.flush();
  }
  if (h.primary === 'bad') {
    await store.image.write(HEADER_SECTOR, encodeHeader(header, HEADER_SECTOR));
    found.push({ sector: HEADER_SECTOR, source });
  }
  await store.image.flush();
  Object.assign(store.headers, { primary: 'ok', copy: 'ok', header });
  return found.sort((a, b) => a.sector - b.sector);
}

/**
 * Data sector from its spare, spare from its data sector. A sector with neither copy intact is left
 * to rebuildDamagedEntries, which rewrites the store through the journal.
 */
async function repairSectors(store: SalvorNvram): Promise<{ found: SectorFinding[]; touched: number[] }> {
  const { geo } = store.image;
  const found: SectorFinding[] = [];
  const badData = new Set(store.badData);
  const badSpare = new Set(store.badSpare);
  const lost = store.badData.filter((i) => badSpare.has(i));
  for (const i of store.badData) {
    if (badSpare.has(i)) continue;
    await store.image.write(geo.dataStart + i, Buffer.from(store.image.spare(i)));
    found.push({ sector: geo.dataStart + i, source: 'spare' });
  }
  await store.image.flush();
  for (const i of store.badSpare) {
    if (badData.has(i)) continue;
    await store.image.write(geo.spareStart + i, Buffer.from(store.image.data(i)));
    found.push({ sector: geo.spareStart + i, source: 'data' });
  }
  await store.image.flush();
  store.badData = lost;
  store.badSpare = lost;
  for (const i of lost) found.push({ sector: geo.dataStart + i, source: 'defaults' }, { sector: geo.spareStart + i, source: 'defaults' });
  return { found: found.sort((a, b) => a.sector - b.sector), touched: [...badData, ...badSpare] };
}

/**
 * Rewrites a store with damaged entries or lost sectors: every intact entry stays, a damaged key
 * with a default gets its default back (when some damage has no readable name, every default key
 * that is missing does), and each key that could not be kept is reported by name.
 */
async function rebuildDamagedEntries(
  store: SalvorNvram,
  defaults: NvramEntry[],
  touched: number[],
  headerRebuilt: boolean,
  damagedImage: Buffer,
): Promise<KeyOutcome> {
  const view = store.decodeStore();
  const p = store.image.payloadSize;
  const near = (key: string) => {
    const [a, b] = view.spans.get(key)!;
    return touched.some((i) => i * p < b && a < (i + 1) * p);
  };
  const recoveredKeys = view.entries.map((e) => e.key).filter((k) => headerRebuilt || near(k)).sort();
  if (!view.damaged && !view.lostSectors.length) return { recoveredKeys, restoredKeys: [], lostKeys: [], lostUnnamed: 0 };
  await backupImage(store, damagedImage);
  const have = new Set(view.entries.map((e) => e.key));
  const damaged = new Set(view.damagedKeys);
  const back = defaults.filter((e) => !have.has(e.key) && (damaged.has(e.key) || view.unnamedDamage > 0));
  await store.rewriteStore(() => [...view.entries, ...back], { allowDamaged: true });
  store.badData = [];
  store.badSpare = [];
  const restored = new Set(back.map((e) => e.key));
  return {
    recoveredKeys,
    restoredKeys: [...restored].sort(),
    lostKeys: view.damagedKeys.filter((k) => !restored.has(k)),
    lostUnnamed: view.unnamedDamage,
  };
}

/** Before recovery discards anything, keep the damaged image: nothing is lost for good. */
async function backupImage(store: SalvorNvram, damagedImage: Buffer): Promise<string> {
  const dir = join(store.options.stateDir, 'nvram', 'backups');
  const file = join(dir, `${encodeURIComponent(resolve(store.device.path))}-${new Date().toISOString().replace(/[:.]/g, '-')}.img`);
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(file, damagedImage, { mode: 0o600 });
  } catch (e) {
    throw new SalvorError('SALVOR_BACKUP', `cannot keep a backup of ${store.device.path} before rebuilding it: ${(e as Error).message}`, {
      path: file,
    });
  }
  return file;
}
