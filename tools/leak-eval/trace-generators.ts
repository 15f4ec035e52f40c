/**
 * Labelled memory traces for the leak-detection harness: what RssAnon of a process looks like under
 * a leak and under growth patterns that are not leaks. Every trace is reproducible from its seed.
 */

import { leakClasses, shapeFor, steadyClasses, type TraceClass } from './trace-shapes';

export { leakClasses, steadyClasses, type TraceClass } from './trace-shapes';

const MiB = 1024 * 1024;
const MIN = 60_000;
const HOUR = 60 * MIN;

export interface LabelledTrace {
  cls: TraceClass;
  leak: boolean;
  seed: number;
  intervalMs: number;
  /** Sample times and anonymous bytes; `instance` changes when the process restarts. */
  tMs: Float64Array;
  bytes: Float64Array;
  instance: Uint16Array;
  /** Page-cache (file) bytes beside the anonymous ones: what RSS would add. */
  fileBytes: Float64Array;
  /** When the leak starts (leaks only), and its mean rate. */
  leakStartMs: number | null;
  rateBytesPerHour: number;
  limitBytes: number;
}

/** A small seeded PRNG (mulberry32) with uniform and normal draws. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  logUniform(lo: number, hi: number): number {
    return Math.exp(this.uniform(Math.log(lo), Math.log(hi)));
  }
  normal(): number {
    const u = Math.max(1e-12, this.next());
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/**
 * Which labelled set a trace belongs to. The detector was tuned on `tuning` only; `evaluation` uses
 * other seeds and other parameter ranges (each range's ends moved: see `rangeFor`), so its figures
 * are those of traces the detector has not seen.
 */
export type TraceSet = 'tuning' | 'evaluation';

export interface GeneratorSettings {
  durationMs: number;
  intervalMs: number;
  limitBytes: number;
  set: TraceSet;
}

export const defaultGeneratorSettings: GeneratorSettings = { durationMs: 12 * HOUR, intervalMs: 5000, limitBytes: 1024 * MiB, set: 'tuning' };

/** Seeds of each set: tuning 1..n; evaluation from 100 001 (never used while tuning). */
export const firstSeed: Record<TraceSet, number> = { tuning: 1, evaluation: 100_001 };

/**
 * The range a parameter is drawn from in each set: tuning draws from the inner 80 % of the nominal
 * range, evaluation from the nominal range widened by 10 % at each end.
 */
export function rangeFor(set: TraceSet, lo: number, hi: number): [number, number] {
  const w = hi - lo;
  return set === 'tuning' ? [lo + 0.1 * w, hi - 0.1 * w] : [Math.max(0, lo - 0.1 * w), hi + 0.1 * w];
}

/** One labelled trace of class `cls` from `seed`. */
export function generateTrace(cls: TraceClass, seed: number, settings: Partial<GeneratorSettings> = {}): LabelledTrace {
  const s = { ...defaultGeneratorSettings, ...settings };
  const rng = new Rng(seed * 7919 + cls.length * 104729 + cls.charCodeAt(0) + cls.charCodeAt(cls.length - 1) * 31);
  const draw = (lo: number, hi: number, log = false): number => {
    const [a, b] = rangeFor(s.set, lo, hi);
    return log && a > 0 ? rng.logUniform(a, b) : rng.uniform(a, b);
  };
  const base = draw(30 * MiB, 150 * MiB);
  const noise = draw(0.05 * MiB, 0.5 * MiB);
  const shape = shapeFor(cls, draw, () => rng.next(), s.durationMs, s.limitBytes);
  const n = Math.floor(s.durationMs / s.intervalMs);
  const tMs = new Float64Array(n);
  const bytes = new Float64Array(n);
  const fileBytes = new Float64Array(n);
  const instance = new Uint16Array(n);
  const page = 4096;
  for (let i = 0; i < n; i++) {
    const t = i * s.intervalMs + rng.uniform(0, 50); // the sampler's own jitter
    const v = shape.at(t);
    tMs[i] = Math.round(t);
    // RssAnon moves in pages; noise is the allocator's own churn.
    bytes[i] = Math.max(page, Math.round((base + v.bytes + noise * rng.normal()) / page) * page);
    fileBytes[i] = v.file ?? 8 * MiB;
    instance[i] = v.instance;
  }
  return { cls, leak: shape.leak, seed, intervalMs: s.intervalMs, tMs, bytes, instance, fileBytes, leakStartMs: shape.leakStartMs, rateBytesPerHour: shape.rateBytesPerHour, limitBytes: s.limitBytes };
}

/** `perClass` traces of every class from the set's own seeds. */
export function generateHarness(perClass: number, settings: Partial<GeneratorSettings> = {}): LabelledTrace[] {
  const set = settings.set ?? defaultGeneratorSettings.set;
  const out: LabelledTrace[] = [];
  for (const cls of [...leakClasses, ...steadyClasses]) for (let i = 0; i < perClass; i++) out.push(generateTrace(cls, firstSeed[set] + i, settings));
  return out;
}
