import type { NvramDevice } from './device';
import { NvramImage } from './image';
import { encodeKv } from './kv-codec';
import { encodeHeader, HEADER_COPY_SECTOR, HEADER_SECTOR, LAYOUT_VERSION, type Geometry, type Header } from './layout';
import { crc32c } from '../../bindings/crc';
import type { NvramEntry } from './store';

/** The data region a store holding exactly `entries` has: sealed sectors, as format writes them. */
export function defaultsImage(geo: Geometry, entries: NvramEntry[]): Buffer {
  const image = new NvramImage(geo, Buffer.alloc(0), undefined);
  return image.sealData(0, encodeKv(entries, geo.dataSectors * image.payloadSize));
}

export function headerFor(geo: Geometry, generation: bigint, defaults: NvramEntry[]): Header {
  return { ...geo, version: LAYOUT_VERSION, generation, defaultsCrc: crc32c(defaultsImage(geo, defaults)) };
}

/**
 * Writes a complete layout holding `entries`: data and spare first, then the header copy, then the
 * header. Until the last write lands the device has no valid header, so a cut during format leaves
 * nothing that could pass for a formatted store.
 */
export async function writeFreshLayout(device: NvramDevice, geo: Geometry, entries: NvramEntry[], generation: bigint): Promise<Header> {
  const header = headerFor(geo, generation, entries);
  const bytes = Buffer.alloc(geo.size);
  const image = new NvramImage(geo, bytes, device);
  const data = defaultsImage(geo, entries);
  // journal record and stamps zeroed: no interrupted write to finish
  await image.write(HEADER_SECTOR, Buffer.alloc(geo.sectorSize * 4));
  await image.write(geo.dataStart, data);
  await image.write(geo.spareStart, data);
  const tail = geo.size - (geo.spareStart + geo.dataSectors) * geo.sectorSize;
  if (tail > 0) await image.write(geo.spareStart + geo.dataSectors, Buffer.alloc(tail));
  await image.flush();
  await image.write(HEADER_COPY_SECTOR, encodeHeader(header, HEADER_COPY_SECTOR));
  await image.flush();
  await image.write(HEADER_SECTOR, encodeHeader(header, HEADER_SECTOR));
  await image.flush();
  return header;
}
