import type { Command } from 'commander';
import { backendCatalogue, featureCatalogue } from '../doctor/catalogue';
import { runDoctor } from '../doctor/doctor';
import { renderDoctorReport } from '../doctor/render';
import { verb } from './command';
import { Exit } from './exit-codes';
import type { CliPlatform } from './platform';

function helpText(): string {
  const width = Math.max(...featureCatalogue.map((f) => f.id.length), ...backendCatalogue.map((b) => b.capability.length)) + 2;
  const lines = ['', 'Each feature line reads: id, yes/no, and why (what was tried and what to change for a "no").', ''];
  for (const f of featureCatalogue) lines.push(`  ${f.id.padEnd(width)}${f.group.padEnd(8)}${f.meaning}`);
  lines.push('', 'Each backend line reads: capability, the backend salvor would use, and why.', '');
  for (const b of backendCatalogue) lines.push(`  ${b.capability.padEnd(width)}${b.meaning}`);
  lines.push(
    '',
    'The report is informational: exit 0 whatever is missing (8 only if doctor itself fails).',
    'With --json: {"version","machine","features":[{id,group,present,reason,code?}],"backends":[{capability,backend,reason,candidates}]}.',
    'How to fix each "no": docs/doctor.md.',
  );
  return lines.join('\n');
}

/** `salvor doctor [--json]`: what this machine offers and which backend each capability would use. */
export function registerDoctor(program: Command, _platform: CliPlatform): void {
  const cmd = program
    .command('doctor')
    .description('list the CPU, kernel and driver features salvor can use here, and the backend each capability would pick')
    .addHelpText('after', helpText());
  verb(cmd, async (_opts, out) => {
    const report = runDoctor();
    out.result(report, () => renderDoctorReport(report));
    return Exit.ok;
  });
}
