/** The shapes `salvor doctor --json` prints (docs/doctor.md). Version bumps on any incompatible change. */
export const doctorReportVersion = 1;

export type FeatureGroup = 'cpu' | 'kernel' | 'driver';

export interface Feature {
  /** Stable name scripts can test, e.g. 'uffd-wp-async'. */
  id: string;
  group: FeatureGroup;
  present: boolean;
  /** One sentence: what was tried and what it showed; for a "no", what to change. */
  reason: string;
  /** The errno name (EPERM, ENOTTY, ...) or SALVOR_* code behind a "no", when there is one. */
  code?: string;
}

export interface BackendCandidate {
  backend: string;
  usable: boolean;
  reason: string;
}

export interface BackendChoice {
  capability: string;
  /** What salvor would use on this machine (for nvram-devices, every usable kind, comma-separated). */
  backend: string;
  reason: string;
  /** Every backend considered, in order of preference. */
  candidates: BackendCandidate[];
}

export interface DoctorReport {
  version: number;
  machine: { arch: string; kernel: string; addon: { loaded: boolean; reason: string } };
  features: Feature[];
  backends: BackendChoice[];
}
