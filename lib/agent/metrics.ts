import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { registerEventLoopLag } from './event-loop-lag';

/** Every metric the daemon exports, all named salvor_* (docs/config.md lists them). */
export interface AgentMetrics {
  registry: Registry;
  /** Stops the event loop sampling. */
  close(): void;
  capabilityUp: Gauge<'capability'>;
  capabilityRestarts: Counter<'capability'>;
  replicationEpoch: Gauge<'role'>;
  replicationLagMs: Gauge<'standby'>;
  replicationInSync: Gauge<'standby'>;
  nvramBadSectors: Gauge;
  nvramChecks: Counter<'result'>;
  leakScore: Gauge<'pid' | 'name'>;
  leakAlerts: Counter<'kind'>;
  leakWatched: Gauge;
  leakFiring: Gauge<'target'>;
}

export function createMetrics(): AgentMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'salvor_', eventLoopMonitoringPrecision: 1000 });
  // prom-client's lag figures are the raw timer delays (their min is the sampling interval on an idle
  // loop); they are replaced by lag proper (event-loop-lag.ts).
  for (const m of registry.getMetricsAsArray()) if (m.name.startsWith('salvor_nodejs_eventloop_lag')) registry.removeSingleMetric(m.name);
  const lag = registerEventLoopLag(registry);
  const r = [registry];
  return {
    registry,
    close: () => lag.close(),
    capabilityUp: new Gauge({ name: 'salvor_capability_up', help: '1 while the capability runs, 0 while it starts, backs off or is unhealthy', labelNames: ['capability'], registers: r }),
    capabilityRestarts: new Counter({ name: 'salvor_capability_restarts_total', help: 'restarts of a capability after a crash, failed start or failed health checks', labelNames: ['capability'], registers: r }),
    replicationEpoch: new Gauge({ name: 'salvor_replication_epoch', help: 'the last epoch cut (primary) or committed (standby)', labelNames: ['role'], registers: r }),
    replicationLagMs: new Gauge({ name: 'salvor_replication_lag_ms', help: 'from the cut of an epoch to its ack by the standby, last acked epoch', labelNames: ['standby'], registers: r }),
    replicationInSync: new Gauge({ name: 'salvor_replication_in_sync', help: '1 when the standby is in sync', labelNames: ['standby'], registers: r }),
    nvramBadSectors: new Gauge({ name: 'salvor_nvram_bad_sectors', help: 'bad sectors found by the last NVRAM check', registers: r }),
    nvramChecks: new Counter({ name: 'salvor_nvram_checks_total', help: 'NVRAM checks by result (clean, recovered, uncorrected, error)', labelNames: ['result'], registers: r }),
    leakScore: new Gauge({ name: 'salvor_leak_score', help: 'memory growth pattern score 0..10 of a watched process', labelNames: ['pid', 'name'], registers: r }),
    leakAlerts: new Counter({ name: 'salvor_leak_alerts_total', help: 'leak events (suspect, confirmed, resolved, cleared)', labelNames: ['kind'], registers: r }),
    leakWatched: new Gauge({ name: 'salvor_leak_watched', help: 'processes and cgroups watched for leaks', registers: r }),
    leakFiring: new Gauge({ name: 'salvor_leak_alert_firing', help: '1 while a leak alert fires for the target, 0 once it resolved', labelNames: ['target'], registers: r }),
  };
}
