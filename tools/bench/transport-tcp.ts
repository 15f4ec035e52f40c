/**
 * A full-state transfer of 256 MiB over loopback TCP through the Link, against Node's own TCP throughput
 * (a net socket writing 256 MiB of 1 MiB buffers) measured in the same run. Two benchmarks:
 * - transport-tcp-framing: the TCP backend's SocketLink over a plain socket. The product never sends
 *   frames without TLS; this isolates what framing, CRC-32C, sequencing and batching cost.
 * - transport-tcp-tls: the product path, tcp:// with TLS-PSK (TLS 1.3, TLS_AES_128_GCM_SHA256); an extra
 *   side runs Node's own TLS socket with the same settings and no framing: what TLS alone allows.
 * Subjects send frames of mixed sizes, 4 KiB to 1 MiB (log-uniform, seeded); extras send one size each.
 * As between two appliances, the receiving end runs apart from the sender: in a worker thread of this
 * process (this same file), for the links and the raw anchor alike.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Link } from '../../lib/transport/link';
import { seededRandom } from '../../lib/transport/link-faults';
import { SocketLink } from '../../lib/transport/socket-link';
import { PSK_TLS, tcpTransport } from '../../platform/linux/transport-tcp';
import type { Benchmark, Side } from './run';

type Measured = { label: string; medianMs: number };

const TOTAL = 256 * 1024 * 1024;
const MIB = 1024 * 1024;
const FRAME_SIZES = [4096, 64 * 1024, MIB];
const RECEIVER_ROLE = 'salvor-bench-transport-receiver';

type Mode = 'raw' | 'framed' | 'tls' | 'tls-raw';


/** The receiving end, in the worker: accepts one connection, reports every TOTAL payload bytes. */
async function runReceiver({ mode, psk }: { mode: Mode; psk: Uint8Array }): Promise<void> {
  const port = parentPort!;
  let received = 0;
  const count = (n: number) => {
    received += n;
    if (received >= TOTAL) {
      received -= TOTAL;
      port.postMessage({ done: true });
    }
  };
  if (mode === 'tls') {
    const listener = await tcpTransport.listen(new URL('tcp://127.0.0.1:0'), { psk: Buffer.from(psk) });
    listener.onLink((link) => link.onFrame((f) => count(f.payload.length)));
    port.postMessage({ url: listener.url });
    return;
  }
  if (mode === 'tls-raw') {
    const server = tls.createServer({ ...PSK_TLS, pskCallback: () => Buffer.from(psk) }, (socket) => socket.on('data', (chunk: Buffer) => count(chunk.length)));
    server.listen(0, '127.0.0.1', () => port.postMessage({ url: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}` }));
    return;
  }
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    if (mode === 'raw') return void socket.on('data', (chunk: Buffer) => count(chunk.length));
    const link = new SocketLink(socket, 'tcp://bench', 'bench-sender', { timeoutMs: 5000 });
    void link.hello().then(() => link.onFrame((f) => count(f.payload.length)));
  });
  server.listen(0, '127.0.0.1', () => port.postMessage({ url: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}` }));
}

if (!isMainThread && workerData?.role === RECEIVER_ROLE) void runReceiver(workerData);

/** The sending end of one connection: send(TOTAL bytes in `sizes`) resolves when the receiver has them all. */
interface Sender {
  transfer(sizes: number[]): Promise<void>;
  close(): Promise<void>;
}

const pool = randomBytes(MIB);

