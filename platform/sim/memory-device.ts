import { SalvorError } from '../../bindings/salvor-error';
import { checkAccess, type NvramDevice } from '../../lib/nvram/device';

/** A simulated NVRAM held in memory: for hosts without the part, and for the contract suite. */
export class MemoryNvramDevice implements NvramDevice {
  readonly kind = 'sim' as const;
  private closed = false;
  private locked = false;
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
  async lock(_exclusive: boolean, _timeoutMs: number): Promise<void> {
    this.check(0, 0);
    if (this.locked) throw new SalvorError('SALVOR_LOCKED', `${this.path} is already locked`, { path: this.path });
    this.locked = true;
  }
  async close(): Promise<void> {
    this.closed = true;
    this.locked = false;
  }
}
