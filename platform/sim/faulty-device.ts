import { SalvorError } from '../../bindings/salvor-error';
import type { NvramDevice } from '../../lib/nvram/device';
import { seededRandom } from '../../lib/transport/link-faults';

/**
 * Power-cut emulation around any NvramDevice, switched on by SALVOR_FAULT so the shipping binary can
 * be tested. Writes are held until flush() (as a disk cache would); write number `cutAfterWrites`+1
 * triggers the cut: each unflushed write then lands whole, not at all, as a prefix (torn), or with
 * garbage over its sectors, chosen by a seeded generator, and the device stops.
 *
 * SALVOR_FAULT=nvram-cut:WRITES[:SEED[:MODE]]  MODE = random (the default: chosen per write) | keep | lose | torn | garbage
 * On the cut the process is killed (SIGKILL) unless SALVOR_FAULT_ACTION=throw.
 */
export interface FaultPlan {
  cutAfterWrites: number;
  seed: number;
  mode: 'random' | 'keep' | 'lose' | 'torn' | 'garbage';
  onCut: 'kill' | 'throw';
}

export function faultPlanFromEnv(env: NodeJS.ProcessEnv): FaultPlan | undefined {
  const spec = env.SALVOR_FAULT;
  if (!spec) return undefined;
  const m = /^nvram-cut:(\d+)(?::(\d+))?(?::(random|keep|lose|torn|garbage))?$/.exec(spec);
  if (!m) throw new SalvorError('SALVOR_USAGE', `SALVOR_FAULT='${spec}' is not nvram-cut:WRITES[:SEED[:MODE]]`);
  return {
    cutAfterWrites: Number(m[1]),
    seed: Number(m[2] ?? 1),
    mode: (m[3] as FaultPlan['mode']) ?? 'random',
    onCut: env.SALVOR_FAULT_ACTION === 'throw' ? 'throw' : 'kill',
  };
}

class FaultyDevice implements NvramDevice {
  private pending: { offset: number; data: Buffer }[] = [];
  private writes = 0;
  private dead = false;
  private readonly random: () => number;

  constructor(
    private readonly inner: NvramDevice,
    private readonly plan: FaultPlan,
  ) {
    this.random = seededRandom(plan.seed);
  }
  get path() {
    return this.inner.path;
  }
  get size() {
    return this.inner.size;
  }
  get kind() {
    return this.inner.kind;
  }

  private closed = false;

  private alive(): void {
    if (this.closed) throw new SalvorError('SALVOR_CLOSED', `device ${this.path} is closed`, { path: this.path });
    if (this.dead) throw new SalvorError('SALVOR_POWER_CUT', `emulated power cut on ${this.path}`, { path: this.path });
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.alive();
    const buf = await this.inner.read(offset, length);
    for (const w of this.pending) overlay(buf, offset, w.offset, w.data); // reads see the cache
    return buf;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.alive();
    if (offset < 0 || offset + data.length > this.size) return this.inner.write(offset, data); // inner reports the range error
    this.writes++;
    this.pending.push({ offset, data: Buffer.from(data) });
    if (this.writes > this.plan.cutAfterWrites) await this.cut();
  }

  async flush(): Promise<void> {
    this.alive();
    for (const w of this.pending) await this.inner.write(w.offset, w.data);
    this.pending = [];
    await this.inner.flush();
  }

  private async cut(): Promise<void> {
    for (const w of this.pending) {
      const mode = this.plan.mode === 'random' ? (['keep', 'lose', 'torn', 'garbage'] as const)[Math.floor(this.random() * 4)] : this.plan.mode;
      if (mode === 'keep') await this.inner.write(w.offset, w.data);
      else if (mode === 'torn') {
        // Half the tears fall on a 256-byte boundary, as a disk persists whole sectors of a larger write.
        let keep = Math.floor(this.random() * w.data.length);
        if (this.random() < 0.5) keep -= keep % 256;
        await this.inner.write(w.offset, w.data.subarray(0, keep));
      }
      else if (mode === 'garbage') {
        const junk = Buffer.from(w.data);
        for (let i = Math.floor(this.random() * junk.length); i < junk.length; i++) junk[i] = Math.floor(this.random() * 256);
        await this.inner.write(w.offset, junk);
      }
    }
    this.pending = [];
    this.dead = true;
    await this.inner.flush();
    if (this.plan.onCut === 'kill') process.kill(process.pid, 'SIGKILL');
    this.alive();
  }

  lock(exclusive: boolean, timeoutMs: number): Promise<void> {
    return this.inner.lock(exclusive, timeoutMs);
  }
  close(): Promise<void> {
    this.closed = true;
    this.pending = []; // unflushed writes are lost on close without flush, as on power loss
    return this.inner.close();
  }
}

function overlay(target: Buffer, targetOffset: number, srcOffset: number, src: Buffer): void {
  const start = Math.max(targetOffset, srcOffset);
  const end = Math.min(targetOffset + target.length, srcOffset + src.length);
  if (start < end) src.copy(target, start - targetOffset, start - srcOffset, end - srcOffset);
}

export function withFaults(device: NvramDevice, plan: FaultPlan): NvramDevice {
  return new FaultyDevice(device, plan);
}
