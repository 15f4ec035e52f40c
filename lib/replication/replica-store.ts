import { open, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { writeFileAtomic } from '../state-file/write-file-atomic';
import { SalvorError } from '../../bindings/salvor-error';
import { crc32c } from '../../bindings/crc';
import { hashPages, xxh64 } from '../../bindings/hash-scan';
import { applyPageDeltas } from '../../bindings/page-delta';
import { PageSet, runPageCount, runsToIndexes } from './page-sets';
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
/** Bytes read per step when fingerprinting a replica that is already on disk. */
const HASH_READ_BYTES = 8 * 1024 * 1024;
/** A joining replica whose disk is slower than the link holds at most this much in writes in flight. */
const MAX_WRITING_BYTES = 64 * 1024 * 1024;

/** Digest of a whole region: XXH64 over its page fingerprints (the primary computes the same). */
export function regionDigest(pageHashes: Buffer): string {
  return xxh64(pageHashes).toString(16).padStart(16, '0');
}

/**
 * The replica lives in its file; the standby keeps no image of the region in memory. How an epoch's
 * pages travel until its commit depends on what the replica is:
 * - not yet a whole state (joining: meta absent or synced false): pages go straight into the file with
 *   positional writes of whole runs, issued as they arrive and running on the thread pool while the next
 *   message is received; nothing may promote such a replica, and the meta renamed last makes it whole;
 * - a whole state (synced): pages are staged in memory and written journal first at commit, so a crash
 *   mid-apply never tears it.
 * Page fingerprints are kept for the whole region, for the epoch digest and a partial resync.
 */
export class ReplicaStore {
  private hashes: Buffer | undefined;
  private pageSize = 0;
  private pageCount = 0;
  /** Pages taken into the epoch in progress. */
  private touched: PageSet | undefined;
  /** Staged pages of the epoch in progress (whole state only): page number -> its new bytes. */
  private readonly staged = new Map<number, Buffer>();
  /** Positional writes in flight (joining only), and the first one that failed. */
  private writes: Promise<unknown>[] = [];
  private writingBytes = 0;
  private writeFailure: Error | undefined;
  private fh: FileHandle | undefined;

  private constructor(
    readonly path: string,
    public meta: ReplicaMeta | undefined,
  ) {}

  /**
   * Opens the replica at `path`, creating it (empty, mode 0600) when absent, so a path that cannot be
   * written fails here, before any peer is contacted. An existing file that is not a replica (no meta
   * beside it, not empty) is refused as bad input unless `force`: a mistyped path must not overwrite
   * someone's file.
   */
  static async open(path: string, options: { force?: boolean } = {}): Promise<ReplicaStore> {
    const meta = await readMeta(path);
    const existing = await stat(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw SalvorError.fromNode(e, path);
    });
    if (existing && !existing.isFile()) throw new SalvorError('SALVOR_BAD_INPUT', `replica ${path}: not a regular file`, { path });
    if (existing && !meta && existing.size > 0 && !options.force)
      throw new SalvorError('SALVOR_BAD_INPUT', `replica ${path}: an existing file of ${existing.size} bytes that is not a replica (no ${path}.meta.json beside it); give --force to replace it`, { path });
    const fh = await open(path, 'a', 0o600).catch((e: unknown) => {
      const err = SalvorError.fromNode(e, path);
      throw new SalvorError(err.code, `replica ${path}: cannot be created or written: ${err.message}`, { errno: err.errno, syscall: err.syscall, path });
    });
    await fh.close();
    const store = new ReplicaStore(path, meta);
    await store.replayJournal();
    return store;
  }

  /** Sizes the replica for the primary's region (from the welcome) and fingerprints it; a size change starts it afresh. */
  async prepare(regionSize: number, pageSize: number): Promise<void> {
    await this.settleWrites().catch(() => undefined);
    await this.fh?.close();
    this.fh = undefined;
    const fresh = !this.meta || this.meta.regionSize !== regionSize || this.meta.pageSize !== pageSize;
    this.fh = await open(this.path, fresh ? 'w+' : 'r+', 0o600).catch((e) => {
      throw SalvorError.fromNode(e, this.path);
    });
    this.pageSize = pageSize;
    this.pageCount = regionSize / pageSize;
    this.hashes = Buffer.alloc(this.pageCount * 8);
    if (fresh) {
      await this.fh.truncate(regionSize);
      await this.fh.chmod(0o600); // a replaced file (--force) keeps no wider mode than a new replica
      this.meta = undefined;
      // Every page of a fresh replica is zero: one fingerprint, repeated.
      const zero = Buffer.alloc(8);
      hashPages(Buffer.alloc(pageSize), pageSize, zero);
      for (let at = 0; at < this.hashes.length; at += 8) zero.copy(this.hashes, at);
    } else {
      const chunk = Buffer.alloc(Math.min(regionSize, Math.max(pageSize, HASH_READ_BYTES - (HASH_READ_BYTES % pageSize))));
      for (let at = 0; at < regionSize; at += chunk.length) {
        const want = Math.min(chunk.length, regionSize - at);
        const { bytesRead } = await this.fh.read(chunk, 0, want, at);
        chunk.fill(0, bytesRead, want); // a short file reads as zeros, as the old in-memory image did
        hashPages(chunk.subarray(0, want), pageSize, this.hashes.subarray((at / pageSize) * 8, ((at + want) / pageSize) * 8));
      }
    }
    this.touched = new PageSet(this.pageCount);
    this.staged.clear();
  }

  /** Page fingerprints of what the replica holds, for a partial resync (prepare first). */
  pageHashes(): Buffer {
    return this.hashes!;
  }

  get prepared(): boolean {
    return this.hashes !== undefined;
  }

  /** Whether this epoch's pages go straight into the file (the replica is not a whole state yet). */
  private get direct(): boolean {
    return this.meta?.synced !== true;
  }

  private checkRuns(runs: PageRun[], bytes: number, what: string): void {
    const count = runPageCount(runs);
    if (bytes !== count * this.pageSize || runs.some((r) => !Number.isInteger(r.first) || !Number.isInteger(r.count) || r.first < 0 || r.count < 1 || r.first + r.count > this.pageCount))
      throw new SalvorError('SALVOR_BAD_FRAME', `a page message carries ${bytes} bytes of ${what} for ${count} pages of a ${this.pageCount}-page replica`);
  }

  /** Applies a page delta stream for the pages of `runs` (compact, in run order) to the epoch in progress. */
  async applyPages(runs: PageRun[], stream: Buffer): Promise<void> {
    this.checkRuns(runs, runPageCount(runs) * this.pageSize, 'deltas');
    const compact = await this.currentPages(runs);
    applyPageDeltas(compact, stream, this.pageSize);
    await this.take(runs, compact, false);
  }

  /** Takes whole pages (a join sends them as they are) into the epoch in progress. */
  async applyRaw(runs: PageRun[], pages: Buffer): Promise<void> {
    this.checkRuns(runs, pages.length, 'pages');
    await this.take(runs, pages, true);
  }

  /** The pages of `runs` as the epoch in progress has them: staged, else what the file holds. */
  private async currentPages(runs: PageRun[]): Promise<Buffer> {
    const size = this.pageSize;
    await this.settleWrites();
    const out = Buffer.allocUnsafe(runPageCount(runs) * size);
    let at = 0;
    for (const r of runs) {
      const { bytesRead } = await this.fh!.read(out, at, r.count * size, r.first * size);
      out.fill(0, at + bytesRead, at + r.count * size);
      for (let p = r.first; p < r.first + r.count; p++) this.staged.get(p)?.copy(out, at + (p - r.first) * size);
      at += r.count * size;
    }
    return out;
  }

  /**
   * Into the file now (joining; fingerprints taken from the message, while it is in the cache), or into
   * the stage (a whole state: copied when the bytes are the sender's, fingerprinted at commit).
   */
  private async take(runs: PageRun[], pages: Buffer, borrowed: boolean): Promise<void> {
    const size = this.pageSize;
    if (this.direct) {
      // Two writes of one page in flight at once could land in either order: the later waits.
      if (this.writingBytes + pages.length > MAX_WRITING_BYTES || this.touched!.hasAnyOf(runs)) await this.settleWrites();
      this.writingBytes += pages.length;
      let at = 0;
      for (const r of runs) {
        const bytes = pages.subarray(at, at + r.count * size);
        hashPages(bytes, size, this.hashes!.subarray(r.first * 8, (r.first + r.count) * 8));
        const write = this.fh!.write(bytes, 0, bytes.length, r.first * size).catch((err: Error) => {
          this.writeFailure ??= SalvorError.fromNode(err, this.path);
        });
        this.writes.push(write);
        this.touched!.addRun(r.first, r.count);
        at += bytes.length;
      }
      return;
    }
    const own = borrowed ? Buffer.from(pages) : pages;
    let at = 0;
    for (const r of runs) {
      for (let p = r.first; p < r.first + r.count; p++, at += size) this.staged.set(p, own.subarray(at, at + size));
      this.touched!.addRun(r.first, r.count);
    }
  }

  /** Waits for the positional writes in flight; rejects with the first that failed. */
  private async settleWrites(): Promise<void> {
    while (this.writes.length) await Promise.all(this.writes.splice(0));
    this.writingBytes = 0;
    const failure = this.writeFailure;
    this.writeFailure = undefined;
    if (failure) throw failure;
  }

  /**
   * Makes the pages received since the last epoch the replica's new state, atomically. The digest must
   * equal the primary's: a mismatch means the copies diverged, and the epoch is refused.
   */
  async commitEpoch(e: { epoch: number; term: string; primary: string; digest: string | undefined; synced: boolean; persist: boolean }): Promise<void> {
    const pageSize = this.pageSize;
    const journaled = !this.direct;
    await this.settleWrites();
    const runs = this.touched!.take(this.touched!.size);
    // Staged pages are fingerprinted now; the old fingerprints come back if the digest is refused.
    const before = journaled ? runs.map((r) => Buffer.from(this.hashes!.subarray(r.first * 8, (r.first + r.count) * 8))) : [];
    if (journaled) for (const r of runs) for (let p = r.first; p < r.first + r.count; p++) hashPages(this.staged.get(p)!, pageSize, this.hashes!.subarray(p * 8, p * 8 + 8));
    const digest = regionDigest(this.hashes!);
    if (e.digest !== undefined && digest !== e.digest) {
      runs.forEach((r, i) => before[i]?.copy(this.hashes!, r.first * 8));
      this.staged.clear();
      throw new SalvorError('SALVOR_DIVERGED', `replica ${this.path} digest ${digest} differs from the primary's ${e.digest} at epoch ${e.epoch}`);
    }
    const meta: ReplicaMeta = { epoch: e.epoch, term: e.term, primary: e.primary, regionSize: this.pageCount * pageSize, pageSize, digest, synced: e.synced };
    const metaJson = Buffer.from(JSON.stringify(meta, null, 2) + '\n');
    // Only a whole state (meta synced) must never be torn, so only its epochs go through the journal.
    // Before that (joining, and the epoch that ends the join) nothing may promote the replica while the
    // meta says synced: false, so pages went straight in and the meta, renamed last, makes it whole.
    if (journaled) {
      await writeFileAtomic(`${this.path}.journal`, this.journalFor(e.epoch, runs, pageSize, metaJson), { durable: e.persist });
      await this.writeStaged(runs, pageSize);
    }
    if (e.persist) await this.fh!.sync();
    await writeFileAtomic(`${this.path}.meta.json`, metaJson, { durable: e.persist });
    if (journaled) await rm(`${this.path}.journal`, { force: true });
    this.staged.clear();
    this.meta = meta;
  }

  /**
   * Drops an epoch that did not complete (the primary went away mid-epoch): staged pages are forgotten.
   * Pages a joining replica already took stay in its file (its fingerprints say so); it is no whole state.
   */
  async abortEpoch(): Promise<void> {
    if (!this.touched) return;
    await this.settleWrites().catch(() => undefined);
    this.touched.take(this.touched.size);
    this.staged.clear();
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
    const pages = Array.from(indexes, (p) => this.staged.get(p)!);
    const body = Buffer.concat([head, idx, ...pages, metaLen, metaJson]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(crc32c(body));
    return Buffer.concat([body, crc]);
  }

  /** Writes the staged pages into the replica, one gathered positional write per run of pages. */
  private async writeStaged(runs: PageRun[], pageSize: number): Promise<void> {
    for (const r of runs) {
      const pages: Buffer[] = [];
      for (let p = r.first; p < r.first + r.count; p++) pages.push(this.staged.get(p)!);
      await this.fh!.writev(pages, r.first * pageSize);
    }
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
    await this.settleWrites().catch(() => undefined);
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
