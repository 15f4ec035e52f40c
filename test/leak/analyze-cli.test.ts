import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SalvorError, badInputCodes } from '../../bindings/salvor-error';
import { parseTraceCsv, formatTraceCsv } from '../../lib/leak/trace-csv';
import { generateTrace } from '../../tools/leak-eval/trace-generators';
import { runCli, tempDir } from './helpers';

const HOUR = 3_600_000;

function traceFile(dir: string, name: string, cls: Parameters<typeof generateTrace>[0], seed: number, hours = 6): string {
  const tr = generateTrace(cls, seed, { durationMs: hours * HOUR });
  const path = join(dir, name);
  writeFileSync(path, formatTraceCsv(Array.from(tr.tMs, (tMs, i) => ({ tMs, bytes: tr.bytes[i] }))));
  return path;
}

function parseError(text: string): SalvorError {
  try {
    parseTraceCsv(text, 'x.csv');
  } catch (e) {
    return e as SalvorError;
  }
  throw new Error('parsed without error');
}

t.test('CSV: header, extra columns, blank lines', async (t) => {
  t.same(parseTraceCsv('t_ms,bytes,comm\n0,100,app\n\n5000,200,app\n'), [
    { tMs: 0, bytes: 100 },
    { tMs: 5000, bytes: 200 },
  ]);
  t.same(parseTraceCsv('0,1\r\n1,2\r\n'), [
    { tMs: 0, bytes: 1 },
    { tMs: 1, bytes: 2 },
  ], 'no header, CRLF');
});

t.test('CSV: every bad line is a bad-input error naming its line', async (t) => {
  const cases: [string, number, RegExp][] = [
    ['t_ms,bytes\n0,100\n5000,abc\n', 3, /'5000,abc'/],
    ['0,100\n5000\n', 2, /one column/],
    ['0,100\n5000,200\n4000,300\n', 3, /back in time/],
    ['t_ms,bytes\n0,-5\n', 2, /not t_ms,bytes/],
    ['0,100\nheader,late\n', 2, /not t_ms,bytes/],
  ];
  for (const [text, line, what] of cases) {
    const e = parseError(text);
    t.ok(badInputCodes.has(e.code), `${JSON.stringify(text)}: code ${e.code} maps to exit 16`);
    t.match(e.message, new RegExp(`line ${line}:`));
    t.match(e.message, what);
  }
  t.match(parseError('t_ms,bytes\n').message, /no samples/);
  t.match(parseError('').message, /no samples/);
});

t.test('salvor leak analyze --json: the contract, a leak and a sawtooth', async (t) => {
  const dir = tempDir(t);
  const leak = runCli(['leak', 'analyze', '--trace', traceFile(dir, 'leak.csv', 'linear', 9), '--json']);
  t.equal(leak.code, 0, leak.stderr);
  const j = JSON.parse(leak.stdout) as Record<string, unknown>;
  t.same(Object.keys(j), ['verdict', 'score', 'detectedAtMs', 'slopeBytesPerHour', 'alerts'], 'exactly the five fields');
  t.equal(j.verdict, 'leak');
  t.type(j.detectedAtMs, 'number');
  t.ok((j.score as number) >= 6 && (j.score as number) <= 10);
  const alerts = j.alerts as { firedAtMs: number; resolvedAtMs: number | null }[];
  t.same(alerts[alerts.length - 1], { firedAtMs: j.detectedAtMs, resolvedAtMs: null }, 'the alert firing at the end is the last one, unresolved');
  const rate = generateTrace('linear', 9, { durationMs: 6 * HOUR }).rateBytesPerHour;
  t.ok(Math.abs((j.slopeBytesPerHour as number) / rate - 1) < 0.2, `slope ${j.slopeBytesPerHour} near the generated ${(rate / 1048576).toFixed(1)} MiB/h`);
  t.equal(leak.stdout.trim().split('\n').length, 1, 'one line on stdout');

  const saw = runCli(['leak', 'analyze', '--trace', traceFile(dir, 'saw.csv', 'sawtooth', 1), '--json']);
  t.equal(saw.code, 0);
  const s = JSON.parse(saw.stdout) as Record<string, unknown>;
  t.equal(s.verdict, 'no-leak');
  t.equal(s.detectedAtMs, null);
  t.same(s.alerts, []);
  t.ok((s.score as number) <= 2, 'a flat trace scores low at its end');

  // A cache that fills for hours then stays full: whatever fired during the fill has resolved by the end.
  const fill = runCli(['leak', 'analyze', '--trace', traceFile(dir, 'fill.csv', 'cache-fill', 3, 10), '--json']);
  const f = JSON.parse(fill.stdout) as { verdict: string; detectedAtMs: null; alerts: { firedAtMs: number; resolvedAtMs: number | null }[] };
  t.equal(f.verdict, 'no-leak');
  t.equal(f.detectedAtMs, null);
  t.ok(f.alerts.every((a) => typeof a.resolvedAtMs === 'number' && a.resolvedAtMs > a.firedAtMs), 'every alert resolved, after it fired');

  const human = runCli(['leak', 'analyze', '--trace', join(dir, 'saw.csv')]);
  t.match(human.stdout, /^no-leak: score/);
});

t.test('salvor leak analyze --svg writes a well-formed chart with trend and marker', async (t) => {
  const dir = tempDir(t);
  const svg = join(dir, 'chart.svg');
  const r = runCli(['leak', 'analyze', '--trace', traceFile(dir, 'leak.csv', 'sawtooth-leak', 9), '--svg', svg, '--json']);
  t.equal(r.code, 0, r.stderr);
  const text = readFileSync(svg, 'utf8');
  t.match(text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.match(text, /<\/svg>\n$/);
  t.match(text, /class="memory"/);
  t.match(text, /class="trend"/);
  t.match(text, /class="detection"/);
  // Well-formed: every element either self-closes or is closed, in order.
  const stack: string[] = [];
  for (const m of text.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
    if (m[1]) t.equal(stack.pop(), m[2], `closing </${m[2]}>`);
    else if (!m[3]) stack.push(m[2]);
  }
  t.same(stack, [], 'every element closed');
  t.notMatch(text, /NaN|undefined|Infinity/);
});

t.test('salvor leak analyze: bad input exits 16 with one line and writes nothing', async (t) => {
  const dir = tempDir(t);
  const bad = join(dir, 'bad.csv');
  writeFileSync(bad, 't_ms,bytes\n0,100\n5000,abc\n');
  const svg = join(dir, 'never.svg');
  const r = runCli(['leak', 'analyze', '--trace', bad, '--json', '--svg', svg]);
  t.equal(r.code, 16);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line on stderr');
  t.match(r.stderr, /line 3/);
  t.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'SALVOR_BAD_INPUT');
  t.notOk(existsSync(svg), 'no chart written');
  const missing = runCli(['leak', 'analyze', '--trace', join(dir, 'nope.csv')]);
  t.equal(missing.code, 16);
  t.match(missing.stderr, /nope\.csv/);
  t.equal(runCli(['leak', 'analyze']).code, 16, 'no --trace');
  t.equal(runCli(['leak', 'analyze', '--trace', bad, '--bogus']).code, 16);
});
