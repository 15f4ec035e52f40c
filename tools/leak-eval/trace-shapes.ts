/**
 * The shapes of the labelled traces: what anonymous memory of a process does under a leak, and under
 * growth a fleet shows that is not one. Every parameter is drawn through `draw`, so the tuning and
 * the evaluation sets (trace-generators.ts) can use different ranges of the same shapes.
 */

const MiB = 1024 * 1024;
const MIN = 60_000;
const HOUR = 60 * MIN;

export const leakClasses = ['linear', 'stepwise', 'sawtooth-leak', 'restart-leak', 'slow-leak', 'late-leak', 'cycle-leak', 'warmup-leak'] as const;
export const steadyClasses = [
  'sawtooth', 'warm-up', 'cache-fill', 'load-cycle', 'level-shift', 'mmap-file', 'fragmentation', 'backup-bursts', 'cache-evict', 'bursts', 'page-cache',
] as const;
export type TraceClass = (typeof leakClasses)[number] | (typeof steadyClasses)[number];

/** Draws a parameter from [lo, hi] as the set in use maps that range; log-uniform when `log`. */
export type Draw = (lo: number, hi: number, log?: boolean) => number;

export interface Shape {
  leak: boolean;
  leakStartMs: number | null;
  rateBytesPerHour: number;
  /** Anonymous bytes above the base at time t within the current process instance, and that instance. */
  at: (t: number) => { bytes: number; instance: number; file?: number };
}

/** A GC heap: rises linearly by `amplitude` over each period (jittered), then drops back. */
function sawtoothAt(u: () => number, amplitude: number, periodMs: number): (t: number) => number {
  let cycleStart = 0;
  let cycleLen = periodMs;
  let cycleAmp = amplitude;
  return (t) => {
    while (t >= cycleStart + cycleLen) {
      cycleStart += cycleLen;
      cycleLen = periodMs * (0.7 + 0.6 * u());
      cycleAmp = amplitude * (0.8 + 0.4 * u());
    }
    return (cycleAmp * (t - cycleStart)) / cycleLen;
  };
}

const noLeak = (at: Shape['at']): Shape => ({ leak: false, leakStartMs: null, rateBytesPerHour: 0, at });

/** A load cycle: smooth rise and fall with the daily traffic, period and phase drawn. */
function cycleAt(draw: Draw): (t: number) => number {
  const amp = draw(20 * MiB, 80 * MiB);
  const period = draw(3 * HOUR, 5 * HOUR);
  const phase = draw(0, 2 * Math.PI);
  return (t) => (amp / 2) * (1 + Math.sin((2 * Math.PI * t) / period + phase));
}

