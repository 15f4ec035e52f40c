import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { SalvorError } from '../../bindings/salvor-error';
import { teeFaults } from '../tee/client';
import { MAX_MESSAGE } from '../tee/signing-ta';
import { verb } from './command';
import { ask, controlOptions, type ControlOpts } from './daemon-command';
import { Exit } from './exit-codes';
import { usageError } from './output';
import type { CliPlatform } from './platform';

interface TeeStatus {
  state: string;
  backend: string;
  restarts: number;
  taRestarts: number;
  signed: number;
  counter: number;
  pending: number;
  crashesInWindow: number;
  lastRecovery: { cause: string; ms: number; level: string; at: string } | null;
  keys: { name: string; alg: string }[];
}

function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > 3600) throw usageError(`tee sign: --timeout '${value}' is not a number of seconds from 0 to 3600`);
  return n;
}

/** Errors after which a sign is sent again (same idempotency key): the daemon went away mid-request. */
const retryable = new Set(['ECONNRESET', 'EPIPE', 'SALVOR_IO', 'SALVOR_NOT_RUNNING', 'ECONNREFUSED', 'ENOENT']);

/**
 * Sends one sign request; if the daemon goes away mid-request (killed, restarted), sends it again with
 * the same idempotency key until the timeout, with a growing backoff: the daemon (or the TA's journal)
 * answers a repeat with the one signature already made. No daemon at the first try: exit 8 at once.
 */
async function signWithRetry(o: ControlOpts, fields: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
  const until = Date.now() + timeoutMs;
  let delay = 100;
  for (let attempt = 0; ; attempt++) {
    const left = until - Date.now();
    try {
      return await ask(o, 'tee.sign', { ...fields, timeoutMs: Math.max(1, left) }, left + 5000);
    } catch (err) {
      const code = (err as SalvorError).code;
      const gone = attempt > 0 || !['SALVOR_NOT_RUNNING', 'ECONNREFUSED', 'ENOENT'].includes(code);
      if (!retryable.has(code) || !gone || Date.now() + delay >= until) throw err;
      await sleep(delay);
      delay = Math.min(1000, delay * 2);
    }
  }
}

export function registerTee(program: Command, _platform: CliPlatform): void {
  const tee = program.command('tee').description('the TEE security service of a running daemon: status, public keys, signing, crash recovery (docs/tee.md)');

  verb<ControlOpts>(controlOptions(tee.command('status').description('state of the TEE and its recovery: {state, backend, restarts, taRestarts, signed, ...}')), async (o, out) => {
    const s = (await ask(o, 'tee.status')).tee as TeeStatus;
    out.result(s, () =>
      [
        `tee ${s.state} (${s.backend} backend): ${s.signed} signatures, counter ${s.counter}, ${s.pending} pending`,
        `restarts: TEE OS ${s.restarts}, TA ${s.taRestarts}; crashes in window ${s.crashesInWindow}`,
        s.lastRecovery ? `last recovery: ${s.lastRecovery.ms} ms at level ${s.lastRecovery.level} (${s.lastRecovery.cause})` : 'no recovery yet',
        `keys: ${s.keys.map((k) => `${k.name} (${k.alg})`).join(', ')}`,
      ].join('\n'),
    );
    return Exit.ok;
  });

  verb<ControlOpts & { key: string }>(
    controlOptions(tee.command('pubkey').description('print the public key of a TEE-held key as PEM (SPKI)').option('--key <name>', 'key name', 'device')),
    async (o, out) => {
      const r = await ask(o, 'tee.pubkey', { key: o.key });
      out.result({ key: r.key, alg: r.alg, pem: r.pem }, () => String(r.pem));
      return Exit.ok;
    },
  );

  verb<ControlOpts & { key: string; in?: string; timeout: string }>(
    controlOptions(
      tee
        .command('sign')
        .description('sign a file with a TEE-held key; prints the signature in base64 (Ed25519, or ECDSA P-256/SHA-256 DER)')
        .option('--key <name>', 'key name', 'device')
        .option('--in <file>', `the message to sign (at most ${MAX_MESSAGE} bytes)`)
        .option('--timeout <seconds>', 'how long to wait, a TEE recovery included', '30'),
    ),
    async (o, out) => {
      if (!o.in) throw usageError('tee sign: --in FILE is required');
      const timeoutS = seconds(o.timeout);
      let message: Buffer;
      try {
        message = await readFile(o.in);
      } catch (e) {
        throw SalvorError.fromNode(e, o.in);
      }
      if (message.length > MAX_MESSAGE) throw new SalvorError('SALVOR_BAD_INPUT', `${o.in}: ${message.length} bytes, larger than the ${MAX_MESSAGE} a signature request takes`, { path: o.in });
      const r = await signWithRetry(o, { key: o.key, message: message.toString('base64'), idempotencyKey: randomUUID() }, Math.round(timeoutS * 1000));
      out.result({ signature: r.signature, key: r.key, alg: r.alg, counter: r.counter }, () => String(r.signature));
      return Exit.ok;
    },
  );

  verb<ControlOpts>(
    controlOptions(tee.command('inject').argument('<fault>', teeFaults.join('|')).description('inject a fault into the simulated TEE (refused with exit 16 on a real one)')),
    async (o, out, args) => {
      const fault = args[0];
      if (!(teeFaults as readonly string[]).includes(fault)) throw usageError(`tee inject: unknown fault '${fault}' (known: ${teeFaults.join(', ')})`);
      await ask(o, 'tee.inject', { fault });
      out.result({ injected: fault }, () => `injected ${fault}`);
      return Exit.ok;
    },
  );

  verb<ControlOpts>(
    controlOptions(tee.command('recover').description('check the TEE and recover it if needed (fsck exit codes: 0 clean, 1 recovered, 4 left unrecovered, 8 error)')),
    async (o, out) => {
      const r = await ask(o, 'tee.recover', {}, 300_000);
      const rec = r.recover as { result: 'clean' | 'corrected' | 'uncorrected'; detail: string };
      out.result({ result: rec.result, detail: rec.detail, tee: r.tee }, () => `${rec.result}: ${rec.detail}`);
      return rec.result === 'clean' ? Exit.ok : rec.result === 'corrected' ? Exit.corrected : Exit.uncorrected;
    },
  );
}
