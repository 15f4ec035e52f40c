import type { Test } from 'tap';

/** Handles and requests by type, to show a test file left nothing open (timers excluded: tap's own). */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (r !== 'Timeout' && r !== 'Immediate') counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/**
 * Take it at the top of a test file and call check(t) after the file's last test: a final test then
 * asserts every handle type holds no more handles than at the start (closing handles settle within a
 * few turns of the loop, so it looks a few times).
 */
export function handleSnapshot(): { check(t: Test): void } {
  const before = activeResources();
  return {
    check(t: Test): void {
      t.test('leaves no handle open', async (t) => {
        let leaked: string[] = [];
        for (let i = 0; i < 50; i++) {
          leaked = [...activeResources()].filter(([type, n]) => n > (before.get(type) ?? 0)).map(([type, n]) => `${type} x${n - (before.get(type) ?? 0)}`);
          if (!leaked.length) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        t.same(leaked, [], 'no handle left open by this file');
      });
    },
  };
}
