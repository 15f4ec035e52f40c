/**
 * A virtual null-modem cable: two pseudo-terminals joined by socat, each end a tty that serialport
 * opens like a real UART. Used to run the serial transport end to end without hardware (tests,
 * benchmarks, a loopback self-check).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SalvorError } from '../../bindings/salvor-error';

export interface PtyPair {
  /** The two ends (symlinks to /dev/pts/N): bytes written to one are read from the other. */
  a: string;
  b: string;
  /** socat's process id. */
  pid: number;
  /** Stops socat and removes the links; safe to call twice. */
  close(): Promise<void>;
}

export interface PtyPairOptions {
  /** Also record the traffic: every byte a -> b into `${record}.a-to-b`, b -> a into `${record}.b-to-a` (socat -r/-R). */
  record?: string;
  timeoutMs?: number;
}

/** Starts `socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B`; SALVOR_UNSUPPORTED (loudly) without socat. */
export async function openPtyPair(options: PtyPairOptions = {}): Promise<PtyPair> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const dir = await mkdtemp(join(tmpdir(), 'salvor-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const record = options.record ? ['-r', `${options.record}.a-to-b`, '-R', `${options.record}.b-to-a`] : [];
  const child: ChildProcess = spawn('socat', ['-d', '-d', ...record, `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let closing: Promise<void> | undefined;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const close = (): Promise<void> => {
    closing ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT'); // a test may have frozen the cable
        child.kill('SIGTERM');
      }
      await exited;
      await rm(dir, { recursive: true, force: true });
    })();
    return closing;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SalvorError('SALVOR_TIMEOUT', `socat did not report both ptys within ${timeoutMs} ms: ${stderr.trim()}`)), timeoutMs);
      child.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          err.code === 'ENOENT'
            ? new SalvorError('SALVOR_UNSUPPORTED', 'socat is not installed (apt-get install socat): it provides the pty pair', { syscall: 'spawn', path: 'socat' })
            : SalvorError.fromNode(err, 'socat'),
        );
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new SalvorError('SALVOR_IO', `socat exited (${code}) before the ptys were ready: ${stderr.trim()}`));
      });
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (text: string) => {
        stderr += text;
        // "starting data transfer loop" comes once both ptys exist and their links are made.
        if (/starting data transfer loop/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (err) {
    await close();
    throw err;
  }
  child.removeAllListeners('exit');
  return { a, b, pid: child.pid!, close };
}
