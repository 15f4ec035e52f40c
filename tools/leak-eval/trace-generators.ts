/**
 * Labelled memory traces for the leak-detection harness: what RssAnon of a process looks like under
 * a leak and under growth patterns that are not leaks. Every trace is reproducible from its seed.
 */

const MiB = 1024 * 1024;
const MIN = 60_000;
const HOUR = 60 * MIN;

export const leakClasses = ['linear', 'stepwise', 'sawtooth-leak', 'restart-leak'] as const;
export const steadyClasses = ['sawtooth', 'warm-up', 'cache-evict', 'page-cache', 'fragmentation', 'bursts'] as const;
export type TraceClass = (typeof leakClasses)[number] | (typeof steadyClasses)[number];

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

export interface GeneratorSettings {
  durationMs: number;
  intervalMs: number;
  limitBytes: number;
}

export const defaultGeneratorSettings: GeneratorSettings = { durationMs: 24 * HOUR, intervalMs: 5000, limitBytes: 256 * MiB };

/** A GC heap: rises linearly by `amplitude` over each period (jittered), then drops back. */
function sawtoothAt(rng: Rng, amplitude: number, periodMs: number): (t: number) => number {
  let cycleStart = 0;
  let cycleLen = periodMs;
  let cycleAmp = amplitude;
  return (t) => {
    while (t >= cycleStart + cycleLen) {
      cycleStart += cycleLen;
      cycleLen = periodMs * rng.uniform(0.7, 1.3);
      cycleAmp = amplitude * rng.uniform(0.8, 1.2);
    }
    return (cycleAmp * (t - cycleStart)) / cycleLen;
  };
}

interface Shape {
  leak: boolean;
  leakStartMs: number | null;
  rateBytesPerHour: number;
  /** Anonymous bytes above the base at time t within the current process instance, and that instance. */
  at: (t: number) => { bytes: number; instance: number; file?: number };
}

