/**
 * Tracking rounds on a 1 GiB region with 0.1 %, 1 %, 10 % and 50 % of its pages written, per tracker,
 * against finding the same changes with a full memcmp pass over a shadow copy (Buffer.compare of 1 GiB).
 * Every side performs the same writes (one byte in each chosen page) and then its detection: the
 * trackers' cost includes the write faults their writers pay. The subject is `auto`.
 */
import { measureWriteFaultCost } from '../../bindings/region';
import { openRegion, type TrackedRegion } from '../../index';
import type { Benchmark, Side } from './run';

const PAGE = 4096;
const REGION_BYTES = Number(process.env.SALVOR_BENCH_REGION_MIB ?? 1024) * 1024 * 1024;
const PAGES = REGION_BYTES / PAGE;
const KINDS = ['auto', 'uffd-wp', 'mprotect', 'soft-dirty', 'hash'] as const;

let regions: Map<string, TrackedRegion> | undefined;
let shadows: [Buffer, Buffer, Buffer] | undefined;

/** One region per tracker this machine offers, kept across the four densities. */
async function trackedRegions(): Promise<Map<string, TrackedRegion>> {
  if (regions) return regions;
  regions = new Map();
  for (const kind of KINDS) {
    try {
      const r = await openRegion({ size: REGION_BYTES, backend: kind });
      r.buffer.fill(1); // populate: every side starts from present pages
      await r.collect();
      regions.set(kind, r);
    } catch (err) {
      process.stdout.write(`  (${kind} not measured: ${(err as Error).message})\n`);
    }
  }
  return regions;
}

function pagesToWrite(fraction: number, seed: number): Uint32Array {
  const n = Math.max(1, Math.round(PAGES * fraction));
  const chosen = new Uint32Array(n);
  let x = seed >>> 0;
  const stride = Math.floor(PAGES / n);
  for (let i = 0; i < n; i++) {
    x = (x * 1664525 + 1013904223) >>> 0;
    chosen[i] = i * stride + (x % stride); // spread over the region, one page per stride
  }
  return chosen;
}

function writeSide(label: string, buf: Buffer, pages: Uint32Array, detect: () => unknown): Side {
  let value = 0;
  return {
    label,
    bytes: REGION_BYTES,
    run: async () => {
      value = (value + 1) & 0xff;
      for (let i = 0; i < pages.length; i++) buf[pages[i]! * PAGE + (i & 4095)] = value;
      await detect();
    },
  };
}

function densityBenchmark(percent: number, target: number): Benchmark {
  const pages = pagesToWrite(percent / 100, percent * 1000);
  return {
    name: `tracking-${percent}`,
    title: `tracking round, 1 GiB region, ${percent} % of pages written (${pages.length} pages)`,
    target: { kind: 'time-ratio', value: target },
    setup: async () => {
      const all = await trackedRegions();
      // Writes go to one buffer; the pass compares two others, equal and distinct, so memcmp reads all of both.
      shadows ??= [Buffer.alloc(REGION_BYTES, 1), Buffer.alloc(REGION_BYTES, 1), Buffer.alloc(REGION_BYTES, 1)];
      const [written, region, shadow] = shadows;
      const side = (kind: string) => {
        const r = all.get(kind)!;
        return writeSide(kind, r.buffer, pages, () => r.collect());
      };
      const extras = [...all.keys()].filter((k) => k !== 'auto').map(side);
      return {
        subject: side('auto'),
        anchor: writeSide('same writes + Buffer.compare of 1 GiB', written, pages, () => Buffer.compare(region, shadow)),
        extras,
      };
    },
    summarize: (measured) => {
      const [auto, , ...rest] = measured;
      const best = rest.reduce((m, x) => (x.medianMs < m.medianMs ? x : m), rest[0]!);
      const ratio = auto!.medianMs / best.medianMs;
      const lines = [`auto / best tracker (${best.label}): ${ratio.toFixed(2)}x, target <= 1.2x: ${ratio <= 1.2 ? 'met' : 'NOT met'}`];
      lines.push(`auto is now on ${all().get('auto')?.backend}`);
      return { lines, json: { autoVsBest: Number(ratio.toFixed(2)), best: best.label, autoBackend: all().get('auto')?.backend } };
    },
    teardown: () => {
      for (const r of all().values()) r.close();
      regions = undefined;
      shadows = undefined;
    },
  };
}

const all = () => regions ?? new Map<string, TrackedRegion>();

export const trackingBenchmarks: Benchmark[] = [densityBenchmark(0.1, 1), densityBenchmark(1, 0.25), densityBenchmark(10, 1), densityBenchmark(50, 1)];

/** The write-fault cost each fault-based tracker makes a writer pay on this machine, measured on scratch pages. */
export function writeFaultCosts(): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const kind of ['uffd-wp', 'mprotect', 'soft-dirty'] as const) {
    try {
      out[kind] = Math.round(measureWriteFaultCost(kind, 4096));
    } catch (err) {
      out[kind] = `unavailable (${(err as Error).message})`;
    }
  }
  return out;
}
