import type { HardwareStatus, TeeClient, TeeLogin } from './client';
import { SigningTa } from './signing-ta';
import { SIGNING_TA_UUID } from './signing-ta';
import { TeeError } from './tee-errors';

/** Shared memory the service registers for messages (one buffer, the TA's largest message). */
export const SHARED_MEMORY_SIZE = 64 * 1024;

/**
 * The REE side of the security context: the session to the signing TA (UUID and login method) and
 * the shared memory registered with the TEE, plus the hardware status last seen healthy. Recovery
 * snapshots it, and reopens and re-registers it after a restart.
 */
export class TeeConnection {
  session: number | undefined;
  shm: number | undefined;
  lastKnown: HardwareStatus | undefined;
  readonly login: TeeLogin = 'user';
  readonly ta: SigningTa;

  constructor(
    readonly client: TeeClient,
    readonly callTimeoutMs: number,
  ) {
    this.ta = new SigningTa(
      client,
      () => {
        if (this.session === undefined) throw new TeeError('SALVOR_TEE_TARGET_DEAD', 'no open session to the signing TA');
        return this.session;
      },
      () => this.shm,
    );
  }

  sessions(): { uuid: string; login: TeeLogin }[] {
    return [{ uuid: SIGNING_TA_UUID, login: this.login }];
  }

  sharedMemory(): { size: number }[] {
    return [{ size: SHARED_MEMORY_SIZE }];
  }

  /** Opens the session and registers the shared memory (at start and after a TEE OS restart). */
  async open(): Promise<void> {
    this.session = await this.client.openSession(SIGNING_TA_UUID, this.login, this.callTimeoutMs);
    this.shm = await this.client.registerSharedMemory(SHARED_MEMORY_SIZE, this.callTimeoutMs);
  }

  /** Drops the session (a TA restart: OP-TEE loads the TA afresh on the next open). Errors are expected here. */
  async closeSession(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s !== undefined) await this.client.closeSession(s, this.callTimeoutMs).catch(() => undefined);
  }

  async reopenSession(): Promise<void> {
    await this.closeSession();
    this.session = await this.client.openSession(SIGNING_TA_UUID, this.login, this.callTimeoutMs);
  }

  /** After a TEE OS restart every id is stale: open and register afresh. */
  forget(): void {
    this.session = undefined;
    this.shm = undefined;
  }

  async readHardwareStatus(): Promise<HardwareStatus> {
    return this.client.readHardwareStatus(this.callTimeoutMs);
  }

  /** Writes the stored registers, reads them back, and fails naming the first one that differs. */
  async restoreHardwareStatus(stored: HardwareStatus): Promise<void> {
    const writable = Object.fromEntries(Object.entries(stored.registers).filter(([k]) => !stored.readOnly.includes(k)));
    await this.client.writeHardwareStatus(writable, this.callTimeoutMs);
    await this.checkHardwareStatus(stored);
  }

  async checkHardwareStatus(stored: HardwareStatus): Promise<void> {
    const now = await this.client.readHardwareStatus(this.callTimeoutMs);
    for (const [k, v] of Object.entries(stored.registers)) {
      if (stored.readOnly.includes(k)) continue;
      if (now.registers[k] !== v) throw new TeeError('SALVOR_TEE_BAD_STATE', `hardware status register ${k} reads ${now.registers[k]}, expected ${v}`);
    }
  }
}
