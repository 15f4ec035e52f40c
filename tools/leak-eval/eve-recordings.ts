/**
 * Where LF Edge EVE's golden leak and no-leak recordings are kept: beside the project, in
 * shared/data/leak-eve (from the project's root: ../shared or ../../shared), or in $SALVOR_EVE_DIR.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const eveSeries = ['leak-rss', 'leak-heap', 'noleak-rss', 'noleak-heap'] as const;

/** The folder holding eve-leak-rss.csv and the three others, or undefined when none is found. */
export function eveRecordingsDir(root = resolve(__dirname, '..', '..', existsSync(resolve(__dirname, '..', '..', 'package.json')) ? '' : '..')): string | undefined {
  const candidates = [process.env.SALVOR_EVE_DIR, join(root, '..', 'shared', 'data', 'leak-eve'), join(root, '..', '..', 'shared', 'data', 'leak-eve')];
  return candidates.find((d): d is string => !!d && eveSeries.every((s) => existsSync(join(d, `eve-${s}.csv`))));
}
