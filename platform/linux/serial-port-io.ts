/**
 * Reads and writes on a serial port opened through a serialport binding, as the BytePort a SerialLine
 * runs on. bindings-cpp's own read()/write() are not used: its poller starts libuv with only the newest
 * event (so a pending read and a blocked write drop each other's interest, and a write can wait until
 * the peer happens to send something), and its promises resolve inside a native callback that does not
 * run the microtask queue (so an await can sit until some timer fires). Here the poller only signals;
 * the work happens in a setImmediate, with non-blocking reads and writes on the fd and the full event
 * mask passed every time. Bindings without an fd (binding-mock) use their read()/write().
 */
import { EventEmitter } from 'node:events';
import { readSync, writeSync } from 'node:fs';
import type { BytePort } from '../../lib/transport/serial-line';

/** The part of a serialport binding port this module uses. */
export interface SerialBindingPort {
  isOpen: boolean;
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
  write(buffer: Buffer): Promise<void>;
  close(): Promise<void>;
  /** bindings-cpp on Unix: the open, non-blocking descriptor and its libuv poller. */
  fd?: number | null;
  poller?: EventEmitter & { poll(flags: number): void };
}

const READ_CHUNK = 64 * 1024;
const UV_READABLE = 1;
const UV_WRITABLE = 2;

function wouldBlock(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
}

/** The port as a BytePort: the fd path where the binding has one, its read()/write() otherwise. */
export function bytePortOf(name: string, port: SerialBindingPort): BytePort {
  return typeof port.fd === 'number' && port.poller ? new PolledFdPort(name, port, port.fd, port.poller) : new BindingCallsPort(name, port);
}

class PolledFdPort implements BytePort {
  private readonly buffer = Buffer.allocUnsafe(READ_CHUNK);
  private onBytes: (chunk: Buffer) => void = () => {};
  private onError: (err: Error) => void = () => {};
  private pendingWrite: { bytes: Buffer; resolve: () => void; reject: (err: Error) => void } | undefined;
  private closing: Promise<void> | undefined;
  private readonly readable = (err: Error | null) => setImmediate(() => this.ready(err, 'read'));
  private readonly writable = (err: Error | null) => setImmediate(() => this.ready(err, 'write'));

  constructor(
    readonly name: string,
    private readonly port: SerialBindingPort,
    private readonly fd: number,
    private readonly poller: EventEmitter & { poll(flags: number): void },
  ) {}

  start(onBytes: (chunk: Buffer) => void, onError: (err: Error) => void): void {
    this.onBytes = onBytes;
    this.onError = onError;
    this.poller.on('readable', this.readable);
    this.poller.on('writable', this.writable);
    this.ready(null, 'read');
  }

  write(bytes: Buffer): Promise<void> {
    if (this.closing) return Promise.reject(new Error('port is closed'));
    return new Promise<void>((resolve, reject) => {
      this.pendingWrite = { bytes, resolve, reject };
      this.ready(null, 'write');
    });
  }

  private ready(err: Error | null, what: 'read' | 'write'): void {
    if (this.closing) return;
    if (err) return this.fail(err);
    try {
      if (what === 'read') this.readAll();
      else this.writeSome();
    } catch (e) {
      return this.fail(e as Error);
    }
    if (!this.closing) this.poller.poll(UV_READABLE | (this.pendingWrite ? UV_WRITABLE : 0));
  }

  /** Reads until the tty has nothing more (EAGAIN); each chunk is a fresh Buffer. */
  private readAll(): void {
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, this.buffer, 0, READ_CHUNK, null);
      } catch (err) {
        if (wouldBlock(err)) return;
        throw err;
      }
      if (n === 0) throw new Error('the other end hung up (end of file)');
      this.onBytes(Buffer.from(this.buffer.subarray(0, n)));
      if (this.closing) return;
    }
  }

  private writeSome(): void {
    const w = this.pendingWrite;
    if (!w) return;
    while (w.bytes.length) {
      try {
        w.bytes = w.bytes.subarray(writeSync(this.fd, w.bytes));
      } catch (err) {
        if (wouldBlock(err)) return;
        throw err;
      }
    }
    this.pendingWrite = undefined;
    w.resolve();
  }

  /** A read or write failed (the device went away, the pty hung up): report it once and stop polling. */
  private fail(err: Error): void {
    if (this.closing) return;
    const w = this.pendingWrite;
    this.pendingWrite = undefined;
    w?.reject(err);
    this.onError(err);
    void this.close(); // a dead descriptor stays "readable": polling it on would spin
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.poller.off('readable', this.readable);
      this.poller.off('writable', this.writable);
      this.pendingWrite?.reject(new Error('port is closed'));
      this.pendingWrite = undefined;
      if (this.port.isOpen) await this.port.close().catch(() => {});
    })();
    return this.closing;
  }
}

/** A binding without a descriptor (binding-mock): its own promise-based read loop and writes. */
class BindingCallsPort implements BytePort {
  private closing: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly port: SerialBindingPort,
  ) {}

  write(bytes: Buffer): Promise<void> {
    return this.port.write(bytes);
  }

  start(onBytes: (chunk: Buffer) => void, onError: (err: Error) => void): void {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    const loop = async () => {
      while (!this.closing && this.port.isOpen) {
        const { bytesRead } = await this.port.read(buffer, 0, READ_CHUNK);
        if (this.closing) return;
        if (bytesRead > 0) onBytes(Buffer.from(buffer.subarray(0, bytesRead)));
      }
    };
    loop().catch((err: Error & { canceled?: boolean }) => {
      if (!this.closing && !err.canceled) onError(err);
    });
  }

  close(): Promise<void> {
    this.closing ??= this.port.isOpen ? this.port.close().catch(() => {}) : Promise.resolve();
    return this.closing;
  }
}
