import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { HardwareStatus, TeeClient, TeeCrashNotice, TeeFault, TeeLogin, TeeParam } from '../../lib/tee/client';
import { teecError, TeeError } from '../../lib/tee/tee-errors';

type WireParam = { type: 'none' } | { type: 'value'; a: number; b: number } | { type: 'memref'; data: string; shm?: number };

interface InFlight {
  resolve: (body: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** The TEE OS script, compiled beside this file (tests running the TypeScript use the built dist/ copy). */
function teeOsScript(): string {
  return __filename.endsWith('.ts') ? join(__dirname, '..', '..', 'dist', 'platform', 'sim', 'tee-os-process.js') : join(__dirname, 'tee-os-process.js');
}

const toWire = (p: TeeParam): WireParam => (p.type === 'memref' ? { type: 'memref', data: p.data.toString('base64'), shm: p.shm } : p);
const fromWire = (p: WireParam): TeeParam => (p.type === 'memref' ? { type: 'memref', data: Buffer.from(p.data, 'base64'), shm: p.shm } : p);

/**
 * The simulated backend: a TEE OS in a child process (tee-os-process.ts) with its secure storage in
 * `storageDir`. Every reply carries a CRC-32 of its body, so a corrupted one is caught here. A panic
 * is announced by the TEE OS (as a real one prints on its console and remoteproc reports a crash);
 * calls in flight then fail at once instead of waiting for their deadlines.
 */
export class SimTeeClient implements TeeClient {
  readonly backend = 'sim';
  readonly injectable = true;
  lastRestartMs: number | undefined;
  private child: ChildProcess | undefined;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly crashListeners: ((n: TeeCrashNotice) => void)[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(private readonly storageDir: string) {}

  /** Boots the simulated TEE OS (a cold boot: hardware status from the board) and waits until it answers. */
  static async open(storageDir: string, bootTimeoutMs = 10_000): Promise<SimTeeClient> {
    const c = new SimTeeClient(storageDir);
    await c.boot('cold', bootTimeoutMs);
    return c;
  }

  private boot(mode: 'cold' | 'warm', timeoutMs: number): Promise<void> {
    // execArgv: [] so that loaders of the parent (a test runner's TypeScript hooks) do not slow every boot.
    const child = fork(teeOsScript(), [this.storageDir, mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json', execArgv: [] });
    this.child = child;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.child === child) this.child = undefined; // a failed boot, not a crash to report
        child.kill('SIGKILL');
        reject(new TeeError('SALVOR_TEE_TIMEOUT', `the simulated TEE OS did not boot within ${timeoutMs} ms`));
      }, timeoutMs);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new TeeError('SALVOR_TEE_COMMS', `cannot start the simulated TEE OS: ${err.message}`));
      });
      child.on('message', (m: Record<string, unknown>) => {
        if (m.event === 'ready') {
          clearTimeout(timer);
          resolve();
        } else this.onMessage(m);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new TeeError('SALVOR_TEE_COMMS', `the simulated TEE OS exited while booting (${signal ?? code})`));
        if (this.child !== child) return; // replaced by a restart, or closed
        this.child = undefined;
        this.failInFlight(new TeeError('SALVOR_TEE_COMMS', `the simulated TEE OS process exited (${signal ?? code})`));
        if (!this.closed) this.notifyCrash(`TEE OS process exited (${signal ?? code})`);
      });
    });
  }

  private onMessage(m: Record<string, unknown>): void {
    if (m.event === 'panic') {
      this.failInFlight(new TeeError('SALVOR_TEE_COMMS', `the TEE OS panicked: ${String(m.reason)}`));
      this.notifyCrash(String(m.reason), m.at as number);
      return;
    }
    const call = this.inFlight.get(m.id as number);
    if (!call) return; // the answer to a call already past its deadline
    this.inFlight.delete(m.id as number);
    clearTimeout(call.timer);
    const text = m.body as string;
    if (typeof text !== 'string' || crc32(text) !== m.crc) {
      call.reject(new TeeError('SALVOR_TEE_CORRUPT', 'a reply from the simulated TEE failed its CRC-32 check'));
      return;
    }
    call.resolve(JSON.parse(text) as Record<string, unknown>);
  }

  private notifyCrash(reason: string, at = Date.now()): void {
    for (const l of this.crashListeners) l({ at, reason });
  }

  private failInFlight(err: Error): void {
    for (const [id, call] of this.inFlight) {
      clearTimeout(call.timer);
      this.inFlight.delete(id);
      call.reject(err);
    }
  }

  onCrash(listener: (n: TeeCrashNotice) => void): void {
    this.crashListeners.push(listener);
  }

  private call(what: string, request: Record<string, unknown>, deadlineMs: number): Promise<Record<string, unknown>> {
    const child = this.child;
    if (!child?.connected) return Promise.reject(new TeeError('SALVOR_TEE_COMMS', `${what}: the simulated TEE OS is not running`));
    const id = this.nextId++;
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.inFlight.delete(id);
        if (request.op === 'invoke') child.send({ id: this.nextId++, op: 'cancel', session: request.session, cancelId: id }, () => undefined);
        reject(new TeeError('SALVOR_TEE_TIMEOUT', `${what}: no answer from the TEE within ${deadlineMs} ms (cancelled)`));
      }, deadlineMs);
      this.inFlight.set(id, { resolve, reject, timer });
      child.send({ id, ...request }, (err) => {
        if (!err || !this.inFlight.has(id)) return;
        this.inFlight.delete(id);
        clearTimeout(timer);
        reject(new TeeError('SALVOR_TEE_COMMS', `${what}: cannot reach the simulated TEE OS: ${err.message}`));
      });
    }).then((body) => {
      if (body.ok) return body;
      throw teecError(body.teec as number, body.origin as number, `${what}: ${String(body.message)}`);
    });
  }

  async openSession(uuid: string, login: TeeLogin, deadlineMs: number): Promise<number> {
    return (await this.call('open session', { op: 'open', uuid, login }, deadlineMs)).session as number;
  }
  async closeSession(session: number, deadlineMs: number): Promise<void> {
    await this.call('close session', { op: 'close', session }, deadlineMs);
  }
  async invoke(session: number, command: number, params: TeeParam[], deadlineMs: number): Promise<TeeParam[]> {
    const body = await this.call(`invoke command ${command}`, { op: 'invoke', session, cmd: command, params: params.map(toWire) }, deadlineMs);
    return (body.params as WireParam[]).map(fromWire);
  }
  async registerSharedMemory(size: number, deadlineMs: number): Promise<number> {
    return (await this.call('register shared memory', { op: 'shm-register', size }, deadlineMs)).id as number;
  }
  async releaseSharedMemory(id: number, deadlineMs: number): Promise<void> {
    await this.call('release shared memory', { op: 'shm-release', id }, deadlineMs);
  }
  async readHardwareStatus(deadlineMs: number): Promise<HardwareStatus> {
    const b = await this.call('read hardware status', { op: 'regs-read' }, deadlineMs);
    return { registers: b.registers as Record<string, number>, readOnly: b.readOnly as string[] };
  }
  async writeHardwareStatus(registers: Record<string, number>, deadlineMs: number): Promise<void> {
    await this.call('write hardware status', { op: 'regs-write', registers }, deadlineMs);
  }
  async restartSupplicant(deadlineMs: number): Promise<void> {
    await this.call('restart supplicant', { op: 'supplicant-restart' }, deadlineMs);
  }

  /** Kills the TEE OS process and boots it warm (hardware status at reset values); lastRestartMs is kill to ready. */
  async restart(deadlineMs: number): Promise<void> {
    if (this.closed) throw new TeeError('SALVOR_TEE_COMMS', 'the simulated TEE is closed');
    const t0 = performance.now();
    await this.kill();
    this.failInFlight(new TeeError('SALVOR_TEE_COMMS', 'the TEE OS restarted'));
    await this.boot('warm', deadlineMs);
    this.lastRestartMs = performance.now() - t0;
  }

  private async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async inject(fault: TeeFault): Promise<void> {
    await this.call(`inject ${fault}`, { op: 'inject', fault }, 5000);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failInFlight(new TeeError('SALVOR_TEE_COMMS', 'the TEE client closed'));
    await this.kill();
  }
}