async function openSender(mode: Mode): Promise<Sender> {
  const psk = randomBytes(32);
  const worker = new Worker(__filename, { workerData: { role: RECEIVER_ROLE, mode, psk } });
  const messages: { url?: string; done?: boolean }[] = [];
  let wake: (() => void) | undefined;
  worker.on('message', (m) => {
    messages.push(m);
    wake?.();
  });
  const next = async () => {
    while (messages.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return messages.shift()!;
  };
  const { url } = await next();
  const { hostname, port } = new URL(url!);
  let sendFrame: (n: number) => Promise<void> | boolean;
  let finish: () => Promise<void>;
  if (mode === 'tls') {
    const link: Link = await tcpTransport.connect(new URL(url!), { psk });
    sendFrame = (n) => link.send(1, pool.subarray(0, n), 1n);
    finish = () => link.close();
  } else {
    const socket =
      mode === 'tls-raw'
        ? tls.connect({ ...PSK_TLS, port: Number(port), host: hostname, pskCallback: () => ({ psk, identity: 'bench' }), checkServerIdentity: () => undefined })
        : net.connect(Number(port), hostname);
    await new Promise((resolve) => socket.once(mode === 'tls-raw' ? 'secureConnect' : 'connect', resolve));
    socket.setNoDelay(true);
    if (mode === 'raw' || mode === 'tls-raw') {
      sendFrame = (n) => socket.write(pool.subarray(0, n)) || new Promise<void>((resolve) => socket.once('drain', resolve));
      finish = async () => void socket.destroy();
    } else {
      const link = new SocketLink(socket, url!, 'bench-receiver', { timeoutMs: 5000 });
      await link.hello();
      sendFrame = (n) => link.send(1, pool.subarray(0, n), 1n);
      finish = () => link.close();
    }
  }
  return {
    transfer: async (sizes) => {
      for (const n of sizes) {
        const p = sendFrame(n);
        if (p !== true) await p;
      }
      await next();
    },
    close: async () => {
      await finish();
      await worker.terminate();
    },
  };
}

/** Frame sizes for one transfer: fixed, or log-uniform from 4 KiB to 1 MiB (seeded), adding up to TOTAL. */
function frameSizes(size: number | 'mixed'): number[] {
  const sizes: number[] = [];
  const random = seededRandom(42);
  let left = TOTAL;
  while (left > 0) {
    const want = size === 'mixed' ? Math.round(4096 * 256 ** random()) : size;
    sizes.push(Math.min(want, left));
    left -= sizes[sizes.length - 1]!;
  }
  return sizes;
}

const senders = new Map<Mode, Promise<Sender>>();
const senderFor = (mode: Mode) => senders.get(mode) ?? (senders.set(mode, openSender(mode)), senders.get(mode)!);

function transferSide(label: string, mode: Mode, size: number | 'mixed'): Side {
  const sizes = frameSizes(size);
  const what = size === 'mixed' ? '4 KiB..1 MiB frames' : `${size / 1024} KiB frames`;
  return {
    label: mode === 'raw' || mode === 'tls-raw' ? label : `${label}, ${what} (${sizes.length})`,
    bytes: TOTAL,
    run: async () => (await senderFor(mode)).transfer(sizes),
  };
}

function transferBenchmark(name: string, title: string, target: number, label: string, mode: Mode): Benchmark {
  return {
    name,
    title,
    target: { kind: 'speedup', value: target },
    setup: async () => ({
      subject: transferSide(label, mode, 'mixed'),
      anchor: transferSide('Node net socket, 256 MiB as 1 MiB writes', 'raw', MIB),
      extras: [
        ...FRAME_SIZES.map((size) => transferSide(label, mode, size)),
        ...(mode === 'tls' ? [transferSide('Node TLS socket, same PSK settings, 1 MiB writes (no framing)', 'tls-raw', MIB)] : []),
      ],
    }),
    summarize: (measured) => {
      const [subject, anchor, ...extras] = measured as [Measured, Measured, ...Measured[]];
      const bySize = extras.slice(0, FRAME_SIZES.length);
      const ratios = bySize.map((m) => `${m.label.split(', ').pop()}: ${(anchor.medianMs / m.medianMs).toFixed(2)}x`);
      const lines = [`throughput vs raw TCP by frame size: ${ratios.join('; ')}`];
      const json: Record<string, unknown> = {};
      const tlsAlone = extras[FRAME_SIZES.length];
      if (tlsAlone) {
        const ceiling = anchor.medianMs / tlsAlone.medianMs;
        const ofTls = tlsAlone.medianMs / subject.medianMs;
        lines.push(`Node's own TLS socket reaches ${ceiling.toFixed(2)}x raw TCP here; the Link gets ${ofTls.toFixed(2)}x of that`);
        Object.assign(json, { nodeTlsVsRaw: Number(ceiling.toFixed(2)), linkVsNodeTls: Number(ofTls.toFixed(2)) });
      }
      return { lines, json };
    },
    teardown: () => {
      const all = [...senders.values()];
      senders.clear();
      for (const s of all) void s.then((sender) => sender.close());
    },
  };
}

export const transportTcpBenchmarks: Benchmark[] = [
  transferBenchmark('transport-tcp-framing', 'full-state transfer of 256 MiB: Link framing over plain TCP vs raw TCP', 0.8, 'SocketLink, no TLS', 'framed'),
  transferBenchmark('transport-tcp-tls', 'full-state transfer of 256 MiB: tcp:// Link with TLS-PSK vs raw TCP', 0.5, 'tcp:// Link, TLS 1.3 PSK', 'tls'),
];
