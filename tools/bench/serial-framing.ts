/**
 * How much of a serial line the link gives to payload, sending 4 KiB frames (docs/formats/serial-link.md).
 * Both ends run on @serialport/binding-mock ports joined by a cable paced at a real UART rate (3 Mbaud,
 * 8N1: 300,000 bytes/s each way, full duplex), so time on the line is bytes on the line.
 * - subject: the serial link moving 48 frames of 4 KiB (COBS, ARQ header, MAC, link frame) to the other end;
 * - anchor: the same 48 x 4 KiB written raw on an identical paced cable: the line's own speed.
 * The time ratio is then the link's cost in line time (at most 1/0.95 for the 95 % target). The byte
 * figure the target names is printed from summarize(): payload bytes / bytes on the wire, both ends'
 * bytesOnWire (DATA one way, ACKs the other) over 256 frames sent outside the timed runs.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import type { Link } from '../../lib/transport/link';
import { type SerialBinding, createSerialTransport } from '../../platform/linux/transport-serial';
import type { Benchmark } from './run';

const BAUD = 3_000_000;
const BYTES_PER_MS = BAUD / 10 / 1000;
const FRAME = 4096;
const FRAMES_PER_RUN = 48;
const SHARE_FRAMES = 256;
const SHARE_TARGET = 0.95;
/** What a UART driver holds before write() waits: the writer keeps the line busy, as a real one does. */
const DRIVER_BUFFER = 4096;

/** One direction of the cable: bytes leave at the line rate and arrive when their last byte is out. */
class PacedWire {
  private busyUntil = 0;
  constructor(private readonly deliver: (bytes: Buffer) => void) {}

  async write(bytes: Buffer): Promise<void> {
    const now = performance.now();
    const end = Math.max(now, this.busyUntil) + bytes.length / BYTES_PER_MS;
    this.busyUntil = end;
    const copy = Buffer.from(bytes);
    setTimeout(() => this.deliver(copy), end - now);
    const wait = end - now - DRIVER_BUFFER / BYTES_PER_MS;
    if (wait > 1) await sleep(wait);
  }
}

let cables = 0;

/** Two mock ports joined by paced wires; `binding` opens either end. */
function pacedCable() {
  const n = ++cables;
  const ends = [`/dev/salvor-bench-serial-${n}-a`, `/dev/salvor-bench-serial-${n}-b`] as const;
  const open = new Map<string, MockPortBinding>();
  for (const path of ends) MockBinding.createPort(path, { maxReadSize: 64 * 1024 });
  const deliverTo = (path: string) => (bytes: Buffer) => {
    const port = open.get(path);
    if (port?.isOpen) port.emitData(bytes);
  };
  const wires = new Map([
    [ends[0], new PacedWire(deliverTo(ends[1]))],
    [ends[1], new PacedWire(deliverTo(ends[0]))],
  ]);
  const binding: SerialBinding = {
    open: async (options) => {
      const port = await MockBinding.open(options);
      open.set(options.path, port);
      const wire = wires.get(options.path as (typeof ends)[number])!;
      return {
        get isOpen() {
          return port.isOpen;
        },
        read: (buffer, offset, length) => port.read(buffer, offset, length),
        write: (bytes) => wire.write(bytes),
        close: () => port.close(),
      };
    },
  };
  return { ends, binding, open };
}

/** Resolves when `link` has received `count` more frames. */
function arrivals(link: Link): (count: number) => Promise<void> {
  let got = 0;
  let want = 0;
  let wake: (() => void) | undefined;
  link.onFrame(() => {
    if (++got >= want) wake?.();
  });
  return (count) => {
    want = got + count;
    return got >= want ? Promise.resolve() : new Promise<void>((resolve) => (wake = resolve));
  };
}

let measuredShare: { share: number; payload: number; wire: number } | undefined;
let closeAll: (() => Promise<void>) | undefined;

export const serialFramingBenchmark: Benchmark = {
  name: 'serial-framing',
  title: `serial link, ${FRAMES_PER_RUN} frames of 4 KiB on a line paced at ${BAUD / 1e6} Mbaud`,
  target: { kind: 'time-ratio', value: Number((1 / SHARE_TARGET).toFixed(3)) },
  setup: async () => {
    const psk = randomBytes(32);
    const payload = randomBytes(FRAME);
    const linkCable = pacedCable();
    const transport = createSerialTransport({ binding: linkCable.binding });
    const query = `?baud=${BAUD}`;
    const listener = await transport.listen(new URL(`serial://${linkCable.ends[0]}${query}`), { psk });
    const accepted = new Promise<Link>((resolve) => listener.onLink(resolve));
    const sender = await transport.connect(new URL(`serial://${linkCable.ends[1]}${query}`), { psk });
    const receiver = await accepted;
    const received = arrivals(receiver);
    const sendFrames = async (count: number) => {
      const done = received(count);
      for (let i = 0; i < count; i++) await sender.send(1, payload, 1n);
      await done;
    };

    // The byte share, outside the timed runs: everything both ends put on the line for SHARE_FRAMES frames.
    const before = sender.bytesOnWire + receiver.bytesOnWire;
    await sendFrames(SHARE_FRAMES);
    await sleep(100); // the last ACK
    const wire = sender.bytesOnWire + receiver.bytesOnWire - before;
    measuredShare = { share: (SHARE_FRAMES * FRAME) / wire, payload: SHARE_FRAMES * FRAME, wire };

    const rawCable = pacedCable();
    const [rawA, rawB] = await Promise.all(rawCable.ends.map((path) => rawCable.binding.open({ path, baudRate: BAUD })));
    const readBuffer = Buffer.alloc(64 * 1024);
    const rawTransfer = async () => {
      const total = FRAMES_PER_RUN * FRAME;
      let got = 0;
      const reading = (async () => {
        while (got < total) got += (await rawB!.read(readBuffer, 0, readBuffer.length)).bytesRead;
      })();
      for (let i = 0; i < FRAMES_PER_RUN; i++) await rawA!.write(payload);
      await reading;
    };

    closeAll = async () => {
      await Promise.all([sender.close(), receiver.close()]);
      await listener.close();
      await Promise.all([rawA!.close(), rawB!.close()]);
    };
    return {
      subject: { label: 'serial link: 4 KiB frames, COBS + ARQ + MAC', bytes: FRAMES_PER_RUN * FRAME, run: () => sendFrames(FRAMES_PER_RUN) },
      anchor: { label: 'the same payload bytes written raw', bytes: FRAMES_PER_RUN * FRAME, run: rawTransfer },
    };
  },
  teardown: () => void closeAll?.(),
  summarize: (measured) => {
    const [subject, anchor] = measured;
    const s = measuredShare!;
    const met = s.share >= SHARE_TARGET;
    const lineShare = subject && anchor ? anchor.medianMs / subject.medianMs : NaN;
    return {
      lines: [
        `payload share of bytes on the wire (both ends' bytesOnWire, ACKs included, ${SHARE_FRAMES} frames of 4 KiB): ${(s.share * 100).toFixed(2)} % ` +
          `(${s.payload} payload bytes / ${s.wire} bytes), target >= ${SHARE_TARGET * 100} %: ${met ? 'met' : 'NOT met'}`,
        `payload share of line time (anchor time / subject time): ${(lineShare * 100).toFixed(2)} %`,
      ],
      json: { payloadShare: Number(s.share.toFixed(4)), payloadBytes: s.payload, wireBytes: s.wire, payloadShareTarget: SHARE_TARGET, payloadShareMet: met, lineTimeShare: Number(lineShare.toFixed(4)) },
    };
  },
};
