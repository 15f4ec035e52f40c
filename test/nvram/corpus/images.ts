import { crc32c } from '@node-rs/crc32';
import { flipByte, patchFile, readBytes, seededBytes } from '../helpers';
import { writeFileSync } from 'node:fs';

/**
 * The corpus of damaged NVRAM images: each built deterministically from one base image, with the
 * result check and recover must give and what a reader sees afterwards. The base is a 16 KiB image
 * with 256-byte sectors (0 header, 1 copy, 2 journal record, 3 stamps, data 4..33, spare 34..63),
 * defaults {"mode": "factory"} recorded at format, then `set serial SN-0001` and `set hostname edge-7`.
 * The store blob then sits in data sector 0: hostname at blob bytes 8..37, mode 38..64, serial 65..93.
 */
export const B = 256;
export const DATA = 4;
export const SPARE = 34;
export const DEFAULTS = { mode: 'factory' };
export const WRITTEN = { hostname: 'edge-7', mode: 'factory', serial: 'SN-0001' };
export const SERIAL_AT = 65;

export interface Expected {
  code: number;
  json: Record<string, unknown>;
}

export interface CorpusImage {
  name: string;
  /** Damages the image at `img` in place (and may remove the recorded state). */
  damage(img: string, ctx: { dropState(): void; run(args: string[], env?: Record<string, string>): Promise<{ code: number | null }> }): void | Promise<void>;
  check: Expected;
  /** What `get serial` gives before recover: its exit code and, on success, the value. */
  getBefore?: { code: number; value?: string };
  recover: Expected;
  /** `list` after recover. */
  after: Record<string, string>;
  /** Bytes that must survive recover unchanged: [offset, length] in the damaged image. */
  untouched?: [number, number][];
}

/** Rewrites a sector with its CRC recomputed after `change`: damage no CRC check can see. */
function resealed(img: string, sector: number, change: (s: Buffer) => void): void {
  const bytes = readBytes(img);
  const s = bytes.subarray(sector * B, (sector + 1) * B);
  change(s);
  s.writeUInt32LE(crc32c(s.subarray(0, B - 4)), B - 4);
  writeFileSync(img, bytes);
}

const kept = { ...WRITTEN };
const headersRebuilt = (geometryFrom: string): Pick<CorpusImage, 'check' | 'recover' | 'after' | 'getBefore'> => ({
  check: { code: 4, json: { header: 'rebuilt-from-geometry', geometryFrom, headers: { primary: 'bad', copy: 'bad' }, badSectors: [{ sector: 0, source: 'geometry' }, { sector: 1, source: 'geometry' }] } },
  getBefore: { code: 0, value: 'SN-0001' },
  recover: { code: 1, json: { header: 'rebuilt-from-geometry', recovered: [{ sector: 0, source: 'geometry' }, { sector: 1, source: 'geometry' }], recoveredKeys: ['hostname', 'mode', 'serial'], restoredKeys: [], lostKeys: [], lostUnnamed: 0, clean: true } },
  after: kept,
});

