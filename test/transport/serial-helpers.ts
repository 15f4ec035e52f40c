import { spawnSync } from 'node:child_process';
import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import type { Frame, Link, LinkOptions, Listener, TransportBackend } from '../../lib/transport/link';
import { seededRandom } from '../../lib/transport/link-faults';
import type { SerialLink } from '../../lib/transport/serial-arq';
import { type SerialBinding, createSerialTransport } from '../../platform/linux/transport-serial';

// Shared by the serial tests: a link pair on any two tty paths, a null-modem cable made of two
// binding-mock ports, and frame streams that both ends can regenerate.

export interface SerialPair {
  /** The connecting end. */
  a: SerialLink;
  /** The listening end's link. */
  b: SerialLink;
  listener: Listener;
  logs: Record<string, unknown>[];
  cleanup(): Promise<void>;
}

/** Listens on `listenUrl`, connects from `connectUrl`, and waits for both ends of the session. */
export async function serialPair(transport: TransportBackend, listenUrl: string, connectUrl: string, options: LinkOptions = {}): Promise<SerialPair> {
  const logs: Record<string, unknown>[] = [];
  const opts = { log: (l: Record<string, unknown>) => logs.push(l), ...options };
  const listener = await transport.listen(new URL(listenUrl), opts);
  const accepted = new Promise<Link>((resolve) => listener.onLink(resolve));
  try {
    const a = (await transport.connect(new URL(connectUrl), opts)) as SerialLink;
    const b = (await accepted) as SerialLink;
    return {
      a,
      b,
      listener,
      logs,
      cleanup: async () => {
        await Promise.all([a.close(), b.close()]);
        await listener.close();
      },
    };
  } catch (err) {
    await listener.close();
    throw err;
  }
}

/** True when socat runs here; the pty tests fail (not skip) without it. */
export function socatMissing(): string | undefined {
  const probe = spawnSync('socat', ['-V'], { encoding: 'utf8' });
  return probe.error || probe.status !== 0 ? 'socat is not installed (apt-get install socat): the serial tests need its pty pair' : undefined;
}

/**
 * Two binding-mock ports joined like a null-modem cable: what one end writes, the other reads. The
 * cable can be cut (bytes vanish), and tests can tap it (every byte each way) and put bytes on it.
 */
export class MockNullModem {
  readonly a: string;
  readonly b: string;
  readonly transport: TransportBackend;
  /** Every byte written, per direction, while tapping. */
  readonly tapped = { aToB: [] as Buffer[], bToA: [] as Buffer[] };
  tapping = false;
  cut = false;
  private readonly open = new Map<string, MockPortBinding>();

  constructor(name: string) {
    this.a = `/dev/salvor-mock-${name}-a`;
    this.b = `/dev/salvor-mock-${name}-b`;
    MockBinding.createPort(this.a, { maxReadSize: 64 * 1024 });
    MockBinding.createPort(this.b, { maxReadSize: 64 * 1024 });
    const binding: SerialBinding = {
      open: async (options) => {
        const port = await MockBinding.open(options);
        this.open.set(options.path, port);
        const other = options.path === this.a ? this.b : this.a;
        return {
          get isOpen() {
            return port.isOpen;
          },
          read: (buffer, offset, length) => port.read(buffer, offset, length),
          write: async (bytes) => {
            await port.write(bytes);
            if (this.tapping) (other === this.b ? this.tapped.aToB : this.tapped.bToA).push(Buffer.from(bytes));
            if (!this.cut) this.put(other, bytes);
          },
          close: () => port.close(),
        };
      },
    };
    this.transport = createSerialTransport({ binding });
  }

  /** Bytes arriving at the end `path` as if its peer had sent them. */
  put(path: string, bytes: Buffer): void {
    const port = this.open.get(path);
    if (port?.isOpen) port.emitData(Buffer.from(bytes));
  }
}

/** A deterministic stream of frames: the same seed gives the same types, epochs and payloads on both ends. */
export function frameStream(seed: number, pool: Buffer, maxSize: number) {
  const random = seededRandom(seed);
  return () => {
    const size = Math.floor(random() * (maxSize + 1));
    const offset = Math.floor(random() * (pool.length - size + 1));
    return { type: Math.floor(random() * 0xf0), epoch: BigInt(Math.floor(random() * 2 ** 32)), payload: pool.subarray(offset, offset + size) };
  };
}

/** Sends `count` frames from the stream, each after the previous send resolved. */
export async function sendStream(link: Link, count: number, next: ReturnType<typeof frameStream>): Promise<void> {
  for (let i = 0; i < count; i++) {
    const f = next();
    await link.send(f.type, f.payload, f.epoch);
  }
}

/**
 * Resolves once `count` frames arrived, each checked against the stream (seq 1, 2, ... and the same
 * type, epoch and payload); rejects on the first wrong frame or when the link closes first.
 */
export function expectStream(link: Link, count: number, next: ReturnType<typeof frameStream>, firstSeq = 1n): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    let done = false;
    link.onClose((err) => !done && reject(err ?? new Error(`closed after ${got} of ${count} frames`)));
    link.onFrame((frame: Frame) => {
      if (done) return; // extra frames show in the link's stats.framesDelivered
      const want = next();
      const seq = firstSeq + BigInt(got);
      const problem =
        frame.seq !== seq ? `seq ${frame.seq}, want ${seq}` : frame.type !== want.type || frame.epoch !== want.epoch ? 'type or epoch differs' : !frame.payload.equals(want.payload) ? 'payload differs' : undefined;
      if (problem) {
        done = true;
        return reject(new Error(`frame ${got + 1}: ${problem}`));
      }
      if (++got === count) {
        done = true;
        resolve(got);
      }
    });
  });
}

/** The first onClose of a link: its error, or undefined for a clean close. */
export function closed(link: Link): Promise<Error | undefined> {
  return new Promise((resolve) => link.onClose(resolve));
}

/** Runs `body` with SALVOR_LINK_FAULT set (links read it when they are made), then restores it. */
export async function withLinkFault<T>(spec: string, body: () => Promise<T>): Promise<T> {
  const before = process.env.SALVOR_LINK_FAULT;
  process.env.SALVOR_LINK_FAULT = spec;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env.SALVOR_LINK_FAULT;
    else process.env.SALVOR_LINK_FAULT = before;
  }
}
