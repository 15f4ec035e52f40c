import { hostname } from 'node:os';
import type { CapabilityReport } from './supervisor';

/** What the status page, /status.json and `salvor status --json` show. */
export interface DaemonStatus {
  version: string;
  pid: number;
  startedAt: string;
  uptimeS: number;
  stateDir: string;
  config: string | null;
  summary: string;
  capabilities: CapabilityReport[];
}

/** One watched process as the leak capability reports it (samples: [ms since epoch, bytes]). */
interface WatchedProcess {
  key: string;
  name: string;
  score: number;
  state: string;
  alert?: { firedAtMs: number } | null;
  lastResolved?: { firedAtMs: number; resolvedAtMs: number | null } | null;
  samples: [number, number][];
}

const when = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

/** The alert's life in one line: firing since, or the last one that resolved. */
function alertLine(w: WatchedProcess): string {
  if (w.alert) return `<p class="alert firing">alert firing since ${esc(when(w.alert.firedAtMs))}</p>`;
  if (w.lastResolved?.resolvedAtMs) return `<p class="alert resolved">last alert fired ${esc(when(w.lastResolved.firedAtMs))}, resolved ${esc(when(w.lastResolved.resolvedAtMs))}</p>`;
  return '';
}

const esc = (v: unknown): string => String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** An inline SVG line chart of one process's memory over time (no external assets). */
export function memoryChart(samples: [number, number][], width = 360, height = 90): string {
  if (samples.length < 2) return `<svg class="chart" width="${width}" height="${height}" role="img" aria-label="not enough samples yet"><text x="8" y="${height / 2}">collecting samples…</text></svg>`;
  const t0 = samples[0][0];
  const t1 = samples[samples.length - 1][0];
  let lo = Infinity;
  let hi = -Infinity;
  for (const [, b] of samples) {
    lo = Math.min(lo, b);
    hi = Math.max(hi, b);
  }
  if (hi === lo) hi = lo + 1;
  const pad = 4;
  const label = 14; // room above and below the line for the max and min labels
  const x = (t: number) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (width - 2 * pad);
  const y = (b: number) => height - label - ((b - lo) / (hi - lo)) * (height - 2 * label);
  const points = samples.map(([t, b]) => `${x(t).toFixed(1)},${y(b).toFixed(1)}`).join(' ');
  return (
    `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="memory from ${mib(lo)} to ${mib(hi)} over ${Math.round((t1 - t0) / 1000)} s">` +
    `<rect width="${width}" height="${height}" fill="#f6f8fa"/>` +
    `<polyline fill="none" stroke="#0366d6" stroke-width="1.5" points="${points}"/>` +
    `<text x="${pad + 2}" y="10" font-size="10">${mib(hi)}</text><text x="${pad + 2}" y="${height - 3}" font-size="10">${mib(lo)}</text></svg>`
  );
}

function capabilityRows(caps: CapabilityReport[]): string {
  return caps
    .map((c) => {
      const last = c.lastEvent ? `${esc(c.lastEvent.event)} <small>${esc(c.lastEvent.time)}</small>` : '—';
      return `<tr class="cap-${esc(c.state)}" data-capability="${esc(c.name)}"><td>${esc(c.name)}</td><td class="state">${esc(c.state)}</td><td>${c.restarts}</td><td>${last}</td><td>${esc(c.lastError ?? '')}</td></tr>`;
    })
    .join('');
}

function replicationSection(c: CapabilityReport | undefined): string {
  if (!c) return '';
  const d = c.detail as { epoch?: number; term?: string; role?: string; url?: string; lagMs?: Record<string, number>; inSync?: Record<string, boolean> };
  const lags = Object.entries(d.lagMs ?? {});
  const rows = lags.length ? lags.map(([who, ms]) => `<tr><td>${esc(who)}</td><td class="lag">${ms} ms</td><td>${d.inSync?.[who] ? 'in sync' : 'not in sync'}</td></tr>`).join('') : '<tr><td colspan="3">no standby has acked an epoch yet</td></tr>';
  return `<section id="replication"><h2>Replication</h2><p>role ${esc(d.role)}, term ${esc(d.term)}, epoch <b class="epoch">${esc(d.epoch)}</b>, serving ${esc(d.url ?? '—')}</p><table><tr><th>standby</th><th>lag</th><th>state</th></tr>${rows}</table></section>`;
}

