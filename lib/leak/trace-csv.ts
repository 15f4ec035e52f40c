/**
 * The recorded-trace format of `salvor leak analyze`: CSV, one sample a line, `t_ms,bytes`. A first
 * line none of whose first two columns starts like a number is a header (`0,-100` is a bad sample); columns after the second are ignored; blank lines are
 * skipped. Times must not go backwards. Any other line is bad input naming its line number.
 */
import { SalvorError } from '../../bindings/salvor-error';

export interface TraceSample {
  tMs: number;
  bytes: number;
}

const NUMBER = /^\s*[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/;

function bad(source: string, line: number, what: string): SalvorError {
  return new SalvorError('SALVOR_BAD_INPUT', `${source}: line ${line}: ${what}`, { path: source });
}

/** Parses trace text; `source` names the input in errors (the file path). */
export function parseTraceCsv(text: string, source = 'trace'): TraceSample[] {
  const lines = text.split(/\r?\n/);
  const out: TraceSample[] = [];
  let seenData = false;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i];
    if (line.trim() === '') continue;
    const cols = line.split(',');
    const numeric = cols.length >= 2 && NUMBER.test(cols[0]) && NUMBER.test(cols[1]);
    if (!seenData && i === firstNonBlank(lines) && isHeader(cols)) continue;
    if (cols.length < 2) throw bad(source, lineNo, `expected t_ms,bytes, got one column '${line.slice(0, 40)}'`);
    const [t, b] = cols;
    if (!numeric) throw bad(source, lineNo, `'${line.slice(0, 60)}' is not t_ms,bytes (two non-negative numbers)`);
    const sample = { tMs: Number(t), bytes: Number(b) };
    if (!Number.isFinite(sample.tMs) || !Number.isFinite(sample.bytes)) throw bad(source, lineNo, 'a number is out of range');
    if (seenData && sample.tMs < out[out.length - 1].tMs) throw bad(source, lineNo, `t_ms ${sample.tMs} goes back in time (previous ${out[out.length - 1].tMs})`);
    out.push(sample);
    seenData = true;
  }
  if (out.length === 0) throw new SalvorError('SALVOR_BAD_INPUT', `${source}: no samples (expected lines of t_ms,bytes)`, { path: source });
  return out;
}

/** A header names its columns: neither of the first two looks like a number (sign, digit or point first). */
function isHeader(cols: string[]): boolean {
  return !cols.slice(0, 2).some((c) => /^\s*[+-]?\.?\d/.test(c));
}

function firstNonBlank(lines: string[]): number {
  return lines.findIndex((l) => l.trim() !== '');
}

/** Writes samples as trace CSV with a header. */
export function formatTraceCsv(samples: Iterable<TraceSample>): string {
  const parts = ['t_ms,bytes'];
  for (const s of samples) parts.push(`${Math.round(s.tMs)},${Math.round(s.bytes)}`);
  return parts.join('\n') + '\n';
}
