import type { DeviceOpener } from './device';
import { openSalvorStore } from './salvor-store';
import type { NvramStore } from './store';

/** Which NVRAM to open: a salvor-format device, or a U-Boot environment by its fw_env.config. */
export interface StoreTarget {
  device?: string;
  ubootConfig?: string;
  stateDir: string;
  sectorSize?: number;
  defaultsPath?: string;
  lockTimeoutMs?: number;
}

export async function openStore(t: StoreTarget & { writable: boolean }, opener: DeviceOpener): Promise<NvramStore> {
  if (t.ubootConfig) {
    const { openUbootFromCli } = await import('./uboot-target');
    return openUbootFromCli(t, opener);
  }
  return openSalvorStore(t.device!, opener, t);
}
