import { SalvorError } from '../../bindings/salvor-error';
import { defaultHistoryLimits, type HistoryLimits } from './memory-history';

const MiB = 1024 * 1024;
const MIN = 60_000;
const HOUR = 60 * MIN;

/** Every knob of the detector (docs/leak.md lists them with their defaults). Durations in ms. */
export interface LeakOptions extends HistoryLimits {
  /** A segment younger than this is not scored. */
  minAgeMs: number;
  /** The first span of a segment (start-up: loading, first allocations) is left out of every trend. */
  startupMs: number;
  /** The long window the score looks at (shorter while the segment is younger). */
  longWindowMs: number;
  /** The shortest span after an onset of growth that is scored beside the long window (a late leak). */
  recentWindowMs: number;
  /** How far back the onset of a late rise is sought. */
  onsetSearchMs: number;
  /** The short window of the reported current growth rate. */
  shortWindowMs: number;
  /** Troughs: the lowest value within this span around each point (covers GC periods up to it). */
  troughSpanMs: number;
  /** Points the statistics run on at most (buckets are merged down to it). */
  maxPoints: number;
  /** Theil-Sen pairs per fit at most (0: every pair); past it the longest-lag pairs are used. */
  slopePairs: number;
  /** Growth over the window below this is noise whatever the statistics say. */
  noiseFloorBytes: number;
  /** Growth slower than this share of the process's own size per hour is not a leak worth an alert. */
  minRelativeRatePerHour: number;
  /** Autocorrelation of the detrended troughs at which a period is taken as real. */
  minPeriodCorrelation: number;
  /** Score at or above which a target becomes a suspect (the prediction). */
  scoreThreshold: number;
  /** Score below which growth counts as stopped (a suspect is cleared, a firing alert starts to resolve). */
  clearThreshold: number;
  /** A firing alert resolves once the score has stayed below clearThreshold this long. */
  resolveAfterMs: number;
  /** Confirmation: fitted growth over the window at least this much. */
  minGrowthBytes: number;
  /** Confirmation (and the score's rate factor): growth rate at least this. */
  minRateBytesPerHour: number;
  /** Confirmation: the troughs rose over this last span by at least half the fitted rate. */
  confirmSpanMs: number;
  /** Confirmation: the projected time to the memory limit within this. */
  horizonMs: number;
  /** Confirmation: the newest third of the window grows at least this share of the window's rate. */
  minPersistence: number;
}

export const defaultLeakOptions: LeakOptions = {
  ...defaultHistoryLimits,
  minAgeMs: 45 * MIN,
  startupMs: 10 * MIN,
  longWindowMs: 12 * HOUR,
  recentWindowMs: 60 * MIN,
  onsetSearchMs: 4 * HOUR,
  shortWindowMs: 1 * HOUR,
  troughSpanMs: 10 * MIN,
  maxPoints: 60,
  slopePairs: 600,
  noiseFloorBytes: 1 * MiB,
  minRelativeRatePerHour: 0.005,
  minPeriodCorrelation: 0.5,
  scoreThreshold: 6,
  clearThreshold: 3,
  resolveAfterMs: 1 * HOUR,
  minGrowthBytes: 1 * MiB,
  minRateBytesPerHour: 0.25 * MiB,
  confirmSpanMs: 30 * MIN,
  horizonMs: 30 * 24 * HOUR,
  minPersistence: 0.35,
};

const durationKeys = ['bucketMs', 'minAgeMs', 'startupMs', 'longWindowMs', 'recentWindowMs', 'onsetSearchMs', 'shortWindowMs', 'troughSpanMs', 'horizonMs', 'resolveAfterMs', 'confirmSpanMs'] as const;

/**
 * Options with every duration divided by `factor` and every rate multiplied by it: runs the detector
 * on time-compressed processes (tests, demos) with the same behaviour as in real time.
 */
export function timeCompressed(factor: number, base: Partial<LeakOptions> = {}): Partial<LeakOptions> {
  const merged = { ...defaultLeakOptions, ...base };
  const out: Partial<LeakOptions> = { ...base, minRateBytesPerHour: merged.minRateBytesPerHour * factor, minRelativeRatePerHour: merged.minRelativeRatePerHour * factor };
  for (const k of durationKeys) out[k] = merged[k] / factor;
  return out;
}

/** Fills in defaults and refuses nonsense with one bad-input error naming the option. */
export function resolveLeakOptions(partial: Partial<LeakOptions> = {}): LeakOptions {
  const o = { ...defaultLeakOptions, ...partial };
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new SalvorError('SALVOR_BAD_INPUT', `leak option ${k}: ${String(v)} is not a non-negative number`);
  }
  for (const k of ['bucketMs', 'rawCapacity', 'bucketCapacity', 'coarseFactor', 'coarseCapacity', 'maxPoints'] as const) {
    if (o[k] < 1) throw new SalvorError('SALVOR_BAD_INPUT', `leak option ${k} must be at least 1`);
  }
  if (o.maxPoints < 8) throw new SalvorError('SALVOR_BAD_INPUT', 'leak option maxPoints must be at least 8');
  if (o.clearThreshold > o.scoreThreshold) throw new SalvorError('SALVOR_BAD_INPUT', 'leak option clearThreshold must not exceed scoreThreshold');
  return o;
}
