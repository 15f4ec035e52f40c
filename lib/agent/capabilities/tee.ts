import { SalvorError } from '../../../bindings/salvor-error';
import { teeFaults, type TeeClient, type TeeFault } from '../../tee/client';
import { TeeSecurityService } from '../../tee/security-service';
import type { Capability, CapabilityContext, RunningCapability } from '../capability';
import type { TeeConfig } from '../config-schema';
import { teeMetrics } from './tee-metrics';

export interface TeeDeps {
  /** Opens the configured backend (platform/sim or platform/linux); the composition root decides. */
  openClient: (cfg: TeeConfig, stateDir: string) => Promise<TeeClient>;
}

const MAX_SIGN_TIMEOUT_MS = 3_600_000;

function field(r: Record<string, unknown>, k: string, type: 'string' | 'number', required: boolean): unknown {
  const v = r[k];
  if (v === undefined && !required) return undefined;
  if (typeof v !== type) throw new SalvorError('SALVOR_BAD_INPUT', `tee request: "${k}" must be a ${type}`);
  return v;
}

/**
 * The TEE security service under the daemon: signing with TEE-held keys for local clients over the
 * control socket (tee.status, tee.pubkey, tee.sign, tee.inject, tee.recover), with crash recovery
 * (lib/tee/recovery.ts). Every recovery step is an event, a metric and a line on the status page.
 */
export function teeCapability(cfg: TeeConfig, deps: TeeDeps): Capability {
  return {
    name: 'tee',
    configKey: JSON.stringify(cfg),
    async start(ctx: CapabilityContext): Promise<RunningCapability> {
      const m = teeMetrics(ctx.metrics.registry);
      const client = await deps.openClient(cfg, ctx.stateDir);
      const service = new TeeSecurityService(client, {
        stateDir: ctx.stateDir,
        keys: cfg.keys,
        callTimeoutMs: cfg.callTimeoutMs,
        resultWindowMs: cfg.resultWindowMs,
        maxInFlight: cfg.maxInFlight,
        crashLoop: cfg.crashLoop,
        restartTimeoutMs: cfg.restartTimeoutMs,
      });
      service.on('event', (e: { event: string; [k: string]: unknown }) => {
        m.steps.inc({ step: e.event });
        if (e.event === 'tee-resumed') {
          m.restarts.inc({ level: String(e.level) });
          m.recoveryMs.set(Number(e.ms));
        }
        m.up.set(service.state === 'running' || e.event === 'tee-resumed' ? 1 : 0);
        m.crashesInWindow.set(Number(service.status().crashesInWindow));
        ctx.event(e);
      });
      service.on('signed', () => m.signed.inc());
      try {
        await service.start();
      } catch (err) {
        await service.stop().catch(() => undefined);
        throw err;
      }
      m.up.set(1);
      ctx.event({ event: 'tee-ready', backend: client.backend, keys: cfg.keys.map((k) => k.name) });
      return {
        done: new Promise<void>(() => undefined), // recovery is the service's own; it never ends by itself
        // A service that gave up stays down (reported for a platform reboot) rather than being restarted in a loop.
        health: () => ({ ok: true, detail: service.state === 'failed' ? `recovery gave up; platform reboot required (${service.reportPath})` : service.state }),
        status: () => service.status(),
        async control(cmd: string, r: Record<string, unknown>): Promise<Record<string, unknown>> {
          if (cmd === 'status') return { tee: service.status() };
          if (cmd === 'pubkey') {
            const key = (field(r, 'key', 'string', false) as string | undefined) ?? 'device';
            return { key, ...service.publicKeyPem(key) };
          }
          if (cmd === 'sign') {
            const key = (field(r, 'key', 'string', false) as string | undefined) ?? 'device';
            const message = Buffer.from(field(r, 'message', 'string', true) as string, 'base64');
            const timeoutMs = (field(r, 'timeoutMs', 'number', false) as number | undefined) ?? 30_000;
            if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_SIGN_TIMEOUT_MS) throw new SalvorError('SALVOR_BAD_INPUT', `tee request: "timeoutMs" must be an integer from 1 to ${MAX_SIGN_TIMEOUT_MS}`);
            const idempotencyKey = field(r, 'idempotencyKey', 'string', false) as string | undefined;
            const s = await service.sign(key, message, { idempotencyKey, timeoutMs });
            return { signature: s.signature.toString('base64'), key: s.key, alg: s.alg, counter: s.counter };
          }
          if (cmd === 'inject') {
            const fault = field(r, 'fault', 'string', true) as TeeFault;
            if (!teeFaults.includes(fault)) throw new SalvorError('SALVOR_USAGE', `tee inject: unknown fault '${fault}' (known: ${teeFaults.join(', ')})`);
            await service.inject(fault);
            return { injected: fault };
          }
          if (cmd === 'recover') return { recover: await service.recoverNow(), tee: service.status() };
          throw new SalvorError('SALVOR_BAD_INPUT', `unknown tee request '${cmd}' (known: status, pubkey, sign, inject, recover)`);
        },
        stop: () => service.stop(),
      };
    },
  };
}
