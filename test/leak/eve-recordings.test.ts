import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeTrace } from '../../lib/leak/analyze-trace';
import { parseTraceCsv } from '../../lib/leak/trace-csv';
import { eveRecordingsDir } from '../../tools/leak-eval/eve-recordings';

// LF Edge EVE's golden recordings from a real device (shared/data/leak-eve, beside the project), judged
// by EVE's own criteria: a final score of at least 3 on the leak and at most 2 on the no-leak recording;
// the leak firing at the end, the Go heap's within two hours; the no-leak one never flagged at the end.
// Not asserted because not met (docs/BENCHMARKS.md): the RSS leak within two hours (its troughs are as
// flat as the no-leak RSS's for the first 4 h), and no alert at all on the no-leak RSS (a 2 h rise of
// 2.2 MB/h at 267 min fires one that resolves at 342 min).

const dir = eveRecordingsDir();

function analyze(series: string) {
  const file = join(dir as string, `eve-${series}.csv`);
  return analyzeTrace(parseTraceCsv(readFileSync(file, 'utf8'), file));
}

t.test("EVE's recordings by EVE's criteria", { skip: dir ? false : 'the EVE recordings are not beside the project (shared/data/leak-eve) and $SALVOR_EVE_DIR is unset' }, async (t) => {
  for (const series of ['leak-rss', 'leak-heap']) {
    const a = analyze(series);
    t.equal(a.verdict, 'leak', `${series}: an alert is firing at the end`);
    t.ok(a.score >= 3, `${series}: final score ${a.score} at least 3`);
    t.type(a.detectedAtMs, 'number', `${series}: fired at ${a.detectedAtMs === null ? '-' : Math.round(a.detectedAtMs / 60_000)} min`);
    if (series === 'leak-heap') t.ok((a.detectedAtMs as number) <= 120 * 60_000, 'the Go heap leak fires within 120 min');
  }
  for (const series of ['noleak-rss', 'noleak-heap']) {
    const a = analyze(series);
    t.equal(a.verdict, 'no-leak', `${series}: no alert firing at the end`);
    t.ok(a.score <= 2, `${series}: final score ${a.score} at most 2`);
    t.ok(a.alerts.every((x) => x.resolvedAtMs !== null), `${series}: any alert resolved (${a.alerts.length})`);
    if (series === 'noleak-heap') t.same(a.alerts, [], 'the Go heap is never flagged');
  }
});
