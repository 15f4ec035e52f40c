/**
 * This process's aux vector (/proc/self/auxv): the values the addon's getauxval() sees. qemu-user
 * answers for the guest here, so tests read the emulated CPU's HWCAP and page size, not the host's.
 */
import { existsSync, readFileSync } from 'node:fs';

export const AT_PAGESZ = 6n;
export const AT_HWCAP = 16n;
export const HWCAP_CRC32 = 1n << 7n; // arm64: arch/arm64/include/uapi/asm/hwcap.h

/** The value of one aux vector entry, or undefined when the entry or /proc/self/auxv is absent. */
export function auxvEntry(type: bigint): bigint | undefined {
  if (!existsSync('/proc/self/auxv')) return undefined;
  const auxv = readFileSync('/proc/self/auxv');
  for (let off = 0; off + 16 <= auxv.length; off += 16) {
    const key = auxv.readBigUInt64LE(off);
    if (key === 0n) break;
    if (key === type) return auxv.readBigUInt64LE(off + 8);
  }
  return undefined;
}