export const corpus: CorpusImage[] = [
  {
    name: 'both header CRCs broken (bytes 100 and 356), state kept: headers rebuilt from the state, every key kept',
    damage: (img) => {
      flipByte(img, 100);
      flipByte(img, B + 100);
    },
    ...headersRebuilt('state'),
  },
  {
    name: 'both header CRCs broken, state lost: the geometry the damaged headers still state',
    damage: (img, ctx) => {
      flipByte(img, 100);
      flipByte(img, B + 100);
      ctx.dropState();
    },
    ...headersRebuilt('header-fields'),
  },
  {
    name: 'both headers overwritten past the magic, state lost: the geometry from a scan of the sectors',
    damage: (img, ctx) => {
      patchFile(img, 8, seededBytes(B - 8, 11));
      patchFile(img, B + 8, seededBytes(B - 8, 12));
      ctx.dropState();
    },
    ...headersRebuilt('scan'),
  },
  {
    name: 'both headers with a valid CRC over a wrong sector count, state kept: not trusted, rebuilt',
    damage: (img) => {
      for (const s of [0, 1]) resealed(img, s, (h) => h.writeUInt32LE(h.readUInt32LE(24) + 1, 24));
    },
    ...headersRebuilt('state'),
  },
  {
    name: 'the primary header with a valid CRC over a wrong data start: restored from the copy',
    damage: (img) => resealed(img, 0, (h) => h.writeUInt32LE(5, 32)),
    check: { code: 4, json: { header: 'recovered-from-copy', headers: { primary: 'bad', copy: 'ok' }, badSectors: [{ sector: 0, source: 'header-copy' }] } },
    recover: { code: 1, json: { header: 'recovered-from-copy', recovered: [{ sector: 0, source: 'header-copy' }], lostKeys: [], clean: true } },
    after: kept,
  },
  {
    name: 'a data sector and its spare both damaged: every key that lived there reported by name',
    damage: (img) => {
      flipByte(img, DATA * B + SERIAL_AT + 21);
      flipByte(img, SPARE * B + SERIAL_AT + 21);
    },
    check: {
      code: 4,
      json: {
        badSectors: [{ sector: DATA, source: 'defaults' }, { sector: SPARE, source: 'defaults' }],
        store: { entries: 0, damagedKeys: ['hostname', 'mode', 'serial'], unnamedDamage: 0 },
        clean: false,
      },
    },
    getBefore: { code: 4 },
    recover: { code: 1, json: { restoredKeys: ['mode'], lostKeys: ['hostname', 'serial'], lostUnnamed: 0, clean: true } },
    after: { mode: 'factory' },
  },
  {
    name: 'a data sector with a valid CRC over a wrong length field: the intact spare wins and is kept',
    damage: (img) => resealed(img, DATA, (s) => s.writeUInt32LE(s.readUInt32LE(SERIAL_AT + 8) + 3, SERIAL_AT + 8)),
    check: { code: 4, json: { badSectors: [{ sector: DATA, source: 'spare' }], store: { entries: 3, damagedEntries: 0 }, clean: false } },
    getBefore: { code: 0, value: 'SN-0001' },
    recover: { code: 1, json: { recovered: [{ sector: DATA, source: 'spare' }], lostKeys: [], clean: true } },
    after: kept,
    untouched: [[SPARE * B, B]],
  },
  {
    name: 'a spare sector with a valid CRC over a wrong length field: restored from the data sector',
    damage: (img) => resealed(img, SPARE, (s) => s.writeUInt32LE(s.readUInt32LE(SERIAL_AT + 8) + 3, SERIAL_AT + 8)),
    check: { code: 4, json: { badSectors: [{ sector: SPARE, source: 'data' }], clean: false } },
    getBefore: { code: 0, value: 'SN-0001' },
    recover: { code: 1, json: { recovered: [{ sector: SPARE, source: 'data' }], clean: true } },
    after: kept,
    untouched: [[DATA * B, B]],
  },
  {
    name: 'both copies with a valid CRC over a wrong length field: the key reported damaged, then lost by name',
    damage: (img) => {
      for (const s of [DATA, SPARE]) resealed(img, s, (b) => b.writeUInt32LE(b.readUInt32LE(SERIAL_AT + 8) + 3, SERIAL_AT + 8));
    },
    check: { code: 4, json: { badSectors: [], store: { entries: 2, damagedEntries: 1, damagedKeys: ['serial'] }, clean: false } },
    getBefore: { code: 4 },
    recover: { code: 1, json: { recovered: [], lostKeys: ['serial'], restoredKeys: [], clean: true } },
    after: { hostname: 'edge-7', mode: 'factory' },
  },
  {
    name: 'a power cut while setting serial SN-0002 (nvram-cut:1:7:torn): rolled back, and reported so',
    damage: async (img, ctx) => {
      const r = await ctx.run(['nvram', 'set', '--device', img, 'serial', 'SN-0002'], { SALVOR_FAULT: 'nvram-cut:1:7:torn', SALVOR_FAULT_ACTION: 'throw' });
      if (r.code !== 8) throw new Error(`the cut set exited ${r.code}, not 8`);
    },
    check: { code: 4, json: { journal: 'roll-back', badSectors: [], clean: false } },
    getBefore: { code: 0, value: 'SN-0001' },
    recover: { code: 1, json: { journal: 'rolled-back', recovered: [], clean: true } },
    after: kept,
  },
  {
    name: 'a power cut after the new contents reached the spare (nvram-cut:3:7:lose): rolled forward, and reported so',
    damage: async (img, ctx) => {
      const r = await ctx.run(['nvram', 'set', '--device', img, 'serial', 'SN-0002'], { SALVOR_FAULT: 'nvram-cut:3:7:lose', SALVOR_FAULT_ACTION: 'throw' });
      if (r.code !== 8) throw new Error(`the cut set exited ${r.code}, not 8`);
    },
    check: { code: 4, json: { journal: 'roll-forward', badSectors: [], clean: false } },
    getBefore: { code: 0, value: 'SN-0002' },
    recover: { code: 1, json: { journal: 'rolled-forward', recovered: [], clean: true } },
    after: { ...kept, serial: 'SN-0002' },
  },
];
