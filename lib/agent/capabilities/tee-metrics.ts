import { Counter, Gauge, type Registry } from 'prom-client';

/** The TEE capability's metrics (docs/config.md lists them), registered once per registry. */
export interface TeeMetrics {
  up: Gauge;
  restarts: Counter<'level'>;
  steps: Counter<'step'>;
  signed: Counter;
  recoveryMs: Gauge;
  crashesInWindow: Gauge;
}

function once<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function teeMetrics(registry: Registry): TeeMetrics {
  const r = [registry];
  return {
    up: once(registry, 'salvor_tee_up', () => new Gauge({ name: 'salvor_tee_up', help: '1 while the TEE security service runs, 0 while it recovers or has given up', registers: r })),
    restarts: once(registry, 'salvor_tee_restarts_total', () => new Counter({ name: 'salvor_tee_restarts_total', help: 'recoveries by the level that mended them (ta, supplicant, tee-os)', labelNames: ['level'], registers: r })),
    steps: once(registry, 'salvor_tee_recovery_steps_total', () => new Counter({ name: 'salvor_tee_recovery_steps_total', help: 'recovery steps taken (each a tee-* event)', labelNames: ['step'], registers: r })),
    signed: once(registry, 'salvor_tee_signatures_total', () => new Counter({ name: 'salvor_tee_signatures_total', help: 'signatures completed by the security service', registers: r })),
    recoveryMs: once(registry, 'salvor_tee_last_recovery_ms', () => new Gauge({ name: 'salvor_tee_last_recovery_ms', help: 'from the crash to the service resumed, last recovery', registers: r })),
    crashesInWindow: once(registry, 'salvor_tee_crashes_in_window', () => new Gauge({ name: 'salvor_tee_crashes_in_window', help: 'TEE crashes inside the crash-loop window', registers: r })),
  };
}
