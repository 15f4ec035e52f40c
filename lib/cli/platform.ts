import type { DeviceOpener } from '../nvram/device';

/** What the composition root (tools/platform.ts) hands the CLI: backends chosen for this machine. */
export interface CliPlatform {
  openNvramDevice: DeviceOpener;
  /** Where salvor keeps its own state ($SALVOR_STATE_DIR, else ./var). */
  stateDir: string;
}
