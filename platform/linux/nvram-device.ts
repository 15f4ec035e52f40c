import { open, stat, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { addon, callNative } from '../../bindings/addon';
import { SalvorError } from '../../bindings/salvor-error';
import { checkAccess, type NvramDevice, type OpenDeviceOptions } from '../../lib/nvram/device';

/** A real device through the kernel: image file, /sys/bus/nvmem/devices/NAME/nvmem, block or mtdblock. */
class KernelNvramDevice implements NvramDevice {
  private closed = false;
  constructor(
    readonly path: string,
    readonly size: number,
    readonly kind: NvramDevice['kind'],
    private readonly fh: FileHandle,
  ) {}

  private check(offset: number, length: number): void {
    checkAccess(this, this.closed, offset, length);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.check(offset, length);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done).catch((e) => {
        throw SalvorError.fromNode(e, this.path);
      });
      if (bytesRead === 0) throw new SalvorError('SALVOR_SHORT_READ', `short read at ${offset + done} on ${this.path}`, { path: this.path });
      done += bytesRead;
    }
    return buf;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check(offset, data.length);
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done).catch((e) => {
        throw SalvorError.fromNode(e, this.path);
      });
      done += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    this.check(0, 0);
    // sysfs nvmem attributes write straight through and reject fsync; everything else must sync.
    if (this.kind === 'nvmem') return;
    await this.fh.sync().catch((e) => {
      throw SalvorError.fromNode(e, this.path);
    });
  }

  async lock(exclusive: boolean, timeoutMs: number): Promise<void> {
    this.check(0, 0);
    const deadline = Date.now() + timeoutMs;
    for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
      if (callNative(() => addon().lockDevice(this.fh.fd, exclusive), this.path)) return;
      if (Date.now() >= deadline)
        throw new SalvorError('SALVOR_LOCKED', `${this.path} is locked by another salvor process (waited ${timeoutMs} ms)`, {
          path: this.path,
        });
      await sleep(wait);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close(); // closing the descriptor drops the flock
  }
}

/** Opens (or, for format, creates) the device at `path`. */
export async function openKernelNvramDevice(path: string, options: OpenDeviceOptions): Promise<NvramDevice> {
  let exists = true;
  await stat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT' || options.createSize === undefined) throw SalvorError.fromNode(e, path);
    exists = false;
  });
  const flags = options.writable ? (exists ? constants.O_RDWR : constants.O_RDWR | constants.O_CREAT | constants.O_EXCL) : constants.O_RDONLY;
  const fh = await open(path, flags, 0o600).catch((e) => {
    throw SalvorError.fromNode(e, path);
  });
  try {
    if (!exists && options.createSize !== undefined) await fh.truncate(options.createSize);
    const info = callNative(() => addon().deviceInfo(fh.fd), path);
    if (info.kind === 'directory' || info.kind === 'other')
      throw new SalvorError('SALVOR_BAD_INPUT', `${path} is a ${info.kind}, not a device or image file`, { path });
    const kind = path.startsWith('/sys/') && path.endsWith('/nvmem') ? 'nvmem' : info.kind;
    return new KernelNvramDevice(path, info.size, kind, fh);
  } catch (err) {
    await fh.close();
    throw err;
  }
}
