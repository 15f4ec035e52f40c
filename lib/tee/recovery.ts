import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../state-file/write-file-atomic';
import type { HardwareStatus } from './client';
import { CrashLoopGuard, type CrashLoopOptions } from './crash-loop';
import { clearRecord, levels, saveRecord, type PendingRecord, type RecoveryLevel, type RecoveryRecord } from './recovery-record';
import type { TeeConnection } from './tee-connection';
import { TeeError } from './tee-errors';

export type RecoveryEvent = { event: string; [k: string]: unknown };

export interface RecoveryOptions {
  recordPath: string;
  reportPath: string;
  crashLoop: CrashLoopOptions;
  /** Deadline of a TEE OS restart, from stop to answering. */
  restartTimeoutMs: number;
}

/** What the service hands recovery at a crash: why, and the context to store. */
export interface CrashContext {
  cause: string;
  crashAt: number;
  level: RecoveryLevel;
  pending: PendingRecord[];
  signatures: number;
  /** Set when resuming a record an earlier agent left: its hardware status is what to restore. */
  stored?: RecoveryRecord;
}

export type RecoveryOutcome = { resumed: true; level: RecoveryLevel; ms: number } | { resumed: false; reason: string };

/**
 * The recovery state machine: detect (the caller) -> store the hardware status and REE security
 * context atomically -> suspend (the caller) -> restart at the lowest level that mends it (TA, then
 * supplicant, then TEE OS) -> restore the hardware status and check it -> reopen sessions and shared
 * memory -> check the TEE's counter did not go back -> resume. A failure at any step, or a crash
 * reported while recovering, counts as another crash and starts over one level up; past the
 * crash-loop limit it gives up and writes a report asking for a platform reboot.
 */
export class TeeRecovery {
  readonly guard: CrashLoopGuard;
  restarts = 0;
  taRestarts = 0;
  /** Set by a crash notice while recovering: whatever step ran may have been answered by a dying TEE. */
  private crashedWhileRecovering = false;
  running = false;
  /** Set when the service stops: recovery ends at its next step instead of restarting a closed TEE. */
  stopped = false;

  constructor(
    private readonly conn: TeeConnection,
    private readonly o: RecoveryOptions,
    private readonly emit: (e: RecoveryEvent) => void,
  ) {
    this.guard = new CrashLoopGuard(o.crashLoop);
  }

  noteCrashWhileRecovering(): void {
    if (this.running) this.crashedWhileRecovering = true;
  }

  /** Hardware status as at the crash: read it if the platform still answers, else the last one seen healthy. */
  private async hardwareAtCrash(): Promise<RecoveryRecord['hardwareStatus']> {
    try {
      const hw = await this.conn.readHardwareStatus();
      // A TEE that restarted by itself reads reset values: the last healthy status is what to restore.
      if (this.conn.lastKnown && hw.registers.bootCount !== this.conn.lastKnown.registers.bootCount) return { ...this.conn.lastKnown, source: 'last-known' };
      return { ...hw, source: 'read-at-crash' };
    } catch {
      if (!this.conn.lastKnown) throw new TeeError('SALVOR_TEE_BAD_STATE', 'the hardware status cannot be read and none was seen before the crash');
      return { ...this.conn.lastKnown, source: 'last-known' };
    }
  }

  async recover(crash: CrashContext): Promise<RecoveryOutcome> {
    this.running = true;
    try {
      return await this.loop(crash);
    } finally {
      this.running = false;
    }
  }

