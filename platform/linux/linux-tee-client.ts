import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { SalvorError } from '../../bindings/salvor-error';
import {
  decodeInvoke,
  decodeOpenSession,
  encodeCancel,
  encodeCloseSession,
  encodeInvoke,
  encodeOpenSession,
  Login,
  ParamAttr,
  teeClose,
  teeIoctl,
  teeOpen,
  teeRegister,
  teeVersion,
  type RawParam,
} from '../../bindings/tee';
import type { HardwareStatus, TeeClient, TeeCrashNotice, TeeLogin, TeeParam } from '../../lib/tee/client';
import { errnoTeeError, teecError, TeeError } from '../../lib/tee/tee-errors';

export interface LinuxTeeOptions {
  /** /dev/teeN (a client device, not teeprivN). */
  device: string;
  /** /sys/class/remoteproc/remoteprocN: the TEE OS is restarted by writing stop and start to its state. */
  remoteproc?: string;
  /** A platform command that restarts the TEE OS (used when no remoteproc is given). */
  restartCommand?: string[];
  /** Hardware status parameters: sysfs attributes or nvmem cells holding one integer each. */
  hardwareStatus?: { name: string; path: string; readOnly?: boolean }[];
}

const SCRATCH_SIZE = 128 * 1024;
const GEN_CAP_GP = 1;
const GEN_CAP_REG_MEM = 4;

/**
 * The Linux backend: the TEE driver's client device through the addon (every ioctl on a worker
 * thread). A call past its deadline is cancelled with TEE_IOC_CANCEL and reported as a hang; the
 * worker stays blocked until the driver returns, its late answer ignored. Memref parameters are placed
 * in shared memory registered with TEE_IOC_SHM_REGISTER (a registration the caller made, or a scratch
 * one), and invokes are serialized, since they share it.
 */
export class LinuxTeeClient implements TeeClient {
  readonly backend = 'linux';
  readonly injectable = false;
  lastRestartMs: number | undefined;
  private fd = -1;
  private readonly shm = new Map<number, { mem: Buffer; shmFd: number }>();
  private scratch: number | undefined;
  private nextCancelId = 1;
  private lock: Promise<unknown> = Promise.resolve();
  private readonly crashListeners: ((n: TeeCrashNotice) => void)[] = [];
  private watch: NodeJS.Timeout | undefined;

  private constructor(private readonly o: LinuxTeeOptions) {}

  static async open(o: LinuxTeeOptions): Promise<LinuxTeeClient> {
    const c = new LinuxTeeClient(o);
    await c.connect();
    if (o.remoteproc) c.watchRemoteproc();
    return c;
  }

  private async connect(): Promise<void> {
    this.fd = await teeOpen(this.o.device).catch((e: SalvorError) => {
      throw errnoTeeError(e, `open ${this.o.device}`);
    });
    const v = await teeVersion(this.fd);
    if (!(v.genCaps & GEN_CAP_GP) || !(v.genCaps & GEN_CAP_REG_MEM)) {
      this.closeFd();
      throw new TeeError('ENOTSUP', `${this.o.device}: the TEE (impl ${v.implId}, caps 0x${v.genCaps.toString(16)}) lacks GlobalPlatform or registered shared memory`);
    }
    this.scratch = await this.registerSharedMemory(SCRATCH_SIZE, 5000);
  }

  /** remoteproc reports a crashed coprocessor in its state attribute: a crash notice without waiting for a deadline. */
  private watchRemoteproc(): void {
    this.watch = setInterval(() => {
      void readFile(`${this.o.remoteproc}/state`, 'utf8').then(
        (s) => {
          if (s.trim() === 'crashed') for (const l of this.crashListeners) l({ at: Date.now(), reason: `${this.o.remoteproc}: crashed` });
        },
        () => undefined,
      );
    }, 500);
    this.watch.unref();
  }

  onCrash(listener: (n: TeeCrashNotice) => void): void {
    this.crashListeners.push(listener);
  }