function nvramSection(c: CapabilityReport | undefined): string {
  if (!c) return '';
  const d = c.detail as { device?: string; simulated?: boolean; clean?: boolean | null; badSectors?: number | null; recovered?: number; lastCheck?: string | null };
  const health = d.clean === null || d.clean === undefined ? 'not checked yet' : d.clean ? 'clean' : `${d.badSectors} bad sectors`;
  return `<section id="nvram"><h2>NVRAM</h2><p>${esc(d.device)}${d.simulated ? ' (simulated)' : ''}: <b class="nvram-health">${esc(health)}</b>; ${d.recovered ?? 0} sectors recovered; last check ${esc(d.lastCheck ?? '—')}</p></section>`;
}

function leakSection(c: CapabilityReport | undefined): string {
  if (!c) return '';
  const watched = ((c.detail as { watched?: WatchedProcess[] }).watched ?? []).slice(0, 50);
  const cards = watched.length
    ? watched
        .map(
          (w) =>
            `<div class="proc" data-key="${esc(w.key)}"><h3>${esc(w.name)} <small>${esc(w.key)}</small></h3><p>score <b class="score">${w.score.toFixed(1)}</b> / 10, ${esc(w.state)}${w.samples.length ? `, now ${mib(w.samples[w.samples.length - 1][1])}` : ''}</p>${alertLine(w)}${memoryChart(w.samples)}</div>`,
        )
        .join('')
    : '<p>no process watched</p>';
  return `<section id="leak"><h2>Leak detection</h2>${cards}</section>`;
}

function teeSection(c: CapabilityReport | undefined): string {
  if (!c) return '';
  const d = c.detail as { state?: string; backend?: string; restarts?: number; taRestarts?: number; signed?: number; pending?: number; lastRecovery?: { ms: number; level: string; cause: string } | null };
  const last = d.lastRecovery ? `last recovery ${d.lastRecovery.ms} ms at level ${esc(d.lastRecovery.level)} (${esc(d.lastRecovery.cause)})` : 'no recovery yet';
  return `<section id="tee"><h2>TEE</h2><p>${esc(d.backend)}: <b class="tee-state">${esc(d.state)}</b>; ${d.signed ?? 0} signatures, ${d.pending ?? 0} pending; restarts: TEE OS ${d.restarts ?? 0}, TA ${d.taRestarts ?? 0}; ${last}; last step ${esc(c.lastEvent?.event ?? '—')}</p></section>`;
}

/** The status page: plain HTML with inline CSS and SVG; it refreshes itself every 5 s. */
export function renderStatusPage(s: DaemonStatus): string {
  const by = (n: string) => s.capabilities.find((c) => c.name === n);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>salvor on ${esc(hostname())}</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em;color:#24292e}table{border-collapse:collapse}td,th{border:1px solid #d1d5da;padding:3px 8px;text-align:left}
.cap-running .state{color:#22863a}.cap-backoff .state,.cap-unhealthy .state{color:#cb2431}.firing{color:#cb2431}.proc{display:inline-block;margin:0 1em 1em 0;vertical-align:top}h3{margin:.2em 0}</style></head>
<body><h1>salvor</h1>
<p id="summary">${esc(s.summary)} · version ${esc(s.version)} · pid ${s.pid} · up ${s.uptimeS} s · state ${esc(s.stateDir)} · config ${esc(s.config ?? 'embedded default')}</p>
<section id="capabilities"><h2>Capabilities</h2><table><tr><th>capability</th><th>state</th><th>restarts</th><th>last event</th><th>last error</th></tr>${capabilityRows(s.capabilities)}</table></section>
${replicationSection(by('replication'))}
${nvramSection(by('nvram'))}
${leakSection(by('leak'))}
${teeSection(by('tee'))}
<p><a href="/metrics">metrics</a> · <a href="/status.json">status.json</a></p>
</body></html>
`;
}
