import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { writeFileAtomic } from '../agent/state-file';
import { SalvorError } from '../../bindings/salvor-error';
import { crc32c } from '../../bindings/crc';
import { hashPages, xxh64 } from '../../bindings/hash-scan';
import { applyPageDeltas } from '../../bindings/page-delta';
import { gatherRuns, PageSet, runsToIndexes, scatterRuns } from './page-sets';
import type { PageRun } from './dirty-tracker';

/**
 * The standby's copy of the primary's region: REPLICA (the pages), REPLICA.meta.json (which epoch of
 * which term it holds) and, only while an epoch is being applied, REPLICA.journal. An epoch is applied
 * journal first (flushed), then into the replica file, then the meta, then the journal goes: a crash
 * at any point leaves the replica at the old epoch or, by replaying the journal at open, the new one.
 */
export interface ReplicaMeta {
  epoch: number;
  term: string;
  primary: string;
  regionSize: number;
  pageSize: number;
  digest: string;
  /** The replica is a whole state of the primary (the join finished), so it may be promoted. */
  synced: boolean;
}

const JOURNAL_MAGIC = Buffer.from('SLVRJNL1', 'latin1');

/** Digest of a whole region: XXH64 over its page fingerprints (the primary computes the same). */
export function regionDigest(pageHashes: Buffer): string {
  return xxh64(pageHashes).toString(16).padStart(16, '0');
}

export class ReplicaStore {
  private working: Buffer | undefined;
  private hashes: Buffer | undefined;
  private touched: PageSet | undefined;
  private fh: FileHandle | undefined;

  private constructor(
    readonly path: string,
    public meta: ReplicaMeta | undefined,
  ) {}

  static async open(path: string): Promise<ReplicaStore> {
    const meta = await readMeta(path);
    const store = new ReplicaStore(path, meta);
    await store.replayJournal();
    return store;
  }

  /** Sizes the replica for the primary's region (from the welcome) and loads it; a size change starts it afresh. */
  async prepare(regionSize: number, pageSize: number): Promise<void> {
    const fresh = !this.meta || this.meta.regionSize !== regionSize || this.meta.pageSize !== pageSize;
    this.fh = await open(this.path, fresh ? 'w+' : 'r+', 0o600).catch((e) => {
      throw SalvorError.fromNode(e, this.path);
    });
    if (fresh) {
      await this.fh.truncate(regionSize);
      this.meta = undefined;
    }
    this.working = Buffer.alloc(regionSize);
    if (!fresh) await this.fh.read(this.working, 0, regionSize, 0);
    this.hashes = Buffer.alloc((regionSize / pageSize) * 8);
    hashPages(this.working, pageSize, this.hashes);
    this.touched = new PageSet(regionSize / pageSize);
  }

  /** Page fingerprints of what the replica holds, for a partial resync (prepare first). */
  pageHashes(): Buffer {
    return this.hashes!;
  }

  /** Applies a page delta stream for the pages of `runs` (compact, in run order) to the epoch in progress. */
  applyPages(runs: PageRun[], stream: Buffer): void {
    const pageSize = this.pageSizeOf();
    const compact = gatherRuns(this.working!, runs, pageSize);
    applyPageDeltas(compact, stream, pageSize);
    scatterRuns(compact, runs, this.working!, pageSize);
    for (const r of runs) this.touched!.addRun(r.first, r.count);
  }

  /** Takes whole pages (a join sends them as they are) into the epoch in progress. */
  applyRaw(runs: PageRun[], pages: Buffer): void {
    const pageSize = this.pageSizeOf();
    const count = runs.reduce((n, r) => n + r.count, 0);
    if (pages.length !== count * pageSize || runs.some((r) => r.first + r.count > this.working!.length / pageSize))
      throw new SalvorError('SALVOR_BAD_FRAME', `a page message carries ${pages.length} bytes for ${count} pages`);
    scatterRuns(pages, runs, this.working!, pageSize);
    for (const r of runs) this.touched!.addRun(r.first, r.count);
  }

  get prepared(): boolean {
    return this.working !== undefined;
  }

  private pageSizeOf(): number {
    return this.working!.length / (this.hashes!.length / 8);
  }