function shapeFor(cls: TraceClass, rng: Rng, s: GeneratorSettings): Shape {
  const leakStart = rng.uniform(0, 2 * HOUR);
  const since = (t: number) => Math.max(0, t - leakStart);
  switch (cls) {
    case 'linear': {
      const rate = rng.logUniform(0.5 * MiB, 50 * MiB);
      return { leak: true, leakStartMs: leakStart, rateBytesPerHour: rate, at: (t) => ({ bytes: (rate * since(t)) / HOUR, instance: 0 }) };
    }
    case 'stepwise': {
      const step = rng.uniform(1 * MiB, 8 * MiB);
      const every = rng.uniform(10 * MIN, 60 * MIN);
      const phase = rng.uniform(0, every);
      return {
        leak: true,
        leakStartMs: leakStart,
        rateBytesPerHour: (step * HOUR) / every,
        at: (t) => ({ bytes: step * Math.floor((since(t) + phase) / every), instance: 0 }),
      };
    }
    case 'sawtooth-leak': {
      const rate = rng.logUniform(2 * MiB, 40 * MiB);
      const gc = sawtoothAt(rng, rng.uniform(5 * MiB, 40 * MiB), rng.uniform(1 * MIN, 8 * MIN));
      return { leak: true, leakStartMs: leakStart, rateBytesPerHour: rate, at: (t) => ({ bytes: gc(t) + (rate * since(t)) / HOUR, instance: 0 }) };
    }
    case 'restart-leak': {
      // Leaks from its start; restarted (a watchdog, an OOM kill) at random points, then leaks again.
      const rate = rng.logUniform(5 * MiB, 40 * MiB);
      const restarts = [rng.uniform(1 * HOUR, 6 * HOUR)];
      while (restarts[restarts.length - 1] < s.durationMs) restarts.push(restarts[restarts.length - 1] + rng.uniform(3 * HOUR, 10 * HOUR));
      return {
        leak: true,
        leakStartMs: 0,
        rateBytesPerHour: rate,
        at: (t) => {
          const i = restarts.findIndex((r) => r > t);
          const from = i === 0 ? 0 : restarts[i - 1];
          return { bytes: (rate * (t - from)) / HOUR, instance: i };
        },
      };
    }
    case 'sawtooth': {
      const gc = sawtoothAt(rng, rng.uniform(5 * MiB, 60 * MiB), rng.uniform(1 * MIN, 10 * MIN));
      return { leak: false, leakStartMs: null, rateBytesPerHour: 0, at: (t) => ({ bytes: gc(t), instance: 0 }) };
    }
    case 'warm-up': {
      // Caches and pools fill at start-up and level off: 95 % within 30 minutes.
      const size = rng.uniform(20 * MiB, 200 * MiB);
      const tau = rng.uniform(2 * MIN, 10 * MIN);
      return { leak: false, leakStartMs: null, rateBytesPerHour: 0, at: (t) => ({ bytes: size * (1 - Math.exp(-t / tau)), instance: 0 }) };
    }
    case 'cache-evict': {
      // Fills within 10 to 25 minutes, evicts down to half, refills: bounded by its capacity.
      const cap = rng.uniform(10 * MiB, 60 * MiB);
      const fillMs = rng.uniform(10 * MIN, 25 * MIN);
      const refillMs = fillMs / 2;
      return {
        leak: false,
        leakStartMs: null,
        rateBytesPerHour: 0,
        at: (t) => {
          if (t < fillMs) return { bytes: (cap * t) / fillMs, instance: 0 };
          const phase = ((t - fillMs) % refillMs) / refillMs;
          return { bytes: cap / 2 + (cap / 2) * phase, instance: 0 };
        },
      };
    }
    case 'page-cache': {
      // A reader streaming files: file pages pile up (RSS grows), anonymous memory does not.
      const readRate = rng.uniform(20 * MiB, 200 * MiB);
      const buffers = rng.uniform(0.5 * MiB, 4 * MiB);
      return {
        leak: false,
        leakStartMs: null,
        rateBytesPerHour: 0,
        at: (t) => ({ bytes: buffers * (0.5 + 0.5 * Math.sin(t / (7 * MIN))), instance: 0, file: Math.min(s.limitBytes, (readRate * t) / HOUR) }),
      };
    }
    case 'fragmentation': {
      // The allocator ratchets up: steps that shrink and come ever more rarely, bounded in total.
      const first = rng.uniform(2 * MiB, 10 * MiB);
      const gap0 = rng.uniform(5 * MIN, 15 * MIN);
      const steps: [number, number][] = [];
      for (let i = 0, t = gap0, size = first; t < s.durationMs; i++, t += gap0 * 2.5 ** i, size *= 0.5) steps.push([t, size]);
      return { leak: false, leakStartMs: null, rateBytesPerHour: 0, at: (t) => ({ bytes: steps.reduce((sum, [at, size]) => (t >= at ? sum + size : sum), 0), instance: 0 }) };
    }
    case 'bursts': {
      // Requests in bursts: memory jumps for 1 to 15 minutes, then returns to the base.
      const bursts: [number, number, number][] = [];
      for (let t = rng.uniform(5 * MIN, 60 * MIN); t < s.durationMs; t += rng.uniform(20 * MIN, 120 * MIN)) {
        bursts.push([t, t + rng.uniform(1 * MIN, 15 * MIN), rng.uniform(10 * MiB, 100 * MiB)]);
      }
      return { leak: false, leakStartMs: null, rateBytesPerHour: 0, at: (t) => ({ bytes: bursts.reduce((sum, [a, b, h]) => (t >= a && t < b ? sum + h : sum), 0), instance: 0 }) };
    }
  }
}

/** One labelled trace of class `cls` from `seed`. */
export function generateTrace(cls: TraceClass, seed: number, settings: Partial<GeneratorSettings> = {}): LabelledTrace {
  const s = { ...defaultGeneratorSettings, ...settings };
  const rng = new Rng(seed * 7919 + cls.length * 104729 + cls.charCodeAt(0));
  const base = rng.uniform(30 * MiB, 120 * MiB);
  const noise = rng.uniform(0.05 * MiB, 0.5 * MiB);
  const shape = shapeFor(cls, rng, s);
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

/** `perClass` traces of every class, seeds 1..perClass. */
export function generateHarness(perClass: number, settings: Partial<GeneratorSettings> = {}): LabelledTrace[] {
  const out: LabelledTrace[] = [];
  for (const cls of [...leakClasses, ...steadyClasses]) for (let seed = 1; seed <= perClass; seed++) out.push(generateTrace(cls, seed, settings));
  return out;
}
