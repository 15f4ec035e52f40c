import { addon, callNativeAsync } from '../../bindings/addon';
import { SalvorError } from '../../bindings/salvor-error';
import type { DeviceOpener, NvramDevice } from './device';
import { readDefaultsFile } from './defaults';
import { NvramImage } from './image';
import { planJournal, Stage, type JournalAction, type JournalRecord } from './journal';
import { encodeKv, validateKey } from './kv-codec';
import { judgeMismatches, readStore, type StoreView } from './store-view';
import { JOURNAL_SECTOR, STAMP_SECTOR, type Header } from './layout';
import { recordedDefaults } from './registry';
import { checkReport, recoverStore } from './recovery';
import { readHeaders, type HeaderFindings } from './salvor-open';
import type { CheckReport, NvramEntry, NvramStore, NvramValue, RecoverReport } from './store';

export interface OpenSalvorOptions {
  writable: boolean;
  stateDir: string;
  /** Expected sector size (checked against the header; used for rebuilding when both headers are lost). */
  sectorSize?: number;
  /** Defaults to rebuild from, instead of those recorded at format time. */
  defaultsPath?: string;
  lockTimeoutMs?: number;
}

/** A salvor-format NVRAM: key-value store and raw sectors over the layout of docs/formats/nvram.md. */
export class SalvorNvram implements NvramStore {
  readonly format = 'salvor' as const;
  private closed = false;

  constructor(
    readonly device: NvramDevice,
    readonly image: NvramImage,
    readonly headers: HeaderFindings,
    /** The interrupted write found at open (already applied to the in-memory image). */
    public journal: JournalAction,
    badData: number[],
    badSpare: number[],
    readonly options: OpenSalvorOptions,
  ) {
    this.badData = badData;
    this.badSpare = badSpare;
  }

  private badDataSet = new Set<number>();
  private badSpareSet = new Set<number>();
  /** Data sectors (logical indexes) whose CRC or index is wrong. */
  get badData(): number[] {
    return [...this.badDataSet].sort((a, b) => a - b);
  }
  set badData(list: number[]) {
    this.badDataSet = new Set(list);
  }
  get badSpare(): number[] {
    return [...this.badSpareSet].sort((a, b) => a - b);
  }
  set badSpare(list: number[]) {
    this.badSpareSet = new Set(list);
  }

  get header(): Header | undefined {
    return this.headers.header;
  }

  /** Defaults for rebuilding: --defaults file, else the file/copy recorded at format, else an empty store. */
  async defaults(): Promise<{ entries: NvramEntry[]; from: 'file' | 'state' | 'empty' }> {
    if (this.options.defaultsPath) return { entries: await readDefaultsFile(this.options.defaultsPath), from: 'file' };
    if (this.headers.record) return { entries: await recordedDefaults(this.headers.record), from: 'state' };
    return { entries: [], from: 'empty' };
  }

  check(): Promise<CheckReport> {
    return checkReport(this);
  }

  recover(): Promise<RecoverReport> {
    this.requireWritable('recover');
    return recoverStore(this);
  }

  /** Payload of data sector i as a reader sees it: the sector, else its spare, else undefined. */
  readSector(i: number): Buffer | undefined {
    if (!Number.isInteger(i) || i < 0 || i >= this.image.geo.dataSectors)
      throw new SalvorError('SALVOR_RANGE', `sector ${i} is outside 0..${this.image.geo.dataSectors - 1}`, { path: this.device.path });
    const p = this.image.payloadSize;
    if (!this.badDataSet.has(i)) return Buffer.from(this.image.data(i).subarray(0, p));
    if (!this.badSpareSet.has(i)) return Buffer.from(this.image.spare(i).subarray(0, p));
    return undefined;
  }

  /** Replaces consecutive data sectors' payloads in one atomic write (each at most payloadSize bytes). */
  async writeSectors(first: number, payloads: Buffer[]): Promise<void> {
    const p = this.image.payloadSize;
    if (!Number.isInteger(first) || first < 0 || payloads.length === 0 || first + payloads.length > this.image.geo.dataSectors)
      throw new SalvorError('SALVOR_RANGE', `sectors ${first}+${payloads.length} are outside the data region`, { path: this.device.path });
    for (const b of payloads)
      if (b.length > p) throw new SalvorError('SALVOR_BAD_INPUT', `a sector payload holds at most ${p} bytes, got ${b.length}`);
    await this.prepareWrite();
    const stream = Buffer.alloc(payloads.length * p);
    payloads.forEach((b, k) => b.copy(stream, k * p));
    await this.commitRange(first, this.image.sealData(first, stream));
  }

