import { RegionHandle, SOFT_DIRTY_ABSENT, measureWriteFaultCost, systemPageSize } from '../../bindings/region';
import { SalvorError } from '../../bindings/salvor-error';
import type { PageRun, TrackedMemory, TrackerCosts, TrackerKind } from '../../lib/replication/dirty-tracker';

/** Linux tracked memory: the native Region (anonymous, or a MAP_SHARED file) and its trackers. */
class LinuxTrackedMemory implements TrackedMemory {
  readonly pageSize = systemPageSize();
  constructor(
    private readonly handle: RegionHandle,
    private readonly hashThreads: number | undefined,
  ) {}
  get size() {
    return this.handle.size;
  }
  get shared() {
    return this.handle.shared;
  }
  get label() {
    return this.handle.label;
  }
  buffer(): Buffer {
    return this.handle.buffer();
  }
  window(offset: number, length: number): Buffer {
    return this.handle.window(offset, length);
  }
  attach(kind: TrackerKind): void {
    try {
      this.handle.attach(kind, kind === 'hash' ? this.hashThreads : undefined);
    } catch (err) {
      const e = err as SalvorError;
      // native refuses soft-dirty with EOPNOTSUPP when a written page never shows the bit: say why, as doctor does
      const why = kind === 'soft-dirty' && e.code === 'EOPNOTSUPP' ? SOFT_DIRTY_ABSENT : e.message;
      throw new SalvorError('SALVOR_UNSUPPORTED', `tracker ${kind} cannot watch ${this.label}: ${why}`, {
        errno: e.errno,
        syscall: e.syscall,
        path: e.path,
      });
    }
  }
  arm(kind: TrackerKind): Promise<void> {
    return this.handle.arm(kind);
  }
  async collect(kind: TrackerKind): Promise<PageRun[]> {
    const flat = await this.handle.collect(kind);
    const runs: PageRun[] = [];
    for (let i = 0; i < flat.length; i += 2) runs.push({ first: flat[i]!, count: flat[i + 1]! });
    return runs;
  }
  detach(kind: TrackerKind): void {
    this.handle.detach(kind);
  }
  stage(runs: PageRun[]): Promise<Buffer> {
    const flat = new Uint32Array(runs.length * 2);
    runs.forEach((r, i) => {
      flat[2 * i] = r.first;
      flat[2 * i + 1] = r.count;
    });
    return this.handle.stage(flat);
  }
  close(): void {
    this.handle.close();
  }
}

export function openLinuxMemory(spec: { size?: number; path?: string; hashThreads?: number }): TrackedMemory {
  if ((spec.size === undefined) === (spec.path === undefined))
    throw new SalvorError('SALVOR_BAD_INPUT', 'openRegion takes exactly one of { size } or { path }');
  const handle = spec.path !== undefined ? RegionHandle.file(spec.path) : RegionHandle.anonymous(spec.size!);
  return new LinuxTrackedMemory(handle, spec.hashThreads);
}

let costs: TrackerCosts | undefined;

const CALIBRATION_BYTES = 32 * 1024 * 1024;

/** Hash scan cost per byte on this machine: one timed scan of a 32 MiB scratch region. */
async function measureHashNsPerByte(): Promise<number | undefined> {
  const scratch = RegionHandle.anonymous(CALIBRATION_BYTES);
  try {
    scratch.buffer().fill(1);
    scratch.attach('hash');
    await scratch.arm('hash'); // first pass warms the threads and the fingerprint array
    const started = process.hrtime.bigint();
    await scratch.collect('hash');
    return Number(process.hrtime.bigint() - started) / CALIBRATION_BYTES;
  } catch {
    return undefined;
  } finally {
    scratch.close();
  }
}

/**
 * What tracking costs on this machine, measured once per process: the write-fault cost of each
 * fault-based tracker the kernel offers, and the hash scan's cost per byte.
 */
export async function linuxTrackerCosts(): Promise<TrackerCosts> {
  if (costs) return costs;
  const writeFaultNs: TrackerCosts['writeFaultNs'] = {};
  for (const kind of ['uffd-wp', 'mprotect', 'soft-dirty'] as const) {
    try {
      writeFaultNs[kind] = measureWriteFaultCost(kind);
    } catch {
      // the kernel lacks it: auto will not consider it
    }
  }
  costs = { writeFaultNs, hashNsPerByte: await measureHashNsPerByte() };
  return costs;
}