  /** One ioctl with a deadline; past it `cancel` runs (TEE_IOC_CANCEL) and the call reports a hang. */
  private async withDeadline<T>(what: string, call: Promise<T>, deadlineMs: number, cancel?: () => Promise<unknown>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    call.catch(() => undefined); // a late failure after the deadline is not an unhandled rejection
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        cancel?.().catch(() => undefined);
        reject(new TeeError('SALVOR_TEE_TIMEOUT', `${what}: no answer from the TEE within ${deadlineMs} ms${cancel ? ' (TEE_IOC_CANCEL sent)' : ''}`));
      }, deadlineMs);
    });
    try {
      return await Promise.race([call.catch((e: SalvorError) => Promise.reject(e instanceof TeeError ? e : errnoTeeError(e, what))), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private cancel(cancelId: number, session: number): Promise<number> {
    return teeIoctl(this.fd, 'cancel', encodeCancel(cancelId, session));
  }

  async openSession(uuid: string, login: TeeLogin, deadlineMs: number): Promise<number> {
    const cancelId = this.nextCancelId++;
    const arg = encodeOpenSession(uuid, Login[login], cancelId, []);
    await this.withDeadline('open session', teeIoctl(this.fd, 'open-session', arg), deadlineMs, () => this.cancel(cancelId, 0));
    const r = decodeOpenSession(arg);
    if (r.ret !== 0) throw teecError(r.ret, r.origin, `open session ${uuid}`);
    return r.session;
  }

  async closeSession(session: number, deadlineMs: number): Promise<void> {
    await this.withDeadline('close session', teeIoctl(this.fd, 'close-session', encodeCloseSession(session)), deadlineMs);
  }

  invoke(session: number, command: number, params: TeeParam[], deadlineMs: number): Promise<TeeParam[]> {
    return this.serialized(async () => {
      let offset = 0;
      const placed: { mem: Buffer; at: number; cap: number }[] = [];
      const raw: RawParam[] = params.map((p, i) => {
        if (p.type === 'none') return { attr: ParamAttr.NONE, a: 0n, b: 0n, c: 0n };
        if (p.type === 'value') return { attr: ParamAttr.VALUE_INOUT, a: BigInt(p.a), b: BigInt(p.b), c: 0n };
        const id = p.shm !== undefined && this.shm.has(p.shm) ? p.shm : this.scratch!;
        const mem = this.shm.get(id)!.mem;
        const at = id === this.scratch ? offset : 0;
        if (at + p.data.length > mem.length) throw new TeeError('SALVOR_TEE_BAD_PARAMETERS', `invoke ${command}: parameter ${i} (${p.data.length} bytes) does not fit the shared memory`);
        p.data.copy(mem, at);
        if (id === this.scratch) offset = (offset + p.data.length + 7) & ~7;
        placed[i] = { mem, at, cap: p.data.length };
        return { attr: ParamAttr.MEMREF_INOUT, a: BigInt(at), b: BigInt(p.data.length), c: BigInt(id) };
      });
      const cancelId = this.nextCancelId++;
      const arg = encodeInvoke(command, session, cancelId, raw);
      await this.withDeadline(`invoke command ${command}`, teeIoctl(this.fd, 'invoke', arg), deadlineMs, () => this.cancel(cancelId, session));
      const r = decodeInvoke(arg);
      if (r.ret !== 0) throw teecError(r.ret, r.origin, `invoke command ${command}`);
      return params.map((p, i): TeeParam => {
        const q = r.params[i];
        if (p.type === 'value') return { type: 'value', a: Number(q.a & 0xffffffffn), b: Number(q.b & 0xffffffffn) };
        if (p.type === 'none') return p;
        const size = Math.min(Number(q.b), placed[i].cap);
        return { type: 'memref', data: Buffer.from(placed[i].mem.subarray(placed[i].at, placed[i].at + size)), shm: p.shm };
      });
    });
  }

  async registerSharedMemory(size: number, deadlineMs: number): Promise<number> {
    const mem = Buffer.alloc(size);
    const { id, shmFd } = await this.withDeadline('register shared memory', teeRegister(this.fd, mem), deadlineMs);
    this.shm.set(id, { mem, shmFd });
    return id;
  }

  /** Closing the shm fd the driver gave at registration releases the registration. */
  async releaseSharedMemory(id: number): Promise<void> {
    const s = this.shm.get(id);
    if (!s) return;
    this.shm.delete(id);
    teeClose(s.shmFd);
  }

  async readHardwareStatus(): Promise<HardwareStatus> {
    const registers: Record<string, number> = {};
    for (const s of this.o.hardwareStatus ?? []) {
      const text = (await readFile(s.path, 'utf8')).trim();
      const v = Number(text);
      if (!Number.isFinite(v)) throw new TeeError('SALVOR_TEE_BAD_FORMAT', `hardware status ${s.name}: ${s.path} holds '${text.slice(0, 40)}', not a number`);
      registers[s.name] = v;
    }
    return { registers, readOnly: (this.o.hardwareStatus ?? []).filter((s) => s.readOnly).map((s) => s.name) };
  }

  async writeHardwareStatus(registers: Record<string, number>): Promise<void> {
    for (const [name, v] of Object.entries(registers)) {
      const s = this.o.hardwareStatus?.find((h) => h.name === name);
      if (!s || s.readOnly) throw new TeeError('SALVOR_TEE_BAD_PARAMETERS', `hardware status ${name} is not a writable source`);
      await writeFile(s.path, String(v));
    }
  }

  /** Stops and starts the TEE OS (remoteproc, else the configured command), then opens the device again. */
  async restart(deadlineMs: number): Promise<void> {
    const t0 = performance.now();
    const until = Date.now() + deadlineMs;
    this.closeFd();
    if (this.o.remoteproc) {
      const state = `${this.o.remoteproc}/state`;
      await writeFile(state, 'stop').catch(() => undefined); // already stopped after a crash
      await writeFile(state, 'start');
    } else if (this.o.restartCommand?.length) {
      await promisify(execFile)(this.o.restartCommand[0], this.o.restartCommand.slice(1), { timeout: deadlineMs });
    } else throw new TeeError('ENOTSUP', 'no way to restart the TEE OS: configure capabilities.tee.linux.remoteproc or restartCommand');
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      try {
        await this.connect();
        break;
      } catch (err) {
        if (Date.now() + delay > until) throw err;
        await sleep(delay);
      }
    }
    this.lastRestartMs = performance.now() - t0;
  }

  private closeFd(): void {
    for (const { shmFd } of this.shm.values()) teeClose(shmFd);
    this.shm.clear();
    this.scratch = undefined;
    if (this.fd >= 0) teeClose(this.fd);
    this.fd = -1;
  }

  async close(): Promise<void> {
    clearInterval(this.watch);
    this.closeFd();
  }
}
