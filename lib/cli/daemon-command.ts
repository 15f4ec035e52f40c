import type { Command } from 'commander';
import { SalvorError } from '../../bindings/salvor-error';
import { Daemon, type DaemonPlatform } from '../agent/daemon';
import { requestControl } from '../agent/control-socket';
import type { DaemonStatus } from '../agent/status-page';
import { loadConfig } from '../agent/config';
import { join } from 'node:path';
import { verb } from './command';
import { Exit } from './exit-codes';
import type { CliPlatform } from './platform';

/** Runs the daemon until SIGTERM/SIGINT (exit 0); SIGHUP reloads the config. */
async function runDaemon(configFile: string | undefined, platform: DaemonPlatform): Promise<number> {
  const daemon = await Daemon.start(configFile, platform);
  const onHup = () => void daemon.reload();
  const onTerm = () => {
    // A bound on shutdown: capabilities get stopTimeoutMs each (in parallel), then the process goes anyway.
    setTimeout(() => {
      daemon.log.error({ event: 'stop-overrun' }, 'shutdown took too long; exiting');
      process.exit(Exit.ok);
    }, daemon.config.supervisor.stopTimeoutMs + 2000).unref();
    void daemon.stop();
  };
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onTerm);
  await daemon.done;
  process.off('SIGHUP', onHup);
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onTerm);
  return Exit.ok;
}

function describe(s: DaemonStatus): string {
  const lines = [`salvor ${s.version}, pid ${s.pid}, up ${s.uptimeS} s: ${s.summary}`, `state ${s.stateDir}; config ${s.config ?? 'embedded default'}`];
  for (const c of s.capabilities) {
    lines.push(`  ${c.name.padEnd(12)} ${c.state.padEnd(9)} restarts ${c.restarts}${c.lastEvent ? `  last: ${String(c.lastEvent.event)}` : ''}${c.lastError ? `  error: ${c.lastError}` : ''}`);
  }
  return lines.join('\n');
}

export function registerDaemon(program: Command, platform: CliPlatform): void {
  program
    .command('daemon')
    .description('run every configured capability under one supervisor (systemd Type=notify); SIGTERM stops, SIGHUP reloads the config')
    .option('--config <file>', 'JSON config (docs/config.md); without it, the embedded default: every capability, simulated devices, a local standby on loopback')
    .option('--check', 'validate the config and exit (0 valid, 16 invalid)')
    .addHelpText(
      'after',
      `\nLogs: JSON lines on stdout. Status page and metrics: http://127.0.0.1:9310/ and /metrics (http.listen).
Control socket: $STATE/salvor.sock (mode 0600), used by \`salvor status\`. Exit: 0 after SIGTERM, 8 cannot start
(state directory, lock held by another daemon, port in use), 16 bad config. See docs/config.md and docs/install.md.`,
    )
    .action(async (o: { config?: string; check?: boolean }) => {
      try {
        if (o.check) {
          const loaded = await loadConfig(o.config);
          process.stdout.write(`${o.config ?? 'embedded default'}: valid (state ${loaded.stateDir})\n`);
          process.exitCode = Exit.ok;
          return;
        }
        process.exitCode = await runDaemon(o.config, platform.daemonPlatform());
      } catch (err) {
        const { reportError } = await import('./output');
        process.exitCode = reportError(err, false);
      }
    });

  const control = controlOptions;

  verb<ControlOpts>(control(program.command('status').description("a running daemon's capabilities: state, restarts, last event (through its control socket)")), async (o, out) => {
    const status = (await ask(o, 'status')).status as DaemonStatus;
    out.result(status, () => describe(status));
    return Exit.ok;
  });

  verb<ControlOpts>(
    control(program.command('reload').description("make a running daemon read its config again, as SIGHUP does; exit 16 when it refuses the new config (the old one keeps running)")),
    async (o, out) => {
      const r = (await ask(o, 'reload')).reload as { applied: boolean; restarted: string[]; error?: string };
      out.result(r, () => (r.applied ? `reloaded; restarted: ${r.restarted.join(', ') || 'none'}` : `refused: ${r.error}`));
      if (!r.applied) process.stderr.write(`salvor: the daemon refused the new config, the running one stays: ${r.error}\n`);
      return r.applied ? Exit.ok : Exit.usage;
    },
  );
}

/** --socket and --config: how a command finds the running daemon. */
export function controlOptions(cmd: Command): Command {
  return cmd
    .option('--socket <path>', 'the control socket (default: control.socket from --config, else $STATE/salvor.sock)')
    .option('--config <file>', "the daemon's config, to find its socket");
}

export interface ControlOpts {
  json?: boolean;
  socket?: string;
  config?: string;
}

/** One request to the daemon's control socket; no daemon there is an operational error (8). */
export async function ask(o: ControlOpts, cmd: string, fields: Record<string, unknown> = {}, timeoutMs?: number): Promise<Record<string, unknown>> {
  let path = o.socket;
  if (!path) {
    const loaded = await loadConfig(o.config);
    path = loaded.config.control.socket ?? join(loaded.stateDir, 'salvor.sock');
  }
  try {
    return await requestControl(path, { ...fields, cmd }, timeoutMs);
  } catch (err) {
    const e = err as SalvorError;
    if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') throw new SalvorError('SALVOR_NOT_RUNNING', `no salvor daemon runs with control socket ${path} (${e.code})`, { path });
    throw err;
  }
}