  private async loop(crash: CrashContext): Promise<RecoveryOutcome> {
    let level = crash.level;
    let record: RecoveryRecord | undefined = crash.stored;
    let attempts = record?.attempts ?? 0;
    for (;;) {
      if (this.stopped) return { resumed: false, reason: 'the service stopped' };
      const verdict = this.guard.record();
      if (verdict === 'give-up') return this.giveUp(crash, `${this.guard.inWindow} crashes within ${this.o.crashLoop.windowMs} ms`);
      if (verdict > 0) {
        this.emit({ event: 'tee-backoff', ms: verdict, crashesInWindow: this.guard.inWindow });
        await sleep(verdict);
      }
      attempts++;
      const started = Date.now();
      try {
        if (!record) record = { cause: crash.cause, crashAt: crash.crashAt, level, attempts, hardwareStatus: await this.hardwareAtCrash(), ree: { sessions: this.conn.sessions(), sharedMemory: this.conn.sharedMemory(), pending: crash.pending, counters: { signatures: crash.signatures } } };
        record = { ...record, level, attempts };
        await saveRecord(this.o.recordPath, record);
        this.emit({ event: 'tee-context-stored', cause: crash.cause, level, attempt: attempts, pending: record.ree.pending.length, hardwareSource: record.hardwareStatus.source });
        this.crashedWhileRecovering = false;
        const mended = await this.escalate(level, record.hardwareStatus);
        await this.checkCounter(record.ree.counters.signatures);
        if (this.crashedWhileRecovering) throw new TeeError('SALVOR_TEE_COMMS', 'the TEE crashed again while recovering');
        this.conn.lastKnown = await this.conn.readHardwareStatus();
        await clearRecord(this.o.recordPath);
        const ms = Date.now() - crash.crashAt;
        this.emit({ event: 'tee-resumed', level: mended, cause: crash.cause, ms, stepsMs: Date.now() - started, attempt: attempts, replaying: record.ree.pending.length });
        return { resumed: true, level: mended, ms };
      } catch (err) {
        if (err instanceof TeeError && err.code === 'SALVOR_TEE_ROLLBACK') return this.giveUp(crash, err.message);
        this.emit({ event: 'tee-recovery-failed', level, attempt: attempts, code: (err as TeeError).code, reason: (err as Error).message });
        level = 'tee-os'; // a failure while recovering: start over from the top
      }
    }
  }

  /** Tries each level from `from` upwards; returns the level that brought the TA back. */
  private async escalate(from: RecoveryLevel, stored: HardwareStatus): Promise<RecoveryLevel> {
    for (const level of levels.slice(levels.indexOf(from))) {
      try {
        this.emit({ event: 'tee-restarting', level });
        if (level === 'tee-os') {
          await this.restartTeeOs(stored);
        } else {
          if (level === 'supplicant') {
            if (!this.conn.client.restartSupplicant) {
              this.emit({ event: 'tee-step-skipped', level, reason: 'no supplicant on this backend' });
              continue;
            }
            await this.conn.client.restartSupplicant(this.conn.callTimeoutMs);
          }
          await this.conn.reopenSession();
          if (this.conn.shm === undefined) this.conn.shm = await this.conn.client.registerSharedMemory(this.conn.sharedMemory()[0].size, this.conn.callTimeoutMs);
          this.taRestarts++;
          await this.conn.checkHardwareStatus(stored);
          await this.conn.ta.counter(this.conn.callTimeoutMs);
        }
        return level;
      } catch (err) {
        this.emit({ event: 'tee-step-failed', level, code: (err as TeeError).code, reason: (err as Error).message });
        if (level === 'tee-os') throw err;
      }
    }
    throw new TeeError('SALVOR_TEE_BAD_STATE', 'no recovery level left');
  }

  private async restartTeeOs(stored: HardwareStatus): Promise<void> {
    this.conn.forget();
    await this.conn.client.restart(this.o.restartTimeoutMs);
    this.restarts++;
    this.emit({ event: 'tee-os-restarted', teeOsMs: this.conn.client.lastRestartMs });
    await this.conn.restoreHardwareStatus(stored);
    this.emit({ event: 'tee-hardware-restored', registers: Object.keys(stored.registers).length });
    await this.conn.open();
    this.emit({ event: 'tee-context-restored', sessions: 1, sharedMemory: 1 });
  }

  private async checkCounter(seen: number): Promise<void> {
    const now = await this.conn.ta.counter(this.conn.callTimeoutMs);
    if (now < seen) throw new TeeError('SALVOR_TEE_ROLLBACK', `the TEE's signature counter went back from ${seen} to ${now}`);
  }

  private async giveUp(crash: CrashContext, reason: string): Promise<RecoveryOutcome> {
    const report = { at: new Date().toISOString(), cause: crash.cause, crashAt: new Date(crash.crashAt).toISOString(), reason, restarts: this.restarts, taRestarts: this.taRestarts, action: 'platform reboot required: the TEE could not be recovered in place' };
    await mkdir(dirname(this.o.reportPath), { recursive: true });
    await writeFileAtomic(this.o.reportPath, JSON.stringify(report, null, 2) + '\n', { durable: true });
    this.emit({ event: 'tee-gave-up', reason, report: this.o.reportPath });
    return { resumed: false, reason };
  }
}
