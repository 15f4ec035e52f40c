import type { NvramDevice } from './device';
import { DIGEST_CRC32, encodeRecord, encodeStamp, rangeDigest, Stage, type JournalRecord } from './journal';
import { JOURNAL_SECTOR, STAMP_SECTOR, sealSector, TRAILER, type Geometry } from './layout';

/**
 * The whole NVRAM held in memory next to its device: reads come from memory, every write goes to
 * both. NVRAM parts are small (at most 256 MiB), and one read at open lets check verify all
 * sectors in one native call.
 */
export class NvramImage {
  constructor(
    readonly geo: Geometry,
    readonly bytes: Buffer,
    private readonly device: NvramDevice | undefined,
  ) {}

  get payloadSize(): number {
    return this.geo.sectorSize - TRAILER;
  }

  sectors(first: number, count = 1): Buffer {
    const b = this.geo.sectorSize;
    return this.bytes.subarray(first * b, (first + count) * b);
  }
  data(i: number, count = 1): Buffer {
    return this.sectors(this.geo.dataStart + i, count);
  }
  spare(i: number, count = 1): Buffer {
    return this.sectors(this.geo.spareStart + i, count);
  }

  /** Writes whole physical sectors (to memory, and to the device when there is one). */
  async write(firstSector: number, contents: Buffer): Promise<void> {
    contents.copy(this.bytes, firstSector * this.geo.sectorSize);
    if (this.device) await this.device.write(firstSector * this.geo.sectorSize, contents);
  }
  async writeAt(offset: number, contents: Buffer): Promise<void> {
    contents.copy(this.bytes, offset);
    if (this.device) await this.device.write(offset, contents);
  }
  async flush(): Promise<void> {
    if (this.device) await this.device.flush();
  }

  /** Builds sealed data sectors from a payload stream (each sector gets payloadSize bytes of it). */
  sealData(first: number, payload: Buffer): Buffer {
    const p = this.payloadSize;
    const count = Math.ceil(payload.length / p);
    const out = Buffer.alloc(count * this.geo.sectorSize);
    for (let k = 0; k < count; k++) {
      const s = out.subarray(k * this.geo.sectorSize, (k + 1) * this.geo.sectorSize);
      payload.copy(s, 0, k * p, Math.min((k + 1) * p, payload.length));
      sealSector(s, first + k);
    }
    return out;
  }

  /**
   * Replaces data sectors [first, first+count) atomically: record, spare range, stamp, data range,
   * stamp; each step flushed before the next. After a cut at any write, journal recovery yields
   * exactly the old contents or exactly the new.
   */
  async commit(lastSeq: bigint, first: number, sealed: Buffer): Promise<JournalRecord> {
    const count = sealed.length / this.geo.sectorSize;
    const record: JournalRecord = { seq: lastSeq + 1n, first, count, newCrc: rangeDigest(sealed, this.geo.sectorSize), digest: DIGEST_CRC32 };
    await this.write(JOURNAL_SECTOR, encodeRecord(record, this.geo.sectorSize));
    await this.flush();
    await this.write(this.geo.spareStart + first, sealed);
    await this.flush();
    await this.stamp(record.seq, Stage.spareWritten);
    await this.write(this.geo.dataStart + first, sealed);
    await this.flush();
    await this.stamp(record.seq, Stage.closed);
    return record;
  }

  async stamp(seq: bigint, stage: (typeof Stage)[keyof typeof Stage]): Promise<void> {
    const s = encodeStamp(seq, stage);
    await this.writeAt(STAMP_SECTOR * this.geo.sectorSize + s.offset, s.bytes);
    await this.flush();
  }
}
