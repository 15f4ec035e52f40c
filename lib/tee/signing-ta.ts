import { SalvorError } from '../../bindings/salvor-error';
import type { TeeClient, TeeParam } from './client';
import { TeeError } from './tee-errors';

/**
 * salvor's signing trusted application: its UUID, commands and parameter layout (docs/tee.md).
 * The TA keeps its private keys in secure storage, and a journal of the idempotency keys it signed
 * for (with the signature and the counter value), so a request replayed after a crash is answered
 * from the journal and never signed, or counted, twice.
 */
export const SIGNING_TA_UUID = 'f3a4b2c1-7d6e-4e5f-9a8b-1c2d3e4f5a6b';

export const TaCommand = { PUBLIC_KEY: 1, SIGN: 2, COUNTER: 3, PROVISION: 4 } as const;

export type KeyAlg = 'ed25519' | 'ecdsa-p256';
export const algIds: Record<KeyAlg, number> = { ed25519: 1, 'ecdsa-p256': 2 };
export function algName(id: number): KeyAlg {
  const found = (Object.keys(algIds) as KeyAlg[]).find((k) => algIds[k] === id);
  if (!found) throw new TeeError('SALVOR_TEE_BAD_FORMAT', `signing TA answered with unknown algorithm id ${id}`);
  return found;
}

/** Longest key name and idempotency key the TA accepts. */
export const MAX_NAME = 64;
// 32 KiB: its base64 fits one control-socket line (64 KiB) with room for the rest of the request.
export const MAX_MESSAGE = 32 * 1024;

export interface SignOutcome {
  signature: Buffer;
  /** The TA's monotonic signature counter after this signature. */
  counter: number;
  /** True when the TA answered from its journal (the request had been signed before). */
  replayed: boolean;
}

function name(label: string, s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (!b.length || b.length > MAX_NAME || s.includes('\0')) throw new SalvorError('SALVOR_BAD_INPUT', `${label} '${s}' must be 1 to ${MAX_NAME} bytes without NUL`);
  return b;
}

function out(params: TeeParam[], i: number, type: 'value' | 'memref', what: string): TeeParam {
  const p = params[i];
  if (p?.type !== type) throw new TeeError('SALVOR_TEE_BAD_FORMAT', `signing TA ${what}: parameter ${i} is ${p?.type ?? 'missing'}, expected ${type}`);
  return p;
}

/** The TA calls, each on an open session and with a deadline. */
export class SigningTa {
  constructor(
    private readonly client: TeeClient,
    private readonly session: () => number,
    private readonly shm: () => number | undefined,
  ) {}

  async provision(key: string, alg: KeyAlg, deadlineMs: number): Promise<void> {
    await this.client.invoke(this.session(), TaCommand.PROVISION, [{ type: 'memref', data: name('key name', key) }, { type: 'value', a: algIds[alg], b: 0 }], deadlineMs);
  }

  async publicKey(key: string, deadlineMs: number): Promise<{ spki: Buffer; alg: KeyAlg }> {
    const params = await this.client.invoke(this.session(), TaCommand.PUBLIC_KEY, [{ type: 'memref', data: name('key name', key) }, { type: 'memref', data: Buffer.alloc(256) }, { type: 'value', a: 0, b: 0 }], deadlineMs);
    const spki = out(params, 1, 'memref', 'public key') as { data: Buffer };
    const alg = out(params, 2, 'value', 'public key') as { a: number };
    return { spki: spki.data, alg: algName(alg.a) };
  }

  async sign(key: string, idempotencyKey: string, message: Buffer, deadlineMs: number): Promise<SignOutcome> {
    if (message.length > MAX_MESSAGE) throw new SalvorError('SALVOR_BAD_INPUT', `message of ${message.length} bytes is larger than the TA's ${MAX_MESSAGE}`);
    const ids = Buffer.concat([name('key name', key), Buffer.from([0]), name('idempotency key', idempotencyKey)]);
    const params = await this.client.invoke(
      this.session(),
      TaCommand.SIGN,
      [{ type: 'memref', data: ids }, { type: 'memref', data: message, shm: this.shm() }, { type: 'memref', data: Buffer.alloc(128) }, { type: 'value', a: 0, b: 0 }],
      deadlineMs,
    );
    const sig = out(params, 2, 'memref', 'sign') as { data: Buffer };
    const v = out(params, 3, 'value', 'sign') as { a: number; b: number };
    return { signature: sig.data, counter: v.a, replayed: v.b === 1 };
  }

  async counter(deadlineMs: number): Promise<number> {
    const params = await this.client.invoke(this.session(), TaCommand.COUNTER, [{ type: 'value', a: 0, b: 0 }], deadlineMs);
    return (out(params, 0, 'value', 'counter') as { a: number }).a;
  }
}
