import type { DoctorReport, FeatureGroup } from './report';

const groupTitles: Record<FeatureGroup, string> = { cpu: 'CPU', kernel: 'Kernel', driver: 'Drivers' };

function pad(text: string, width: number): string {
  return text.length >= width ? text + ' ' : text.padEnd(width);
}

/** The human table: one line per feature (id, yes/no, reason), then one per backend choice. */
export function renderDoctorReport(report: DoctorReport): string {
  const idWidth = Math.max(...report.features.map((f) => f.id.length), ...report.backends.map((b) => b.capability.length)) + 2;
  const backendWidth = Math.max(...report.backends.map((b) => b.backend.length)) + 2;
  const lines: string[] = [];
  const addon = report.machine.addon.loaded ? 'addon loaded' : `addon NOT loaded: ${report.machine.addon.reason}`;
  lines.push(`salvor doctor: ${report.machine.arch}, Linux ${report.machine.kernel}, ${addon}`);
  for (const group of Object.keys(groupTitles) as FeatureGroup[]) {
    const rows = report.features.filter((f) => f.group === group);
    if (!rows.length) continue;
    lines.push('', groupTitles[group]);
    for (const f of rows) lines.push(`  ${pad(f.id, idWidth)}${pad(f.present ? 'yes' : 'no', 5)}${f.reason}`);
  }
  lines.push('', 'Backends');
  for (const b of report.backends) lines.push(`  ${pad(b.capability, idWidth)}${pad(b.backend, backendWidth)}${b.reason}`);
  return lines.join('\n') + '\n';
}
