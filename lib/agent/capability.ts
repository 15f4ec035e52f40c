import type { Logger } from './logger';
import type { AgentMetrics } from './metrics';

/** What a capability gets from the daemon. */
export interface CapabilityContext {
  stateDir: string;
  log: Logger;
  metrics: AgentMetrics;
  /** Records an event: logged, kept as the capability's last event, shown on the status page. */
  event(e: { event: string; [k: string]: unknown }): void;
}

export interface Health {
  ok: boolean;
  detail?: string;
}

/** A capability once started: the supervisor watches `done` and health, and stops it on shutdown. */
export interface RunningCapability {
  /** Settles when the capability stops by itself: a crash (rejects) or an unexpected end (resolves). */
  done: Promise<unknown>;
  health(): Health | Promise<Health>;
  /** Plain JSON for the status page, `salvor status` and metrics. */
  status(): Record<string, unknown>;
  stop(): Promise<void>;
  /** Requests the control socket forwards to this capability (`{"cmd":"NAME.VERB",...}` reaches `control(VERB, request)`). */
  control?(verb: string, request: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** One capability the daemon runs; `start` rejects when it cannot start (the supervisor retries with backoff). */
export interface Capability {
  name: string;
  /** The config section it was built from (a reload restarts it only when this changes). */
  configKey: string;
  start(ctx: CapabilityContext): Promise<RunningCapability>;
}