export function shapeFor(cls: TraceClass, draw: Draw, u: () => number, durationMs: number, limitBytes: number): Shape {
  const leakStart = draw(0, 2 * HOUR);
  const since = (t: number) => Math.max(0, t - leakStart);
  switch (cls) {
    case 'linear': {
      const rate = draw(3 * MiB, 50 * MiB, true);
      return { leak: true, leakStartMs: leakStart, rateBytesPerHour: rate, at: (t) => ({ bytes: (rate * since(t)) / HOUR, instance: 0 }) };
    }
    case 'slow-leak': {
      const rate = draw(2.5 * MiB, 4 * MiB);
      const gc = sawtoothAt(u, draw(2 * MiB, 20 * MiB), draw(1 * MIN, 8 * MIN));
      return { leak: true, leakStartMs: leakStart, rateBytesPerHour: rate, at: (t) => ({ bytes: gc(t) + (rate * since(t)) / HOUR, instance: 0 }) };
    }
    case 'late-leak': {
      // Flat (with a GC) for 7 hours or more, then a leak begins.
      const start = draw(7 * HOUR, 9 * HOUR);
      const rate = draw(5 * MiB, 40 * MiB, true);
      const gc = sawtoothAt(u, draw(5 * MiB, 30 * MiB), draw(1 * MIN, 8 * MIN));
      return { leak: true, leakStartMs: start, rateBytesPerHour: rate, at: (t) => ({ bytes: gc(t) + (rate * Math.max(0, t - start)) / HOUR, instance: 0 }) };
    }
    case 'stepwise': {
      const step = draw(1 * MiB, 8 * MiB);
      const every = draw(10 * MIN, 60 * MIN);
      const phase = draw(0, every);
      return { leak: true, leakStartMs: leakStart, rateBytesPerHour: (step * HOUR) / every, at: (t) => ({ bytes: step * Math.floor((since(t) + phase) / every), instance: 0 }) };
    }
    case 'sawtooth-leak': {
      const rate = draw(3 * MiB, 40 * MiB, true);
      const gc = sawtoothAt(u, draw(5 * MiB, 40 * MiB), draw(1 * MIN, 8 * MIN));
      return { leak: true, leakStartMs: leakStart, rateBytesPerHour: rate, at: (t) => ({ bytes: gc(t) + (rate * since(t)) / HOUR, instance: 0 }) };
    }
    case 'cycle-leak': {
      // A leak under a load cycle: the troughs of each cycle climb.
      const rate = draw(5 * MiB, 30 * MiB, true);
      const cycle = cycleAt(draw);
      return { leak: true, leakStartMs: leakStart, rateBytesPerHour: rate, at: (t) => ({ bytes: cycle(t) + (rate * since(t)) / HOUR, instance: 0 }) };
    }
    case 'warmup-leak': {
      // A warm-up, then a leak once it has settled.
      const size = draw(60 * MiB, 150 * MiB);
      const tau = draw(20 * MIN, 60 * MIN);
      const start = draw(3 * HOUR, 5 * HOUR);
      const rate = draw(5 * MiB, 30 * MiB, true);
      return { leak: true, leakStartMs: start, rateBytesPerHour: rate, at: (t) => ({ bytes: size * (1 - Math.exp(-t / tau)) + (rate * Math.max(0, t - start)) / HOUR, instance: 0 }) };
    }
    case 'restart-leak': {
      // Leaks from its start; restarted (a watchdog, an OOM kill) once or twice in the first hours, then leaks again.
      const rate = draw(5 * MiB, 40 * MiB, true);
      const restarts = [draw(1 * HOUR, 3 * HOUR)];
      if (u() < 0.5) restarts.push(restarts[0] + draw(1 * HOUR, 3 * HOUR));
      const last = restarts[restarts.length - 1];
      return {
        leak: true,
        leakStartMs: last,
        rateBytesPerHour: rate,
        at: (t) => {
          let i = restarts.findIndex((r) => r > t);
          if (i < 0) i = restarts.length;
          const from = i === 0 ? 0 : restarts[i - 1];
          return { bytes: (rate * (t - from)) / HOUR, instance: i };
        },
      };
    }
    case 'sawtooth': {
      const gc = sawtoothAt(u, draw(5 * MiB, 60 * MiB), draw(1 * MIN, 10 * MIN));
      return noLeak((t) => ({ bytes: gc(t), instance: 0 }));
    }
    case 'warm-up': {
      // Caches and pools fill at start-up and level off: 60 to 150 MB, time constant 20 to 60 minutes.
      const size = draw(60 * MiB, 150 * MiB);
      const tau = draw(20 * MIN, 60 * MIN);
      return noLeak((t) => ({ bytes: size * (1 - Math.exp(-t / tau)), instance: 0 }));
    }
    case 'cache-fill': {
      // A cache that keeps filling at a steady 15 to 30 MB/h for 2 to 4 hours, then stays full.
      const rate = draw(15 * MiB, 30 * MiB);
      const fillMs = draw(2 * HOUR, 4 * HOUR);
      return noLeak((t) => ({ bytes: (rate * Math.min(t, fillMs)) / HOUR, instance: 0 }));
    }
    case 'load-cycle': {
      const cycle = cycleAt(draw);
      const gc = sawtoothAt(u, draw(2 * MiB, 20 * MiB), draw(1 * MIN, 8 * MIN));
      return noLeak((t) => ({ bytes: cycle(t) + gc(t), instance: 0 }));
    }
    case 'level-shift': {
      // One or two lasting shifts (a new tenant, a reconfiguration), up or down, that do not repeat.
      const shifts: [number, number][] = [[draw(1 * HOUR, durationMs - 1 * HOUR), draw(10 * MiB, 60 * MiB) * (u() < 0.75 ? 1 : -0.5)]];
      if (u() < 0.5) shifts.push([draw(1 * HOUR, durationMs - 1 * HOUR), draw(10 * MiB, 40 * MiB)]);
      return noLeak((t) => ({ bytes: 60 * MiB + shifts.reduce((sum, [at, by]) => (t >= at ? sum + by : sum), 0), instance: 0 }));
    }
    case 'mmap-file': {
      // A memory-mapped file read through once at a random time: resident pages climb to its size
      // over the read, stay, and part of them is reclaimed later.
      const size = draw(20 * MiB, 120 * MiB);
      const start = draw(0, durationMs / 2);
      const readMs = draw(20 * MIN, 90 * MIN);
      const reclaimAt = start + readMs + draw(1 * HOUR, 6 * HOUR);
      return noLeak((t) => ({ bytes: t < start ? 0 : size * Math.min(1, (t - start) / readMs) * (t > reclaimAt ? 0.6 : 1), instance: 0 }));
    }
    case 'fragmentation': {
      // The allocator ratchets up: steps that shrink and come ever more rarely, bounded in total.
      const first = draw(2 * MiB, 10 * MiB);
      const gap0 = draw(5 * MIN, 15 * MIN);
      const steps: [number, number][] = [];
      for (let i = 0, t = gap0, size = first; t < durationMs; i++, t += gap0 * 2.5 ** i, size *= 0.5) steps.push([t, size]);
      return noLeak((t) => ({ bytes: steps.reduce((sum, [at, size]) => (t >= at ? sum + size : sum), 0), instance: 0 }));
    }
    case 'backup-bursts': {
      // A backup every few hours: buffers ramp up over 10 to 40 minutes, are held, then released.
      const jobs: [number, number, number, number][] = [];
      for (let t = draw(30 * MIN, 3 * HOUR); t < durationMs; t += draw(3 * HOUR, 6 * HOUR)) jobs.push([t, draw(10 * MIN, 40 * MIN), draw(20 * MIN, 60 * MIN), draw(50 * MiB, 200 * MiB)]);
      return noLeak((t) => ({ bytes: jobs.reduce((sum, [a, ramp, hold, h]) => (t < a || t >= a + ramp + hold ? sum : sum + h * Math.min(1, (t - a) / ramp)), 0), instance: 0 }));
    }
    case 'cache-evict': {
      // Fills within 10 to 25 minutes, evicts down to half, refills: bounded by its capacity.
      const cap = draw(10 * MiB, 60 * MiB);
      const fillMs = draw(10 * MIN, 25 * MIN);
      const refillMs = fillMs / 2;
      return noLeak((t) => (t < fillMs ? { bytes: (cap * t) / fillMs, instance: 0 } : { bytes: cap / 2 + (cap / 2) * (((t - fillMs) % refillMs) / refillMs), instance: 0 }));
    }
    case 'bursts': {
      // Requests in bursts: memory jumps for 1 to 15 minutes, then returns to the base.
      const bursts: [number, number, number][] = [];
      for (let t = draw(5 * MIN, 60 * MIN); t < durationMs; t += draw(20 * MIN, 120 * MIN)) bursts.push([t, t + draw(1 * MIN, 15 * MIN), draw(10 * MiB, 100 * MiB)]);
      return noLeak((t) => ({ bytes: bursts.reduce((sum, [a, b, h]) => (t >= a && t < b ? sum + h : sum), 0), instance: 0 }));
    }
    case 'page-cache': {
      // A reader streaming files: file pages pile up (RSS grows), anonymous memory does not.
      const readRate = draw(20 * MiB, 200 * MiB);
      const buffers = draw(0.5 * MiB, 4 * MiB);
      return noLeak((t) => ({ bytes: buffers * (0.5 + 0.5 * Math.sin(t / (7 * MIN))), instance: 0, file: Math.min(limitBytes, (readRate * t) / HOUR) }));
    }
  }
}
