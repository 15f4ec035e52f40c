import { SalvorError } from '../../bindings/salvor-error';
import type { DeviceOpener } from './device';
import type { StoreTarget } from './open';
import type { NvramStore } from './store';

/** Opens a U-Boot environment for the CLI (lib/nvram/uboot/ holds the format). */
export async function openUbootFromCli(t: StoreTarget & { writable: boolean }, _opener: DeviceOpener): Promise<NvramStore> {
  throw new SalvorError('SALVOR_USAGE', `--uboot-config ${t.ubootConfig}: U-Boot support is being wired in`);
}
