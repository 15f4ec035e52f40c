import { SalvorError } from '../../bindings/salvor-error';
import { defaultHistoryLimits, type HistoryLimits } from './memory-history';

const MiB = 1024 * 1024;
const MIN = 60_000;
const HOUR = 60 * MIN;

/** Every knob of the detector (docs/leak.md lists them with their defaults). Durations in ms. */
export interface LeakOptions extends HistoryLimits {
  /** A segment younger than this is not scored (start-up and warm-up). */
  minAgeMs: number;
  /** The long window the score looks at (shorter while the segment is younger). */
  longWindowMs: number;
  /** The short window: the recent rate must keep up with the long one. */
  shortWindowMs: number;
  /** Troughs: the lowest value within this span around each point (covers GC periods up to it). */
  troughSpanMs: number;
  /** Points the statistics run on at most (buckets are merged down to it). */
  maxPoints: number;
  /** Growth over the window below this is noise whatever the statistics say. */
  noiseFloorBytes: number;
  /** Score at or above which a target becomes a suspect (the prediction). */
  scoreThreshold: number;
  /** Score below which a suspect or confirmed target is cleared. */
  clearThreshold: number;
  /** Confirmation: fitted growth over the window at least this much. */
  minGrowthBytes: number;
  /** Confirmation: growth rate at least this. */
  minRateBytesPerHour: number;
  /** Confirmation: the projected time to the memory limit within this. */
  horizonMs: number;
  /** Confirmation: recent growth at least this share of the long-run growth (1 = steady). */
  minPersistence: number;
  /** Confirmation: the troughs rose in at least this many separate steps. */
  minRises: number;
  /** Confirmation: the recent peak is measured over this span, the historical peak before it. */
  recentMs: number;
}

export const defaultLeakOptions: LeakOptions = {
  ...defaultHistoryLimits,
  minAgeMs: 45 * MIN,
  longWindowMs: 6 * HOUR,
  shortWindowMs: 1 * HOUR,
  troughSpanMs: 10 * MIN,
  maxPoints: 90,
  noiseFloorBytes: 1 * MiB,
  scoreThreshold: 7,
  clearThreshold: 4,
  minGrowthBytes: 2 * MiB,
  minRateBytesPerHour: 0.25 * MiB,
  horizonMs: 30 * 24 * HOUR,
  recentMs: 15 * MIN,
  minPersistence: 0.35,
  minRises: 3,
};

const durationKeys = ['bucketMs', 'minAgeMs', 'longWindowMs', 'shortWindowMs', 'troughSpanMs', 'horizonMs', 'recentMs'] as const;

/**
 * Options with every duration divided by `factor` and every rate multiplied by it: runs the detector
 * on time-compressed processes (tests, demos) with the same behaviour as in real time.
 */
export function timeCompressed(factor: number, base: Partial<LeakOptions> = {}): Partial<LeakOptions> {
  const merged = { ...defaultLeakOptions, ...base };
  const out: Partial<LeakOptions> = { ...base, minRateBytesPerHour: merged.minRateBytesPerHour * factor };
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
