import type { TrackerKind } from './dirty-tracker';

/**
 * The auto policy: per round, the cheaper of a fault-based tracker (cost paid by writers: write
 * faults times written pages, plus its scan) and the hash scan (cost: region size over hash
 * throughput), judged on the pages written in the round just collected.
 */
export interface RoundFigures {
  regionBytes: number;
  dirtyPages: number;
  /** The fault-based kind available for this region, if any. */
  faultKind: TrackerKind | undefined;
  writeFaultNs: number | undefined;
  /** The fault tracker's collect with nothing written, ns per region byte (EWMA; 0 before a measurement). */
  faultScanNsPerByte: number;
  /** What each written page adds to the fault tracker's collect (reporting and re-protecting it), ns. */
  faultScanNsPerPage: number;
  /** Measured hash scan cost, ns per byte (EWMA); undefined before the first hash round. */
  hashNsPerByte: number | undefined;
  current: TrackerKind;
}

export interface Decision {
  kind: TrackerKind;
  reason: string;
  predictedNs: { fault?: number; hash?: number };
}

/** A switch must win by this much, so rounds near the break-even point do not flap. */
export const SWITCH_MARGIN = 0.15;

/** Hash throughput assumed before the first measurement: conservative, so auto starts fault-based. */
export const DEFAULT_HASH_NS_PER_BYTE = 1 / 8; // 8 GB/s

export function decide(f: RoundFigures): Decision {
  if (!f.faultKind || f.writeFaultNs === undefined)
    return { kind: 'hash', reason: 'no fault-based tracker can watch this region', predictedNs: {} };
  const hashNs = f.regionBytes * (f.hashNsPerByte ?? DEFAULT_HASH_NS_PER_BYTE);
  const faultNs = f.dirtyPages * (f.writeFaultNs + f.faultScanNsPerPage) + f.regionBytes * f.faultScanNsPerByte;
  const predictedNs = { fault: Math.round(faultNs), hash: Math.round(hashNs) };
  const figures = `${f.dirtyPages} pages written x ${f.writeFaultNs.toFixed(0)} ns per fault + scan = ${fmt(faultNs)} vs hash scan of ${f.regionBytes} bytes = ${fmt(hashNs)}`;
  if (f.current === 'hash') {
    if (faultNs < hashNs * (1 - SWITCH_MARGIN)) return { kind: f.faultKind, reason: `${f.faultKind} is cheaper: ${figures}`, predictedNs };
    return { kind: 'hash', reason: `hash scan stays: ${figures}`, predictedNs };
  }
  if (hashNs < faultNs * (1 - SWITCH_MARGIN)) return { kind: 'hash', reason: `hash scan is cheaper: ${figures}`, predictedNs };
  return { kind: f.current, reason: `${f.current} stays: ${figures}`, predictedNs };
}

function fmt(ns: number): string {
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(1)} us`;
}
