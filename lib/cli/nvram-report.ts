import type { CheckReport, RecoverReport, SectorFinding } from '../nvram/store';

function sectors(list: SectorFinding[]): string {
  if (!list.length) return 'none';
  const shown = list.slice(0, 20).map((f) => `${f.sector} (${f.source})`);
  return `${list.length}: ${shown.join(', ')}${list.length > 20 ? ', ...' : ''}`;
}

/** Human summary of check; the JSON form is the report itself. */
export function describeCheck(r: CheckReport): string {
  const lines = [
    `${r.device}: ${r.format === 'salvor' ? 'salvor NVRAM' : 'U-Boot environment'}`,
    `header: ${r.header} (primary ${r.headers.primary}, copy ${r.headers.copy})`,
  ];
  if (r.journal !== undefined) lines.push(`interrupted write: ${r.journal === 'clean' ? 'none' : `pending, will ${r.journal}`}`);
  lines.push(`bad sectors (source recover will use): ${sectors(r.badSectors)}`);
  if (r.geometryFrom) lines.push(`geometry from: ${r.geometryFrom as string}`);
  const store = r.store as { entries: number; damagedEntries: number; damagedKeys?: string[] } | undefined;
  if (store) {
    const named = store.damagedKeys?.length ? ` (${store.damagedKeys.join(', ')})` : '';
    lines.push(`store: ${store.entries} entries${store.damagedEntries ? `, ${store.damagedEntries} damaged${named}` : ''}`);
  }
  lines.push(r.clean ? 'result: clean' : 'result: corruption found; run salvor nvram recover');
  return lines.join('\n');
}

export function describeRecover(r: RecoverReport): string {
  const lines = [`${r.device}: header ${r.header}`, `recovered: ${sectors(r.recovered)}`];
  if (r.journal === 'rolled-forward' || r.journal === 'rolled-back') lines.push(`interrupted write: ${r.journal}`);
  const names = (k: string) => (r[k] as string[] | undefined) ?? [];
  if (names('recoveredKeys').length) lines.push(`keys recovered from surviving copies: ${names('recoveredKeys').join(', ')}`);
  if (names('restoredKeys').length) lines.push(`keys restored from defaults: ${names('restoredKeys').join(', ')}`);
  if (names('lostKeys').length) lines.push(`keys lost: ${names('lostKeys').join(', ')}`);
  if (r.lostUnnamed) lines.push(`damaged entries lost whose names did not survive: ${r.lostUnnamed as number}`);
  if (r.uncorrected.length) lines.push(`left uncorrected: ${sectors(r.uncorrected)}`);
  lines.push(r.clean ? 'result: clean' : 'result: problems remain');
  return lines.join('\n');
}

/** The report for a device that cannot even be laid out again (no header, no recorded geometry). */
export function unrecoverableReport(device: string, reason: string, recover: boolean): CheckReport | RecoverReport {
  const lost: SectorFinding[] = [
    { sector: 0, source: 'none' },
    { sector: 1, source: 'none' },
  ];
  const base: CheckReport = {
    format: 'salvor',
    device,
    header: 'unrecoverable',
    headers: { primary: 'bad', copy: 'bad' },
    badSectors: lost,
    clean: false,
    reason,
  };
  return recover ? { ...base, recovered: [], uncorrected: lost } : base;
}
