/**
 * The serial transport: `serial:///dev/ttyX?baud=N&flow=rtscts|none` (docs/formats/serial-link.md).
 * The tty is opened through serialport's bindings (open, termios and polling in native code, reads and
 * writes in TS: serial-port-io.ts); lib/transport/serial-*.ts does the framing, handshake and ARQ. A serial line has no
 * accept: listen() opens the tty and waits for a peer's HELLO, connect() opens it and sends HELLO.
 * A pre-shared key is required. SALVOR_LINK_FAULT applies per packet sent.
 */
import { stat } from 'node:fs/promises';
import { SalvorError } from '../../bindings/salvor-error';
import { MAX_FRAME_PAYLOAD, frameWireLength, type FrameLimit } from '../../lib/transport/frame';
import type { Link, LinkOptions, Listener, TransportBackend } from '../../lib/transport/link';
import { MIN_PSK_BYTES } from '../../lib/transport/psk-file';
import { linkFaultsFromEnv } from '../../lib/transport/link-faults';
import { SerialLine } from '../../lib/transport/serial-line';
import { MAC_BYTES, SESSION_HEADER_BYTES } from '../../lib/transport/serial-packet';
import { type SerialSettings, SerialSessionListener, connectSerialSession } from '../../lib/transport/serial-session';
import { type SerialBindingPort, bytePortOf } from './serial-port-io';

/** The part of serialport's binding interface this transport uses (bindings-cpp and binding-mock both have it). */
export interface SerialBinding {
  open(options: { path: string; baudRate: number; rtscts?: boolean; dataBits?: 8; stopBits?: 1; parity?: string; lock?: boolean }): Promise<SerialBindingPort>;
}

export interface SerialUrl {
  path: string;
  baudRate: number;
  flow: 'rtscts' | 'none';
  window: number;
  retries: number;
  /** The URL in normal form, as Link.url and Listener.url report it. */
  href: string;
}

export const DEFAULT_BAUD = 115200;
export const DEFAULT_WINDOW = 16;
export const DEFAULT_RETRIES = 10;
const DEFAULT_TIMEOUT_MS = 5000;
const MAX_PACKET_BYTES = SESSION_HEADER_BYTES + frameWireLength(MAX_FRAME_PAYLOAD) + MAC_BYTES;

function badUrl(url: URL | string, what: string): SalvorError {
  return new SalvorError('SALVOR_BAD_INPUT', `serial URL ${String(url)}: ${what} (serial:///dev/ttyX?baud=N&flow=rtscts|none)`);
}

function integerParam(url: URL, key: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw badUrl(url, `${key}=${text} is not an integer ${min}..${max}`);
  return Number(text);
}

/** Parses and checks a serial URL; SALVOR_BAD_INPUT names the part that is wrong. */
export function parseSerialUrl(url: URL): SerialUrl {
  if (url.protocol !== 'serial:') throw badUrl(url, `scheme '${url.protocol}' is not serial:`);
  if (url.host !== '') throw badUrl(url, `host '${url.host}' given: the tty path follows three slashes`);
  if (url.hash) throw badUrl(url, `fragment '${url.hash}' has no meaning on a serial line`);
  const path = decodeURIComponent(url.pathname);
  if (!path.startsWith('/') || path === '/' || path.endsWith('/')) throw badUrl(url, `path '${path}' is not a tty device path`);
  const out = { path, baudRate: DEFAULT_BAUD, flow: 'none' as SerialUrl['flow'], window: DEFAULT_WINDOW, retries: DEFAULT_RETRIES };
  const seen = new Set<string>();
  for (const [key, value] of url.searchParams) {
    if (seen.has(key)) throw badUrl(url, `query key '${key}' given twice`);
    seen.add(key);
    if (key === 'baud') out.baudRate = integerParam(url, key, value, 50, 4_000_000);
    else if (key === 'window') out.window = integerParam(url, key, value, 1, 32);
    else if (key === 'retries') out.retries = integerParam(url, key, value, 1, 100);
    else if (key === 'flow') {
      if (value !== 'rtscts' && value !== 'none') throw badUrl(url, `flow=${value} is not rtscts or none`);
      out.flow = value;
    } else throw badUrl(url, `unknown query key '${key}' (known: baud, flow, window, retries)`);
  }
  const query = `baud=${out.baudRate}&flow=${out.flow}` + (out.window !== DEFAULT_WINDOW ? `&window=${out.window}` : '') + (out.retries !== DEFAULT_RETRIES ? `&retries=${out.retries}` : '');
  return { ...out, href: `serial://${path}?${query}` };
}

