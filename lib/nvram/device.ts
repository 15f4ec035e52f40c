import { SalvorError } from '../../bindings/salvor-error';

/**
 * The storage under an NVRAM: an image file, a Linux nvmem cell file, a block or MTD-block
 * partition, or a simulated device. Backends live in platform/; they all pass test/nvram/device-contract.
 *
 * Rules every backend keeps:
 * - read/write take absolute byte offsets inside [0, size); a range past the end is SALVOR_RANGE.
 * - write() may be buffered; flush() returns only when everything written before it is durable.
 * - lock() takes an advisory whole-device lock shared by every salvor process (and waits up to
 *   timeoutMs for it); close() releases it and is safe to call twice.
 */
export interface NvramDevice {
  readonly path: string;
  readonly size: number;
  readonly kind: 'file' | 'block' | 'nvmem' | 'char' | 'sim';
  read(offset: number, length: number): Promise<Buffer>;
  write(offset: number, data: Uint8Array): Promise<void>;
  flush(): Promise<void>;
  lock(exclusive: boolean, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDeviceOptions {
  /** Open for writing (format, recover, set). Read-only opens never change the device. */
  writable: boolean;
  /** Create a regular image file of this size when the path does not exist (format only). */
  createSize?: number;
}

export type DeviceOpener = (path: string, options: OpenDeviceOptions) => Promise<NvramDevice>;

/** The range and open-state rule every backend enforces, in one place. */
export function checkAccess(device: { path: string; size: number }, closed: boolean, offset: number, length: number): void {
  const path = device.path;
  if (closed) throw new SalvorError('SALVOR_CLOSED', `device ${path} is closed`, { path });
  if (offset < 0 || length < 0 || offset + length > device.size)
    throw new SalvorError('SALVOR_RANGE', `access ${offset}+${length} is outside device ${path} (${device.size} bytes)`, { path });
}
