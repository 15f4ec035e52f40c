import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceOpener } from '../../nvram/device';
import { formatNvram } from '../../nvram/format';
import { openStore, type StoreTarget } from '../../nvram/open';
import type { CheckReport, NvramStore } from '../../nvram/store';
import type { Capability, CapabilityContext, RunningCapability } from '../capability';
import type { NvramConfig } from '../config-schema';

export interface NvramDeps {
  openDevice: DeviceOpener;
  /** Defaults for a simulated image (platform/sim/default-nvram.json). */
  simulatedDefaults: string;
}

const SIMULATED_SIZE = 64 * 1024;

/**
 * NVRAM health: at start (formatting a simulated image under the state directory when no device is
 * configured) and every checkIntervalMs, a full check; with autoRecover a corrupt NVRAM is repaired at
 * once. The boot is counted in bootCountKey once per daemon start, not per restart of the capability.
 */
export function nvramCapability(cfg: NvramConfig, deps: NvramDeps): Capability {
  let bootCounted = false;
  return {
    name: 'nvram',
    configKey: JSON.stringify(cfg),
    async start(ctx: CapabilityContext): Promise<RunningCapability> {
      const simulated = !cfg.device && !cfg.ubootConfig;
      const device = cfg.device ?? (simulated ? join(ctx.stateDir, 'nvram.img') : undefined);
      const defaultsPath = cfg.defaults ?? (simulated ? deps.simulatedDefaults : undefined);
      if (simulated && !existsSync(device!)) {
        const r = await formatNvram(device!, deps.openDevice, { size: SIMULATED_SIZE, defaultsPath, stateDir: ctx.stateDir });
        ctx.event({ event: 'formatted', device: r.device, size: r.geometry.size, simulated: true });
      }
      const target: StoreTarget = { device, ubootConfig: cfg.ubootConfig, stateDir: ctx.stateDir, defaultsPath };
      const withStore = async <T>(writable: boolean, fn: (s: NvramStore) => Promise<T>): Promise<T> => {
        const store = await openStore({ ...target, writable }, deps.openDevice);
        try {
          return await fn(store);
        } finally {
          await store.close();
        }
      };

      let last: (CheckReport & { at: string; recovered?: number; uncorrected?: number }) | undefined;
      let lastError: string | undefined;
      let checks = 0;
      const runCheck = async (): Promise<void> => {
        const report = await withStore(false, (s) => s.check());
        checks++;
        let result = report.clean ? 'clean' : 'corrupt';
        last = { ...report, at: new Date().toISOString() };
        ctx.metrics.nvramBadSectors.set(report.badSectors.length);
        if (!report.clean) {
          ctx.event({ event: 'nvram-corrupt', device: report.device, header: report.header, badSectors: report.badSectors.length });
          if (cfg.autoRecover) {
            const r = await withStore(true, (s) => s.recover());
            result = r.uncorrected.length ? 'uncorrected' : 'recovered';
            last = { ...r, at: new Date().toISOString(), recovered: r.recovered.length, uncorrected: r.uncorrected.length };
            ctx.metrics.nvramBadSectors.set(r.uncorrected.length);
            ctx.event({ event: 'nvram-recovered', device: r.device, recovered: r.recovered.length, uncorrected: r.uncorrected.length });
          }
        }
        ctx.metrics.nvramChecks.inc({ result });
        lastError = undefined;
      };

      await runCheck();
      if (cfg.bootCountKey && !bootCounted) {
        const key = cfg.bootCountKey;
        const boots = await withStore(true, async (s) => {
          const v = await s.get(key);
          const n = v?.type === 'int' ? v.value + 1n : 1n;
          await s.set(key, { type: 'int', value: n });
          return n;
        });
        bootCounted = true;
        ctx.event({ event: 'boot-counted', key, value: Number(boots) });
      }

      let fail: (err: Error) => void = () => undefined;
      const done = new Promise<void>((_, reject) => (fail = reject));
      done.catch(() => undefined);
      let busy = false;
      const timer = setInterval(() => {
        if (busy) return;
        busy = true;
        runCheck()
          .catch((err: Error) => {
            lastError = err.message;
            ctx.metrics.nvramChecks.inc({ result: 'error' });
            fail(err); // the device went away or broke: the supervisor restarts this capability
          })
          .finally(() => (busy = false));
      }, cfg.checkIntervalMs);

      return {
        done,
        // Health is whether checking works; corruption it found is reported (status, metrics, events), and a
        // restart would not mend it.
        health: () => ({ ok: !lastError && !!last, detail: lastError ?? (last?.clean ? 'clean' : `last check: ${last?.badSectors.length ?? '?'} bad sectors`) }),
        status: () => ({
          device: last?.device ?? device ?? cfg.ubootConfig,
          simulated,
          format: last?.format,
          clean: last?.clean ?? null,
          header: last?.header ?? null,
          badSectors: last?.badSectors.length ?? null,
          recovered: last?.recovered ?? 0,
          uncorrected: last?.uncorrected ?? 0,
          lastCheck: last?.at ?? null,
          checks,
        }),
        async stop() {
          clearInterval(timer);
        },
      };
    },
  };
}
