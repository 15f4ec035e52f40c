import { constants } from 'node:fs';
import { access, mkdir, open, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { addon, callNative } from '../../bindings/addon';
import { SalvorError } from '../../bindings/salvor-error';
import type { Capability } from './capability';
import { loadConfig, type LoadedConfig } from './config';
import type { AgentConfig } from './config-schema';
import { listenControl } from './control-socket';
import { listenHttp } from './http-server';
import { createLogger, type Logger } from './logger';
import { createMetrics, type AgentMetrics } from './metrics';
import type { DaemonStatus } from './status-page';
import { Supervisor } from './supervisor';

/** What the composition root hands the daemon: the capabilities for a config, and the service manager. */
export interface DaemonPlatform {
  capabilities(config: AgentConfig): Capability[];
  notify(message: string): boolean;
  credentials(socket: Socket): { pid: number; uid: number; gid: number };
  version: string;
  env: NodeJS.ProcessEnv;
}

/** The state directory's lock: the open lock file, and whether this start created the directory. */
interface StateLock {
  fh: FileHandle;
  path: string;
  createdDir: string | undefined;
}

/**
 * Takes STATE/daemon.lock (flock, never waits): a second daemon on the same state directory is refused.
 * A daemon that fails to start unlinks the file while still holding it, so the lock is only ours once
 * the path still names the file we locked; otherwise a newer file has taken its place and we try that one.
 */
async function lockStateDir(stateDir: string): Promise<StateLock> {
  let createdDir: string | undefined;
  try {
    createdDir = await mkdir(stateDir, { recursive: true });
    await access(stateDir, constants.W_OK);
  } catch (e) {
    throw new SalvorError('SALVOR_STATE_DIR', `state directory ${stateDir} is not writable: ${(e as Error).message}`, { path: stateDir });
  }
  const path = join(stateDir, 'daemon.lock');
  for (let attempt = 1; ; attempt++) {
    const fh = await open(path, 'a', 0o600).catch((e) => {
      throw new SalvorError('SALVOR_STATE_DIR', `state directory ${stateDir}: cannot open ${path}: ${(e as Error).message}`, { path });
    });
    if (!callNative(() => addon().lockDevice(fh.fd, true), path)) {
      await fh.close();
      throw new SalvorError('SALVOR_LOCKED', `another salvor daemon runs on ${stateDir} (it holds ${path})`, { path });
    }
    const [held, named] = await Promise.all([fh.stat(), stat(path).catch(() => undefined)]);
    if (named && named.ino === held.ino && named.dev === held.dev) return { fh, path, createdDir };
    await fh.close();
    if (attempt >= 5) throw new SalvorError('SALVOR_LOCKED', `${path} keeps being replaced while salvor takes it`, { path });
  }
}

/** A start that failed leaves nothing behind: the lock file goes (unlinked while still held), then a directory it made. */
async function removeStateLock(lock: StateLock): Promise<void> {
  await unlink(lock.path).catch(() => undefined);
  await lock.fh.close();
  if (!lock.createdDir) return;
  // mkdir -p made createdDir and everything below it down to the state directory: remove those, if empty
  const top = resolve(lock.createdDir);
  for (let dir = resolve(dirname(lock.path)); dir.startsWith(top); dir = dirname(dir)) {
    if (!(await rmdir(dir).then(() => true, () => false))) return;
  }
}

/**
 * The agent daemon: one supervisor over every configured capability, an HTTP endpoint (status page,
 * metrics), a control socket for the CLI, and the service manager's protocol (READY, WATCHDOG,
 * STATUS, STOPPING, RELOADING). Everything that can refuse (config, state directory, lock, ports) is
 * checked before any capability starts: a daemon either starts whole or exits with a clear error.
 */
export class Daemon {
  private supervisor!: Supervisor;
  private http: Server | undefined;
  private control: NetServer | undefined;
  private lock: StateLock | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | undefined;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((r) => (this.resolveDone = r));
  readonly metrics: AgentMetrics = createMetrics();
  log!: Logger;

  private constructor(
    private loaded: LoadedConfig,
    private readonly platform: DaemonPlatform,
  ) {}

  static async start(configFile: string | undefined, platform: DaemonPlatform, logTo?: NodeJS.WritableStream): Promise<Daemon> {
    const loaded = await loadConfig(configFile, platform.env);
    const d = new Daemon(loaded, platform);
    try {
      await d.open(logTo);
    } catch (err) {
      d.metrics.close();
      throw err;
    }
    return d;
  }

  get config(): AgentConfig {
    return this.loaded.config;
  }
  get stateDir(): string {
    return this.loaded.stateDir;
  }
  get controlPath(): string {
    return this.config.control.socket ?? join(this.stateDir, 'salvor.sock');
  }

  private async open(logTo?: NodeJS.WritableStream): Promise<void> {
    const c = this.config;
    this.log = createLogger(c.log.level, logTo);
    this.lock = await lockStateDir(this.stateDir);
    try {
      if (c.http.enabled) this.http = await listenHttp(c.http.listen, this.metrics, () => this.status());
      this.control = await listenControl({
        path: this.controlPath,
        credentials: this.platform.credentials,
        handler: (r) => this.command(r),
        log: (line, msg) => this.log.warn(line, msg),
      });
    } catch (err) {
      await this.closeServers();
      await removeStateLock(this.lock);
      this.lock = undefined;
      throw err;
    }
    this.supervisor = new Supervisor(c.supervisor, { stateDir: this.stateDir, metrics: this.metrics }, this.log, this.metrics);
    this.log.info({ event: 'starting', config: this.loaded.file ?? null, stateDir: this.stateDir, http: c.http.enabled ? c.http.listen : null, control: this.controlPath }, 'salvor daemon starting');
    await this.supervisor.add(this.platform.capabilities(c));
    this.platform.notify(`READY=1\nSTATUS=${this.supervisor.summary()}\nMAINPID=${process.pid}`);
    this.log.info({ event: 'ready', summary: this.supervisor.summary() }, 'salvor daemon ready');
    this.startWatchdog();
    this.statusTimer = setInterval(() => this.platform.notify(`STATUS=${this.supervisor.summary()}`), 5000);
  }

  /** WATCHDOG=1 at half the manager's WatchdogSec, from the event loop: a stuck loop misses it and is restarted. */
  private startWatchdog(): void {
    const usec = Number(this.platform.env.WATCHDOG_USEC);
    const pid = this.platform.env.WATCHDOG_PID;
    if (!usec || (pid && Number(pid) !== process.pid)) return;
    this.watchdog = setInterval(() => this.platform.notify('WATCHDOG=1'), Math.max(100, usec / 2000));
  }

  status(): DaemonStatus {
    return {
      version: this.platform.version,
      pid: process.pid,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      stateDir: this.stateDir,
      config: this.loaded.file ?? null,
      summary: this.supervisor?.summary() ?? 'starting',
      capabilities: this.supervisor?.reports() ?? [],
    };
  }

  private async command(r: { cmd: string }): Promise<Record<string, unknown>> {
    if (r.cmd === 'status') return { status: this.status() };
    if (r.cmd === 'reload') return { reload: await this.reload() };
    const dot = r.cmd.indexOf('.');
    if (dot > 0) return this.capabilityCommand(r.cmd.slice(0, dot), r.cmd.slice(dot + 1), r);
    throw new SalvorError('SALVOR_BAD_INPUT', `unknown control command '${r.cmd}' (known: status, reload)`);
  }

  /** A request for one capability (`tee.sign`): answered by its running instance, refused while it is not running. */
  private capabilityCommand(name: string, verb: string, r: Record<string, unknown>): Promise<Record<string, unknown>> {
    const running = this.supervisor?.running(name);
    if (!running?.control) {
      const state = this.supervisor?.reports().find((c) => c.name === name)?.state;
      return Promise.reject(new SalvorError('SALVOR_NOT_RUNNING', state ? `the ${name} capability is ${state}, not running` : `no ${name} capability in this daemon's config`));
    }
    return running.control(verb, r);
  }

  /**
   * SIGHUP: read the config file again. An invalid one is refused and the running config stays; a
   * valid one restarts only the capabilities whose section changed (and starts or stops the others).
   * The state directory, HTTP address and control socket are fixed for the daemon's life.
   */
  async reload(): Promise<{ applied: boolean; restarted: string[]; error?: string }> {
    this.platform.notify('RELOADING=1');
    try {
      let next: LoadedConfig;
      try {
        next = await loadConfig(this.loaded.file, this.platform.env);
      } catch (err) {
        this.log.error({ event: 'reload-refused', reason: (err as Error).message }, `config reload refused, the running config stays: ${(err as Error).message}`);
        return { applied: false, restarted: [], error: (err as Error).message };
      }
      const fixed = ['stateDir', 'http', 'control'] as const;
      const moved = fixed.filter((k) => JSON.stringify(next.config[k]) !== JSON.stringify(this.config[k]) || next.stateDir !== this.stateDir);
      if (moved.length) this.log.warn({ event: 'reload-partial', keys: moved }, `config reload: ${moved.join(', ')} change only at restart`);
      const wanted = new Map(this.platform.capabilities(next.config).map((c) => [c.name, c]));
      const running = this.supervisor.configKeys();
      const changed = [...running].filter(([n, key]) => wanted.get(n)?.configKey !== key).map(([n]) => n);
      await this.supervisor.remove(changed);
      const added = [...wanted.values()].filter((c) => !running.has(c.name) || changed.includes(c.name));
      this.loaded = { ...next, stateDir: this.stateDir, config: { ...next.config, stateDir: this.config.stateDir, http: this.config.http, control: this.config.control } };
      this.log.level = this.config.log.level;
      await this.supervisor.add(added);
      const restarted = [...new Set([...changed, ...added.map((c) => c.name)])];
      this.log.info({ event: 'reloaded', restarted }, `config reloaded; restarted: ${restarted.join(', ') || 'none'}`);
      return { applied: true, restarted };
    } finally {
      this.platform.notify(`READY=1\nSTATUS=${this.supervisor.summary()}`);
    }
  }

  /** Stops accepting requests (HTTP and control socket); resolves once both servers have closed. */
  private closeServers(): Promise<void> {
    const closing = Promise.all([
      new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r())),
      new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r())),
    ]);
    this.http?.closeAllConnections();
    return closing.then(() => undefined);
  }

  private async releaseLock(): Promise<void> {
    await this.lock?.fh.close();
    this.lock = undefined;
  }

  /** SIGTERM: stop accepting requests, stop every capability (each within stopTimeoutMs), release the lock. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.platform.notify('STOPPING=1');
      this.log.info({ event: 'stopping' }, 'salvor daemon stopping');
      clearInterval(this.watchdog);
      clearInterval(this.statusTimer);
      const closing = this.closeServers();
      await this.supervisor.stopAll();
      await closing;
      this.metrics.close();
      await this.releaseLock(); // last: no second daemon starts while capabilities stop
      this.log.info({ event: 'stopped' }, 'salvor daemon stopped');
      this.resolveDone();
    })();
    return this.stopping;
  }
}
