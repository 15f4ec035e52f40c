import { setTimeout as sleep } from 'node:timers/promises';
import { SalvorError } from '../../bindings/salvor-error';

/** flock semantics over shared bytes: many shared holders or one exclusive; per handle, re-locking converts. */
interface LockState {
  shared: Set<MemoryNvramDevice>;
  exclusive: MemoryNvramDevice | undefined;
}
const locks = new WeakMap<Buffer, LockState>();
import { checkAccess, type NvramDevice } from '../../lib/nvram/device';

/** A simulated NVRAM held in memory: for hosts without the part, and for the contract suite. */
export class MemoryNvramDevice implements NvramDevice {
  readonly kind = 'sim' as const;
  private closed = false;
  constructor(
    readonly path: string,
    readonly bytes: Buffer,
  ) {}
  get size() {
    return this.bytes.length;
  }
  private check(offset: number, length: number): void {
    checkAccess(this, this.closed, offset, length);
  }
  async read(offset: number, length: number): Promise<Buffer> {
    this.check(offset, length);
    return Buffer.from(this.bytes.subarray(offset, offset + length));
  }
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check(offset, data.length);
    this.bytes.set(data, offset);
  }
  async flush(): Promise<void> {
    this.check(0, 0);
  }
  async lock(exclusive: boolean, timeoutMs: number): Promise<void> {
    this.check(0, 0);
    let state = locks.get(this.bytes);
    if (!state) locks.set(this.bytes, (state = { shared: new Set(), exclusive: undefined }));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const others = exclusive ? [...state.shared].some((h) => h !== this) || (state.exclusive && state.exclusive !== this) : state.exclusive && state.exclusive !== this;
      if (!others) break;
      if (Date.now() >= deadline)
        throw new SalvorError('SALVOR_LOCKED', `${this.path} is locked by another holder (waited ${timeoutMs} ms)`, { path: this.path });
      await sleep(Math.min(20, Math.max(1, deadline - Date.now())));
    }
    this.unlock();
    if (exclusive) state.exclusive = this;
    else state.shared.add(this);
  }

  private unlock(): void {
    const state = locks.get(this.bytes);
    if (!state) return;
    state.shared.delete(this);
    if (state.exclusive === this) state.exclusive = undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unlock();
  }
}
