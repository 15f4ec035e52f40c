/**
 * What every NVRAM format offers the CLI and the API: the salvor layout (lib/nvram/layout*) and
 * U-Boot environments (lib/nvram/uboot/). Reports are the JSON that `salvor nvram check|recover --json`
 * prints (docs/cli.md), so field names here are a contract with operators' scripts.
 */
export type NvramValue = { type: 'string'; value: string } | { type: 'int'; value: bigint } | { type: 'bytes'; value: Buffer };

export interface NvramEntry {
  key: string;
  value: NvramValue;
}

/** Where a bad sector's good contents come (or would come) from ('geometry': a header rebuilt from the surviving layout). */
export type SectorSource = 'spare' | 'data' | 'header-copy' | 'redundant-copy' | 'geometry' | 'defaults' | 'none';

/**
 * ok: intact; recovered-from-copy: from the other header; rebuilt-from-geometry: both lost, rebuilt
 * from the geometry that survives, keeping the store; rebuilt-from-defaults: nothing of the store
 * survives. What recover did (or, in check, would do).
 */
export type HeaderOutcome = 'ok' | 'recovered-from-copy' | 'rebuilt-from-geometry' | 'rebuilt-from-defaults' | 'unrecoverable';

export interface SectorFinding {
  /** Physical sector number on the device (U-Boot: the copy number, 0 or 1). */
  sector: number;
  source: SectorSource;
}

export interface CheckReport {
  format: 'salvor' | 'uboot';
  device: string;
  header: HeaderOutcome;
  /** State of each header copy as read (U-Boot: each environment copy). */
  headers: { primary: 'ok' | 'bad'; copy: 'ok' | 'bad' | 'absent' };
  badSectors: SectorFinding[];
  clean: boolean;
  [extra: string]: unknown;
}

export interface RecoverReport extends CheckReport {
  recovered: SectorFinding[];
  /** Bad sectors nothing could restore (source 'none'). */
  uncorrected: SectorFinding[];
}

export interface NvramStore {
  readonly format: 'salvor' | 'uboot';
  check(): Promise<CheckReport>;
  recover(): Promise<RecoverReport>;
  get(key: string): Promise<NvramValue | undefined>;
  list(): Promise<NvramEntry[]>;
  set(key: string, value: NvramValue): Promise<void>;
  /** Returns false when the key was not there (nothing is written then). */
  unset(key: string): Promise<boolean>;
  close(): Promise<void>;
}
