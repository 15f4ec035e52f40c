import type { Capability, CapabilityContext, RunningCapability } from './capability';
import type { Logger } from './logger';
import type { AgentMetrics } from './metrics';

export interface SupervisorOptions {
  healthIntervalMs: number;
  restartInitialMs: number;
  restartMaxMs: number;
  stableAfterMs: number;
  stopTimeoutMs: number;
}

export type CapabilityState = 'starting' | 'running' | 'unhealthy' | 'backoff' | 'stopping' | 'stopped';

/** What the supervisor knows of one capability (the status page and `salvor status` show it). */
export interface CapabilityReport {
  name: string;
  state: CapabilityState;
  restarts: number;
  since: string;
  lastEvent: Record<string, unknown> | null;
  lastError: string | null;
  nextStartInMs: number | null;
  detail: Record<string, unknown>;
}

const UNHEALTHY_CHECKS_BEFORE_RESTART = 3;

/**
 * Runs each capability on its own: started, health-checked every interval, and restarted with
 * exponential backoff (reset once it has stayed up for stableAfterMs) when it crashes, ends, fails to
 * start, or fails three health checks in a row. One capability's failure never stops another.
 */
class Supervised {
  state: CapabilityState = 'starting';
  restarts = 0;
  since = Date.now();
  lastEvent: Record<string, unknown> | null = null;
  lastError: string | null = null;
  running: RunningCapability | undefined;
  private backoffMs: number;
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private failedChecks = 0;
  private nextStartAt: number | undefined;
  private stopping = false;
  readonly log: Logger;

  constructor(
    readonly cap: Capability,
    private readonly o: SupervisorOptions,
    private readonly baseCtx: Omit<CapabilityContext, 'log' | 'event'>,
    parentLog: Logger,
    private readonly metrics: AgentMetrics,
  ) {
    this.backoffMs = o.restartInitialMs;
    this.log = parentLog.child({ capability: cap.name });
    this.metrics.capabilityRestarts.inc({ capability: cap.name }, 0); // the series exists before the first restart
  }

  private setState(state: CapabilityState): void {
    this.state = state;
    this.since = Date.now();
    this.metrics.capabilityUp.set({ capability: this.cap.name }, state === 'running' ? 1 : 0);
  }

  private context(): CapabilityContext {
    return {
      ...this.baseCtx,
      log: this.log,
      event: (e) => {
        this.lastEvent = { ...e, time: new Date().toISOString() };
        this.log.info(e, e.event);
      },
    };
  }

