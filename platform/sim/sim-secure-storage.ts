import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/** One signature the TA made, kept so that a replayed request is answered, not signed again. */
export interface JournalEntry {
  counter: number;
  idempotencyKey: string;
  key: string;
  signature: string;
}

/** How many signatures the journal remembers (older ones are compacted away). */
export const JOURNAL_WINDOW = 8192;

/**
 * The simulated TEE's secure storage, in its own directory: a hardware unique key (`huk`), the TA's
 * keys sealed with it (AES-256-GCM, `keys.sealed`), and the signature journal (`journal.log`, one
 * line per signature with a CRC-32, so a torn last line is dropped). Writes are plain writes, not
 * fsync'd: the sim models TEE crashes, not power cuts. Only the TEE OS process opens it.
 */
export class SimSecureStorage {
  private readonly huk: Buffer;
  readonly journal = new Map<string, JournalEntry>();
  counter = 0;
  private journalLines = 0;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const hukPath = join(dir, 'huk');
    if (!existsSync(hukPath)) writeFileSync(hukPath, randomBytes(32), { mode: 0o600 });
    this.huk = readFileSync(hukPath);
    this.loadJournal();
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  loadKeys(): Record<string, { alg: number; pkcs8: string }> {
    if (!existsSync(this.path('keys.sealed'))) return {};
    const sealed = readFileSync(this.path('keys.sealed'));
    const d = createDecipheriv('aes-256-gcm', this.huk, sealed.subarray(0, 12));
    d.setAuthTag(sealed.subarray(12, 28));
    return JSON.parse(Buffer.concat([d.update(sealed.subarray(28)), d.final()]).toString('utf8')) as Record<string, { alg: number; pkcs8: string }>;
  }

  saveKeys(keys: Record<string, { alg: number; pkcs8: string }>): void {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.huk, iv);
    const body = Buffer.concat([c.update(JSON.stringify(keys)), c.final()]);
    const tmp = this.path('keys.sealed.tmp');
    writeFileSync(tmp, Buffer.concat([iv, c.getAuthTag(), body]), { mode: 0o600 });
    renameSync(tmp, this.path('keys.sealed'));
  }

  private static line(e: JournalEntry): string {
    const text = `${e.counter} ${e.idempotencyKey} ${e.key} ${e.signature}`;
    return `${text} ${crc32(text)}\n`;
  }

  private loadJournal(): void {
    if (!existsSync(this.path('journal.log'))) return;
    for (const line of readFileSync(this.path('journal.log'), 'utf8').split('\n')) {
      const parts = line.split(' ');
      if (parts.length !== 5) continue;
      const text = parts.slice(0, 4).join(' ');
      if (String(crc32(text)) !== parts[4]) continue;
      const e: JournalEntry = { counter: Number(parts[0]), idempotencyKey: parts[1], key: parts[2], signature: parts[3] };
      this.journal.set(e.idempotencyKey, e);
      this.counter = Math.max(this.counter, e.counter);
      this.journalLines++;
    }
    this.trim();
  }

  /** Records a signature and advances the monotonic counter; the line is written before the TA answers. */
  record(idempotencyKey: string, key: string, signature: Buffer): JournalEntry {
    const e: JournalEntry = { counter: this.counter + 1, idempotencyKey, key, signature: signature.toString('base64') };
    appendFileSync(this.path('journal.log'), SimSecureStorage.line(e));
    this.counter = e.counter;
    this.journal.set(idempotencyKey, e);
    if (++this.journalLines > 2 * JOURNAL_WINDOW) this.compact();
    return e;
  }

  private trim(): void {
    for (const k of this.journal.keys()) {
      if (this.journal.size <= JOURNAL_WINDOW) break;
      this.journal.delete(k);
    }
  }

  /** Rewrites the journal with the newest entries only (temporary + rename: a crash leaves the old or the new). */
  private compact(): void {
    this.trim();
    const tmp = this.path('journal.log.tmp');
    writeFileSync(tmp, [...this.journal.values()].map((e) => SimSecureStorage.line(e)).join(''));
    renameSync(tmp, this.path('journal.log'));
    this.journalLines = this.journal.size;
  }
}
