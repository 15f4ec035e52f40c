import { SalvorError } from '../../../bindings/salvor-error';
import type { DeviceOpener, NvramDevice } from '../device';
import type { UbootConfig, UbootCopyLocation } from './fw-env-config';

/**
 * The one or two places an environment lives, opened through the caller's DeviceOpener. Copies on
 * the same device share one handle (and one lock). Every read goes to the device, so an edit made
 * meanwhile by fw_setenv or another salvor is always seen.
 */
export class EnvCopies {
  private readonly lockedDevices = new Set<NvramDevice>();
  private closed = false;

  private constructor(
    readonly config: UbootConfig,
    private readonly devices: Map<string, NvramDevice>,
  ) {}

  static async open(config: UbootConfig, opener: DeviceOpener, writable: boolean): Promise<EnvCopies> {
    const devices = new Map<string, NvramDevice>();
    try {
      for (const copy of config.copies) {
        let device = devices.get(copy.device);
        if (!device) {
          device = await opener(copy.device, { writable });
          devices.set(copy.device, device);
        }
        if (copy.offset + copy.envSize > device.size)
          throw new SalvorError(
            'SALVOR_BAD_INPUT',
            `${config.path}:${copy.line}: environment at offset ${copy.offset} of 0x${copy.envSize.toString(16)} bytes ` +
              `runs past the end of ${copy.device} (${device.size} bytes)`,
            { path: config.path },
          );
      }
    } catch (err) {
      await Promise.allSettled([...devices.values()].map((d) => d.close()));
      throw err;
    }
    return new EnvCopies(config, devices);
  }

  get redundant(): boolean {
    return this.config.copies.length === 2;
  }

  get envSize(): number {
    return this.config.copies[0].envSize;
  }

  get locations(): UbootCopyLocation[] {
    return this.config.copies;
  }

  /** The device(s) as operators name them in messages: "DEV" or "DEV and DEV2". */
  get deviceNames(): string {
    return [...this.devices.keys()].join(' and ');
  }

  private device(index: number): NvramDevice {
    if (this.closed) throw new SalvorError('SALVOR_CLOSED', `U-Boot environment on ${this.deviceNames} is closed`);
    return this.devices.get(this.config.copies[index].device) as NvramDevice;
  }

  async readImage(index: number): Promise<Buffer> {
    const where = this.config.copies[index];
    return this.device(index).read(where.offset, where.envSize);
  }

  /**
   * Takes the exclusive device lock on every device, once; it is held until close so that a
   * read-modify-write is never interleaved with another salvor's.
   */
  async lockForWrite(timeoutMs: number): Promise<void> {
    for (const device of this.devices.values()) {
      if (device.kind === 'char')
        throw new SalvorError(
          'SALVOR_UNSUPPORTED',
          `${device.path} is a character device (raw MTD needs an erase before writing); use its mtdblock device in ${this.config.path}`,
          { path: device.path },
        );
    }
    for (const device of this.devices.values()) {
      if (this.lockedDevices.has(device)) continue;
      await device.lock(true, timeoutMs);
      this.lockedDevices.add(device);
    }
  }

  /** Writes one whole copy and returns only when it is durable. */
  async writeImage(index: number, image: Buffer): Promise<void> {
    const where = this.config.copies[index];
    if (image.length !== where.envSize) throw new RangeError(`copy image is ${image.length} bytes, expected ${where.envSize}`);
    const device = this.device(index);
    await device.write(where.offset, image);
    await device.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const results = await Promise.allSettled([...this.devices.values()].map((d) => d.close()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