  /**
   * Makes the pages received since the last epoch the replica's new state, atomically. The digest must
   * equal the primary's: a mismatch means the copies diverged, and the epoch is refused.
   */
  async commitEpoch(e: { epoch: number; term: string; primary: string; digest: string | undefined; synced: boolean; persist: boolean }): Promise<void> {
    const pageSize = this.pageSizeOf();
    const runs = this.touched!.take(this.touched!.size);
    for (const r of runs) hashPages(this.working!.subarray(r.first * pageSize, (r.first + r.count) * pageSize), pageSize, this.hashes!.subarray(r.first * 8, (r.first + r.count) * 8));
    const digest = regionDigest(this.hashes!);
    if (e.digest !== undefined && digest !== e.digest) {
      await this.revert(runs);
      throw new SalvorError('SALVOR_DIVERGED', `replica ${this.path} digest ${digest} differs from the primary's ${e.digest} at epoch ${e.epoch}`);
    }
    const meta: ReplicaMeta = { epoch: e.epoch, term: e.term, primary: e.primary, regionSize: this.working!.length, pageSize, digest, synced: e.synced };
    const metaJson = Buffer.from(JSON.stringify(meta, null, 2) + '\n');
    // Only a whole state (meta synced) must never be torn, so only its epochs go through the journal.
    // Before that (joining, and the epoch that ends the join) nothing may promote the replica while the
    // meta says synced: false, so pages go straight in and the meta, renamed last, makes it whole.
    const journaled = this.meta?.synced === true;
    if (journaled) await writeFileAtomic(`${this.path}.journal`, this.journalFor(e.epoch, runs, pageSize, metaJson), { durable: e.persist });
    await this.writeRuns(runs, pageSize, e.persist);
    await writeFileAtomic(`${this.path}.meta.json`, metaJson, { durable: e.persist });
    if (journaled) await rm(`${this.path}.journal`, { force: true });
    this.meta = meta;
  }

  /** Drops an epoch that did not complete (the primary went away mid-epoch): back to the committed pages. */
  async abortEpoch(): Promise<void> {
    if (!this.touched) return;
    await this.revert(this.touched.take(this.touched.size));
  }

  private async revert(runs: PageRun[]): Promise<void> {
    const pageSize = this.pageSizeOf();
    for (const r of runs) await this.fh!.read(this.working!, r.first * pageSize, r.count * pageSize, r.first * pageSize);
  }

  /** The journal of one epoch (layout in docs/formats/replication.md). */
  private journalFor(epoch: number, runs: PageRun[], pageSize: number, metaJson: Buffer): Buffer {
    const indexes = runsToIndexes(runs);
    const head = Buffer.alloc(24);
    JOURNAL_MAGIC.copy(head, 0);
    head.writeBigUInt64LE(BigInt(epoch), 8);
    head.writeUInt32LE(indexes.length, 16);
    head.writeUInt32LE(pageSize, 20);
    const idx = Buffer.from(indexes.buffer, indexes.byteOffset, indexes.byteLength);
    const metaLen = Buffer.alloc(4);
    metaLen.writeUInt32LE(metaJson.length);
    const body = Buffer.concat([head, idx, gatherRuns(this.working!, runs, pageSize), metaLen, metaJson]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(crc32c(body));
    return Buffer.concat([body, crc]);
  }

  /** Writes the epoch's pages from the working copy, one write per run of pages. */
  private async writeRuns(runs: PageRun[], pageSize: number, persist: boolean): Promise<void> {
    for (const r of runs) await this.fh!.write(this.working!, r.first * pageSize, r.count * pageSize, r.first * pageSize);
    if (persist) await this.fh!.sync();
  }

  /** A journal left by a crash mid-apply: complete (CRC good) is replayed, torn is discarded. */
  private async replayJournal(): Promise<void> {
    let j: Buffer;
    try {
      j = await readFile(`${this.path}.journal`);
    } catch {
      return;
    }
    const valid = j.length >= 28 && j.subarray(0, 8).equals(JOURNAL_MAGIC) && crc32c(j.subarray(0, j.length - 4)) === j.readUInt32LE(j.length - 4);
    if (valid) {
      const count = j.readUInt32LE(16);
      const pageSize = j.readUInt32LE(20);
      const fh = await open(this.path, 'r+');
      for (let i = 0; i < count; i++) await fh.write(j, 24 + count * 4 + i * pageSize, pageSize, j.readUInt32LE(24 + i * 4) * pageSize);
      await fh.sync();
      await fh.close();
      const at = 24 + count * (4 + pageSize);
      const metaJson = j.subarray(at + 4, at + 4 + j.readUInt32LE(at));
      await writeFileAtomic(`${this.path}.meta.json`, metaJson, { durable: true });
      this.meta = JSON.parse(metaJson.toString('utf8')) as ReplicaMeta;
    }
    await rm(`${this.path}.journal`, { force: true });
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
  }
}

async function readMeta(path: string): Promise<ReplicaMeta | undefined> {
  try {
    return JSON.parse(await readFile(`${path}.meta.json`, 'utf8')) as ReplicaMeta;
  } catch {
    return undefined;
  }
}