  async start(): Promise<void> {
    if (this.stopping) return;
    this.setState('starting');
    this.nextStartAt = undefined;
    try {
      const running = await this.cap.start(this.context());
      if (this.stopping) {
        await running.stop();
        return;
      }
      this.running = running;
      this.startedAt = Date.now();
      this.failedChecks = 0;
      this.setState('running');
      this.log.info({ event: 'started', restarts: this.restarts }, `${this.cap.name} started`);
      running.done.then(
        () => this.failed(running, 'ended by itself'),
        (err: Error) => this.failed(running, err?.message ?? String(err)),
      );
      this.healthTimer = setInterval(() => void this.check(running), this.o.healthIntervalMs);
    } catch (err) {
      this.failed(undefined, `start failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  private async check(running: RunningCapability): Promise<void> {
    if (running !== this.running || this.stopping) return;
    let ok = false;
    let detail: string | undefined;
    try {
      const h = await running.health();
      ok = h.ok;
      detail = h.detail;
    } catch (err) {
      detail = (err as Error).message;
    }
    if (running !== this.running || this.stopping) return;
    if (ok) {
      this.failedChecks = 0;
      if (this.state === 'unhealthy') this.setState('running');
      if (Date.now() - this.startedAt >= this.o.stableAfterMs) this.backoffMs = this.o.restartInitialMs;
      return;
    }
    this.failedChecks++;
    this.setState('unhealthy');
    this.log.warn({ event: 'unhealthy', detail, checks: this.failedChecks }, `${this.cap.name} unhealthy: ${detail ?? ''}`);
    if (this.failedChecks >= UNHEALTHY_CHECKS_BEFORE_RESTART) this.failed(running, `unhealthy ${this.failedChecks} checks in a row: ${detail ?? ''}`);
  }

  /** A crash, an end, a failed start or repeated failed checks: stop what is left, then restart after backoff. */
  private failed(running: RunningCapability | undefined, why: string): void {
    if (this.stopping || (running && running !== this.running)) return;
    clearInterval(this.healthTimer);
    this.running = undefined;
    this.lastError = why;
    this.restarts++;
    this.metrics.capabilityRestarts.inc({ capability: this.cap.name });
    if (running) void Promise.resolve(running.stop()).catch(() => undefined);
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.o.restartMaxMs);
    this.nextStartAt = Date.now() + delay;
    this.setState('backoff');
    this.log.error({ event: 'capability-failed', reason: why, restartInMs: delay, restarts: this.restarts }, `${this.cap.name} failed (${why}); restarting in ${delay} ms`);
    this.timer = setTimeout(() => void this.start(), delay);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    clearInterval(this.healthTimer);
    const running = this.running;
    this.running = undefined;
    this.setState('stopping');
    if (running) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.o.stopTimeoutMs)));
      const why = await Promise.race([Promise.resolve(running.stop()).then(() => 'ok' as const, () => 'ok' as const), bound]);
      clearTimeout(timer);
      if (why === 'timeout') this.log.warn({ event: 'stop-timeout', ms: this.o.stopTimeoutMs }, `${this.cap.name} did not stop within ${this.o.stopTimeoutMs} ms`);
    }
    this.setState('stopped');
  }

  report(): CapabilityReport {
    let detail: Record<string, unknown> = {};
    try {
      detail = this.running?.status() ?? {};
    } catch (err) {
      detail = { error: (err as Error).message };
    }
    return {
      name: this.cap.name,
      state: this.state,
      restarts: this.restarts,
      since: new Date(this.since).toISOString(),
      lastEvent: this.lastEvent,
      lastError: this.lastError,
      nextStartInMs: this.nextStartAt === undefined ? null : Math.max(0, this.nextStartAt - Date.now()),
      detail,
    };
  }
}

export class Supervisor {
  private readonly entries = new Map<string, Supervised>();

  constructor(
    private readonly o: SupervisorOptions,
    private readonly ctx: Omit<CapabilityContext, 'log' | 'event'>,
    private readonly log: Logger,
    private readonly metrics: AgentMetrics,
  ) {}

  /** Starts capabilities (each on its own; a failed start is retried with backoff, not thrown). */
  async add(caps: Capability[]): Promise<void> {
    const added = caps.map((c) => {
      const s = new Supervised(c, this.o, this.ctx, this.log, this.metrics);
      this.entries.set(c.name, s);
      return s;
    });
    await Promise.all(added.map((s) => s.start()));
  }

  /** Stops and forgets the named capabilities. */
  async remove(names: string[]): Promise<void> {
    await Promise.all(
      names.map(async (n) => {
        await this.entries.get(n)?.stop();
        this.entries.delete(n);
      }),
    );
  }

  configKeys(): Map<string, string> {
    return new Map([...this.entries].map(([n, s]) => [n, s.cap.configKey]));
  }

  /** The running instance of a capability (undefined while it starts, backs off or is stopped). */
  running(name: string): RunningCapability | undefined {
    return this.entries.get(name)?.running;
  }

  reports(): CapabilityReport[] {
    return [...this.entries.values()].map((s) => s.report());
  }

  /** True when every capability is running (the watchdog and READY only need the loop alive; this is for STATUS=). */
  summary(): string {
    const r = this.reports();
    const up = r.filter((x) => x.state === 'running').length;
    return `${up}/${r.length} capabilities running` + (up < r.length ? ` (${r.filter((x) => x.state !== 'running').map((x) => `${x.name} ${x.state}`).join(', ')})` : '');
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.entries.values()].map((s) => s.stop()));
  }
}