function checkOptions(options: LinkOptions): { psk: Buffer; timeoutMs: number; log: (line: Record<string, unknown>) => void; frameLimit: FrameLimit | undefined } {
  const psk = options.psk;
  if (psk === undefined) throw new SalvorError('SALVOR_BAD_INPUT', 'a serial link needs a pre-shared key (options.psk): it has no certificates, and salvor never carries unauthenticated peer traffic');
  if (!Buffer.isBuffer(psk) || psk.length < MIN_PSK_BYTES) throw new SalvorError('SALVOR_BAD_INPUT', `psk must be a Buffer of at least ${MIN_PSK_BYTES} bytes`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new SalvorError('SALVOR_BAD_INPUT', `timeoutMs ${timeoutMs} is not a positive number of milliseconds`);
  return { psk, timeoutMs, log: options.log ?? (() => {}), frameLimit: options.frameLimit };
}

const openErrors: [RegExp, string][] = [
  [/no such file/i, 'ENOENT'],
  [/permission denied/i, 'EACCES'],
  [/inappropriate ioctl/i, 'ENOTTY'],
  [/cannot lock|resource temporarily unavailable/i, 'EBUSY'],
  [/is a directory/i, 'EISDIR'],
];

/** serialport's errors carry only a message: give them a code and the tty. */
function openError(err: unknown, path: string): SalvorError {
  const message = err instanceof Error ? err.message : String(err);
  const code = openErrors.find(([re]) => re.test(message))?.[1] ?? 'SALVOR_IO';
  return new SalvorError(code, `${path}: cannot open the serial line: ${message}`, { syscall: 'open', path });
}

export interface SerialTransportOptions {
  /** serialport binding; default: the one serialport detects for this OS (bindings-cpp). */
  binding?: SerialBinding;
}

async function defaultBinding(): Promise<SerialBinding> {
  try {
    const { SerialPort } = await import('serialport');
    return SerialPort.binding as unknown as SerialBinding;
  } catch (err) {
    throw new SalvorError('SALVOR_UNSUPPORTED', `the serial transport needs serialport's native binding, which did not load: ${(err as Error).message}`);
  }
}

/** Opens the tty and puts a packet line on it. */
async function openLine(binding: SerialBinding, target: SerialUrl): Promise<SerialLine> {
  const faults = linkFaultsFromEnv(process.env); // a malformed plan fails before the line opens
  let port: SerialBindingPort;
  try {
    port = await binding.open({ path: target.path, baudRate: target.baudRate, rtscts: target.flow === 'rtscts', dataBits: 8, stopBits: 1, parity: 'none', lock: true });
  } catch (err) {
    // The binding's errors are message-only: a missing device gets its errno from stat instead.
    const missing = await stat(target.path).then(
      () => undefined,
      (e: unknown) => SalvorError.fromNode(e, target.path),
    );
    throw missing ?? openError(err, target.path);
  }
  return new SerialLine(bytePortOf(target.path, port), faults, MAX_PACKET_BYTES);
}

function settingsFor(target: SerialUrl, options: ReturnType<typeof checkOptions>): SerialSettings {
  return {
    url: target.href,
    psk: options.psk,
    timeoutMs: options.timeoutMs,
    window: target.window,
    maxRetries: target.retries,
    lineBytesPerSecond: target.baudRate / 10, // 8 data bits, a start and a stop bit
    log: options.log,
    frameLimit: options.frameLimit,
  };
}

/** A serial TransportBackend over the given serialport binding. */
export function createSerialTransport(transportOptions: SerialTransportOptions = {}): TransportBackend {
  let binding: Promise<SerialBinding> | undefined = transportOptions.binding ? Promise.resolve(transportOptions.binding) : undefined;
  const getBinding = () => (binding ??= defaultBinding().catch((err) => ((binding = undefined), Promise.reject(err))));

  async function listen(url: URL, options: LinkOptions): Promise<Listener> {
    const target = parseSerialUrl(url);
    const checked = checkOptions(options);
    const line = await openLine(await getBinding(), target);
    return new SerialSessionListener(line, settingsFor(target, checked));
  }

  async function connect(url: URL, options: LinkOptions): Promise<Link> {
    const target = parseSerialUrl(url);
    const checked = checkOptions(options);
    const line = await openLine(await getBinding(), target);
    return connectSerialSession(line, settingsFor(target, checked));
  }

  return { schemes: ['serial'], listen, connect };
}

export const serialTransport: TransportBackend = createSerialTransport();