  decodeStore(): StoreView {
    return readStore(this.image, this.badDataSet, this.badSpareSet);
  }

  /** A key whose entry is damaged is never reported as "not set": readers get SALVOR_DAMAGED instead. */
  async get(key: string): Promise<NvramValue | undefined> {
    validateKey(key);
    const view = this.decodeStore();
    const found = view.entries.find((e) => e.key === key)?.value;
    if (found) return found;
    if (view.damagedKeys.includes(key) || view.unnamedDamage) throw damagedError(this.device.path, view, key);
    return undefined;
  }

  async list(): Promise<NvramEntry[]> {
    const view = this.decodeStore();
    if (view.damaged) throw damagedError(this.device.path, view);
    return view.entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async set(key: string, value: NvramValue): Promise<void> {
    validateKey(key);
    await this.rewriteStore((entries) => [...entries.filter((e) => e.key !== key), { key, value }]);
  }

  async unset(key: string): Promise<boolean> {
    validateKey(key);
    let found = false;
    await this.rewriteStore((entries) => {
      found = entries.some((e) => e.key === key);
      return found ? entries.filter((e) => e.key !== key) : undefined;
    });
    return found;
  }

  /** Serialises the changed store and commits only the sectors that differ. */
  async rewriteStore(change: (entries: NvramEntry[]) => NvramEntry[] | undefined, opts: { allowDamaged?: boolean } = {}): Promise<void> {
    this.requireWritable('write');
    const decoded = this.decodeStore();
    if (!opts.allowDamaged) this.requireClean(decoded);
    const next = change(decoded.entries);
    if (!next) return;
    const sealed = this.image.sealData(0, encodeKv(next, this.image.geo.dataSectors * this.image.payloadSize));
    await this.prepareWrite();
    const b = this.image.geo.sectorSize;
    const current = this.image.data(0, this.image.geo.dataSectors);
    let first = 0;
    let last = this.image.geo.dataSectors - 1;
    while (first <= last && current.subarray(first * b, (first + 1) * b).equals(sealed.subarray(first * b, (first + 1) * b))) first++;
    while (last >= first && current.subarray(last * b, (last + 1) * b).equals(sealed.subarray(last * b, (last + 1) * b))) last--;
    if (first > last) return;
    await this.commitRange(first, sealed.subarray(first * b, (last + 1) * b));
  }

  private async commitRange(first: number, sealed: Buffer): Promise<void> {
    const record = await this.image.commit(this.journal.lastSeq, first, Buffer.from(sealed));
    this.journal = { kind: 'none', record, lastSeq: record.seq };
  }

  /** Writes refuse a damaged store: recovery decides what to keep, not a `set` that happens to run. */
  private requireClean(decoded: StoreView): void {
    const problems = [];
    if (this.headers.primary !== 'ok' || this.headers.copy !== 'ok') problems.push('a damaged header');
    if (this.badData.length || this.badSpare.length) problems.push(`${this.badData.length + this.badSpare.length} bad sector(s)`);
    if (decoded.damaged) problems.push(`${decoded.damaged} damaged store entr(ies)`);
    if (problems.length)
      throw new SalvorError('SALVOR_CORRUPT', `${this.device.path} has ${problems.join(' and ')}; run salvor nvram recover first`, {
        path: this.device.path,
      });
  }

  /** Finishes an interrupted write on the device before a new one starts. */
  async prepareWrite(): Promise<void> {
    this.requireWritable('write');
    await this.finishJournal();
  }

  /** Persists the journal resolution that open applied in memory; returns what it did. */
  async finishJournal(): Promise<JournalAction['kind']> {
    const action = this.journal;
    if (action.kind === 'none') return 'none';
    const { first, count, seq } = action.record;
    const target = action.kind === 'roll-forward' ? this.image.geo.dataStart : this.image.geo.spareStart;
    await this.image.write(target + first, Buffer.from(this.image.sectors(target + first, count)));
    await this.image.flush();
    await this.image.stamp(seq, Stage.closed);
    this.journal = { kind: 'none', record: action.record, lastSeq: action.lastSeq };
    return action.kind;
  }

  requireWritable(what: string): void {
    if (this.closed) throw new SalvorError('SALVOR_CLOSED', `NVRAM ${this.device.path} is closed`, { path: this.device.path });
    if (!this.options.writable)
      throw new SalvorError('SALVOR_READ_ONLY', `NVRAM ${this.device.path} was opened read-only; cannot ${what}`, { path: this.device.path });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.device.close();
  }
}

/** Opens a salvor-format NVRAM: lock, read headers and the whole image, settle any interrupted write in memory, verify every sector. */
export async function openSalvorStore(path: string, opener: DeviceOpener, options: OpenSalvorOptions): Promise<SalvorNvram> {
  const device = await opener(path, { writable: options.writable });
  try {
    await device.lock(options.writable, options.lockTimeoutMs ?? 10_000);
    const headers = await readHeaders(device, options);
    const geo = headers.geometry;
    const image = new NvramImage(geo, await device.read(0, geo.size), options.writable ? device : undefined);
    const journal = planJournal(image.sectors(JOURNAL_SECTOR), image.sectors(STAMP_SECTOR), (r) => image.spare(r.first, r.count), geo);
    if (journal.kind !== 'none') applyInMemory(image, journal.kind, journal.record);
    const verify = (region: Buffer) => callNativeAsync(() => addon().verifySectorsAsync(region, geo.sectorSize, 0), path);
    const [badData, badSpare] = await Promise.all([verify(image.data(0, geo.dataSectors)), verify(image.spare(0, geo.dataSectors))]);
    const worse = judgeMismatches(image, new Set(badData), new Set(badSpare));
    return new SalvorNvram(device, image, headers, journal, [...badData, ...worse.data], [...badSpare, ...worse.spare], options);
  } catch (err) {
    await device.close();
    throw err;
  }
}

/** Copies the valid sectors of the journal range from the side that holds the outcome to the other. */
function applyInMemory(image: NvramImage, kind: 'roll-forward' | 'roll-back', r: JournalRecord): void {
  const b = image.geo.sectorSize;
  const [from, to] = kind === 'roll-forward' ? [image.spare(r.first, r.count), image.data(r.first, r.count)] : [image.data(r.first, r.count), image.spare(r.first, r.count)];
  const bad = new Set(addon().verifySectors(from, b, r.first));
  for (let k = 0; k < r.count; k++) if (!bad.has(k)) from.copy(to, k * b, k * b, (k + 1) * b);
}

/**
 * What a reader gets for a damaged store: the readable entries and the damage, by name where any
 * copy of the name survives (the CLI prints both and exits 4).
 */
export class DamagedStoreError extends SalvorError {
  constructor(
    path: string,
    message: string,
    readonly entries: NvramEntry[],
    readonly damagedKeys: string[],
    readonly unnamedDamage: number,
  ) {
    super('SALVOR_DAMAGED', message, { path });
  }
}

function damagedError(path: string, view: StoreView, key?: string): DamagedStoreError {
  const named = view.damagedKeys.length ? `damaged entries: ${view.damagedKeys.join(', ')}` : '';
  const unnamed = view.unnamedDamage ? `${view.unnamedDamage} damaged stretch(es) whose key name did not survive` : '';
  const what = [named, unnamed].filter(Boolean).join('; ');
  const lost = view.lostSectors.length ? ` (data sector(s) ${view.lostSectors.join(', ')} and their spares fail their CRC)` : '';
  const head = key === undefined ? `${path} has ${what}` : view.damagedKeys.includes(key) ? `key '${key}' in ${path} is damaged` : `key '${key}' is not among the readable entries of ${path}, which has ${what}`;
  const message = `${head}${key !== undefined && view.damagedKeys.includes(key) ? lost : key === undefined ? lost : ''}; run salvor nvram recover`;
  return new DamagedStoreError(path, message, view.entries, view.damagedKeys, view.unnamedDamage);
}
