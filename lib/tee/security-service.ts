import { randomUUID, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { SalvorError } from '../../bindings/salvor-error';
import type { TeeClient, TeeCrashNotice, TeeFault } from './client';
import type { CrashLoopOptions } from './crash-loop';
import { loadRecord, type PendingRecord, type RecoveryLevel } from './recovery-record';
import { TeeRecovery, type RecoveryEvent, type RecoveryOutcome } from './recovery';
import type { KeyAlg, SignOutcome } from './signing-ta';
import { TeeConnection } from './tee-connection';
import { isCrash, TeeError } from './tee-errors';

export type TeeServiceState = 'starting' | 'running' | 'recovering' | 'failed' | 'stopped';

export interface TeeServiceOptions {
  stateDir: string;
  keys: { name: string; alg: KeyAlg }[];
  /** Deadline of one call into the TEE; past it the call counts as a hang. */
  callTimeoutMs: number;
  /** How long a signature stays remembered by its idempotency key. */
  resultWindowMs: number;
  maxInFlight: number;
  crashLoop: CrashLoopOptions;
  restartTimeoutMs: number;
}

export interface SignResult {
  signature: Buffer;
  key: string;
  alg: KeyAlg;
  counter: number;
}

interface Waiter {
  resolve: (r: SignResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface Pending {
  idempotencyKey: string;
  key: string;
  message: Buffer;
  deadline: number;
  waiters: Set<Waiter>;
  /** The recovery generation of its last dispatch; undefined while queued. */
  dispatchedIn: number | undefined;
}

/**
 * The security service: signing with TEE-held keys, for local clients. Requests are queued while the
 * TEE recovers and each caller waits up to its own deadline; each request is dispatched with its
 * idempotency key, completes once, and its result is remembered for resultWindowMs, so a replay after
 * a crash (or a client retrying with the same key) gets the one signature the TA made.
 */
export class TeeSecurityService extends EventEmitter {
  state: TeeServiceState = 'starting';
  signed = 0;
  /** Highest signature counter the TA has reported: it must never go back. */
  counter = 0;
  private conn!: TeeConnection;
  private recovery!: TeeRecovery;
  private readonly pending = new Map<string, Pending>();
  private readonly results = new Map<string, { result: SignResult; at: number; message: Buffer }>();
  private readonly publicKeys = new Map<string, { spki: Buffer; alg: KeyAlg; key: KeyObject }>();
  private generation = 0;
  private inFlight = 0;
  private recovering: Promise<RecoveryOutcome> | undefined;
  lastRecovery: { cause: string; ms: number; level: RecoveryLevel; at: string } | undefined;

  constructor(
    private readonly client: TeeClient,
    private readonly o: TeeServiceOptions,
  ) {
    super();
  }

  get recordPath(): string {
    return join(this.o.stateDir, 'tee', 'recovery.json');
  }
  get reportPath(): string {
    return join(this.o.stateDir, 'tee', 'report.json');
  }
  get backend(): string {
    return this.client.backend;
  }
  get restarts(): number {
    return this.recovery.restarts;
  }
  get taRestarts(): number {
    return this.recovery.taRestarts;
  }

  private event(e: RecoveryEvent): void {
    this.emit('event', e);
  }

  /** Opens the TA, provisions the keys and reads the hardware status; resumes a recovery an earlier agent left. */
  async start(): Promise<void> {
    this.conn = new TeeConnection(this.client, this.o.callTimeoutMs);
    this.recovery = new TeeRecovery(this.conn, { recordPath: this.recordPath, reportPath: this.reportPath, crashLoop: this.o.crashLoop, restartTimeoutMs: this.o.restartTimeoutMs }, (e) => this.event(e));
    this.client.onCrash((n) => this.crashNotice(n));
    const left = await loadRecord(this.recordPath);
    if (left) {
      this.event({ event: 'tee-recovery-resuming', cause: left.cause, level: left.level, pending: left.ree.pending.length });
      for (const p of left.ree.pending) this.enqueue(p.idempotencyKey, p.key, Buffer.from(p.message, 'base64'), p.deadline);
      this.counter = left.ree.counters.signatures;
      this.conn.lastKnown = left.hardwareStatus;
      const outcome = await this.runRecovery({ cause: `resumed after an agent restart (${left.cause})`, level: 'tee-os', crashAt: left.crashAt, stored: left });
      if (!outcome.resumed) throw new TeeError('SALVOR_TEE_GAVE_UP', `TEE recovery gave up: ${outcome.reason}`);
    } else {
      await this.conn.open();
      this.conn.lastKnown = await this.conn.readHardwareStatus();
      this.counter = await this.conn.ta.counter(this.o.callTimeoutMs);
    }
    for (const k of this.o.keys) {
      await this.conn.ta.provision(k.name, k.alg, this.o.callTimeoutMs);
      const { spki, alg } = await this.conn.ta.publicKey(k.name, this.o.callTimeoutMs);
      this.publicKeys.set(k.name, { spki, alg, key: createPublicKey({ key: spki, format: 'der', type: 'spki' }) });
    }
    this.state = 'running';
    this.pump();
  }

  publicKeyPem(name: string): { pem: string; alg: KeyAlg } {
    const k = this.publicKeys.get(name);
    if (!k) throw new SalvorError('SALVOR_BAD_INPUT', `key '${name}': no such key (configured: ${[...this.publicKeys.keys()].join(', ')})`);
    return { pem: k.key.export({ type: 'spki', format: 'pem' }) as string, alg: k.alg };
  }

  sign(key: string, message: Buffer, o: { idempotencyKey?: string; timeoutMs: number }): Promise<SignResult> {
    const alg = this.publicKeys.get(key)?.alg;
    if (!alg) return Promise.reject(new SalvorError('SALVOR_BAD_INPUT', `key '${key}': no such key (configured: ${[...this.publicKeys.keys()].join(', ')})`));
    if (this.state === 'failed' || this.state === 'stopped') return Promise.reject(new TeeError('SALVOR_TEE_GAVE_UP', `the TEE is ${this.state === 'failed' ? 'down: recovery gave up (see ' + this.reportPath + ')' : 'stopped'}`));
    const idem = o.idempotencyKey ?? randomUUID();
    const done = this.results.get(idem);
    if (done) {
      if (!done.message.equals(message) || done.result.key !== key) return Promise.reject(new SalvorError('SALVOR_BAD_INPUT', `idempotency key '${idem}' was used for a different request`));
      return Promise.resolve(done.result);
    }
    const p = this.pending.get(idem) ?? this.enqueue(idem, key, message, Date.now() + o.timeoutMs);
    if (!p.message.equals(message) || p.key !== key) return Promise.reject(new SalvorError('SALVOR_BAD_INPUT', `idempotency key '${idem}' was used for a different request`));
    return new Promise<SignResult>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          p.waiters.delete(w);
          reject(new TeeError('SALVOR_TEE_TIMEOUT', `no signature within ${o.timeoutMs} ms (TEE ${this.state}); the request stays queued under idempotency key ${idem}`));
        }, o.timeoutMs),
      };
      p.waiters.add(w);
      this.pump();
    });
  }

  private enqueue(idempotencyKey: string, key: string, message: Buffer, deadline: number): Pending {
    const p: Pending = { idempotencyKey, key, message, deadline, waiters: new Set(), dispatchedIn: undefined };
    this.pending.set(idempotencyKey, p);
    return p;
  }

  /** Dispatches queued requests while the TEE runs; requests nobody waits for any more, past their deadline, are dropped. */
  private pump(): void {
    if (this.state !== 'running') return;
    for (const p of this.pending.values()) {
      if (this.inFlight >= this.o.maxInFlight) return;
      if (p.dispatchedIn !== undefined) continue;
      if (!p.waiters.size && p.deadline < Date.now()) {
        this.pending.delete(p.idempotencyKey);
        this.event({ event: 'tee-request-expired', idempotencyKey: p.idempotencyKey });
        continue;
      }
      this.dispatch(p);
    }
  }

  private dispatch(p: Pending): void {
    const gen = this.generation;
    p.dispatchedIn = gen;
    this.inFlight++;
    this.conn.ta
      .sign(p.key, p.idempotencyKey, p.message, this.o.callTimeoutMs)
      .then((outcome) => this.complete(p, outcome))
      .catch((err: Error) => {
        if (p.dispatchedIn === gen) p.dispatchedIn = undefined;
        if (isCrash(err)) this.crashed(err, gen);
        else this.fail(p, err);
      })
      .finally(() => {
        this.inFlight--;
        this.pump();
      });
  }

  private complete(p: Pending, outcome: SignOutcome): void {
    if (this.pending.get(p.idempotencyKey) !== p) return; // answered already (a late reply to a replayed request)
    const k = this.publicKeys.get(p.key)!;
    // A reply that does not verify was corrupted on the way: never hand it out; recover and replay.
    if (!verify(k.alg === 'ed25519' ? null : 'sha256', p.message, k.key, outcome.signature)) throw new TeeError('SALVOR_TEE_CORRUPT', `the signature for ${p.idempotencyKey} does not verify`);
    if (outcome.counter < this.counter && !outcome.replayed) this.event({ event: 'tee-counter-rollback', seen: this.counter, now: outcome.counter });
    this.counter = Math.max(this.counter, outcome.counter);
    const result: SignResult = { signature: outcome.signature, key: p.key, alg: k.alg, counter: outcome.counter };
    this.pending.delete(p.idempotencyKey);
    this.signed++;
    this.emit('signed');
    const now = Date.now();
    this.results.set(p.idempotencyKey, { result, at: now, message: p.message });
    for (const [idem, r] of this.results) {
      if (now - r.at <= this.o.resultWindowMs) break;
      this.results.delete(idem);
    }
    for (const w of p.waiters) {
      clearTimeout(w.timer);
      w.resolve(result);
    }
  }

  private fail(p: Pending, err: Error): void {
    if (this.pending.get(p.idempotencyKey) !== p) return;
    this.pending.delete(p.idempotencyKey);
    for (const w of p.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  private crashNotice(n: TeeCrashNotice): void {
    this.event({ event: 'tee-crash-notice', reason: n.reason });
    if (this.state === 'recovering') this.recovery.noteCrashWhileRecovering();
    else this.crashed(new TeeError('SALVOR_TEE_COMMS', `TEE OS crashed: ${n.reason}`), this.generation, 'tee-os', n.at);
  }

  /** A failure that needs recovery. Only the first failure of a generation starts one. */
  private crashed(err: Error, gen: number, level?: RecoveryLevel, at = Date.now()): void {
    if (gen !== this.generation || this.state !== 'running') {
      if (this.state === 'recovering') this.recovery.noteCrashWhileRecovering();
      return;
    }
    const code = (err as TeeError).code;
    // A dead TA or a garbled reply may be mended by reloading the TA; a dead core or transport needs the TEE OS.
    level ??= code === 'SALVOR_TEE_TARGET_DEAD' || code === 'SALVOR_TEE_CORRUPT' || code === 'SALVOR_TEE_TIMEOUT' ? 'ta' : 'tee-os';
    this.event({ event: 'tee-crash-detected', code, reason: err.message, level });
    void this.runRecovery({ cause: `${code}: ${err.message}`, level, crashAt: at });
  }

  private runRecovery(c: { cause: string; level: RecoveryLevel; crashAt: number; stored?: import('./recovery-record').RecoveryRecord }): Promise<RecoveryOutcome> {
    this.state = 'recovering';
    this.generation++;
    for (const p of this.pending.values()) p.dispatchedIn = undefined;
    const pending: PendingRecord[] = [...this.pending.values()].map((p) => ({ idempotencyKey: p.idempotencyKey, key: p.key, message: p.message.toString('base64'), deadline: p.deadline }));
    this.recovering = this.recovery.recover({ ...c, pending, signatures: this.counter }).then(
      (outcome) => this.afterRecovery(outcome, c.cause),
      (err: Error) => this.afterRecovery({ resumed: false, reason: err.message }, c.cause),
    );
    return this.recovering;
  }

  private afterRecovery(outcome: RecoveryOutcome, cause: string): RecoveryOutcome {
    this.recovering = undefined;
    if (this.state === 'stopped') return outcome;
    if (outcome.resumed) {
      this.lastRecovery = { cause, ms: outcome.ms, level: outcome.level, at: new Date().toISOString() };
      this.state = 'running';
      this.pump();
    } else {
      this.state = 'failed';
      const err = new TeeError('SALVOR_TEE_GAVE_UP', `TEE recovery gave up: ${outcome.reason}; see ${this.reportPath}`);
      for (const p of [...this.pending.values()]) this.fail(p, err);
    }
    return outcome;
  }

  /**
   * `salvor tee recover`: when running, check the TA answers and the hardware status is as last seen
   * (clean, or recovered if not); when recovering, wait for it; when given up, try again from the TEE OS.
   */
  async recoverNow(): Promise<{ result: 'clean' | 'corrected' | 'uncorrected'; detail: string }> {
    if (this.recovering) {
      const o = await this.recovering;
      return o.resumed ? { result: 'corrected', detail: `recovered at level ${o.level}` } : { result: 'uncorrected', detail: o.reason };
    }
    if (this.state === 'running') {
      try {
        await this.conn.checkHardwareStatus(this.conn.lastKnown!);
        await this.conn.ta.counter(this.o.callTimeoutMs);
        return { result: 'clean', detail: 'the TA answers and the hardware status is as stored' };
      } catch (err) {
        this.event({ event: 'tee-check-failed', reason: (err as Error).message });
        this.crashed(err as Error, this.generation);
        return this.recoverNow();
      }
    }
    if (this.state !== 'failed') throw new SalvorError('SALVOR_TEE_STATE', `the TEE service is ${this.state}`);
    this.recovery.guard.reset();
    const o = await this.runRecovery({ cause: 'manual recover after give-up', level: 'tee-os', crashAt: Date.now() });
    return o.resumed ? { result: 'corrected', detail: `recovered at level ${o.level}` } : { result: 'uncorrected', detail: o.reason };
  }

  async inject(fault: TeeFault): Promise<void> {
    if (!this.client.injectable || !this.client.inject) throw new SalvorError('SALVOR_USAGE', `fault injection is for the simulated TEE only; this daemon runs the ${this.client.backend} backend`);
    this.event({ event: 'tee-fault-injected', fault });
    await this.client.inject(fault);
  }

  status(): Record<string, unknown> {
    return {
      state: this.state,
      backend: this.client.backend,
      restarts: this.recovery?.restarts ?? 0,
      taRestarts: this.recovery?.taRestarts ?? 0,
      signed: this.signed,
      counter: this.counter,
      pending: this.pending.size,
      crashesInWindow: this.recovery?.guard.inWindow ?? 0,
      lastRecovery: this.lastRecovery ?? null,
      keys: [...this.publicKeys].map(([name, k]) => ({ name, alg: k.alg })),
    };
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.recovery) this.recovery.stopped = true;
    const err = new TeeError('SALVOR_TEE_STOPPED', 'the TEE service stopped');
    for (const p of [...this.pending.values()]) this.fail(p, err);
    await this.client.close();
  }
}
