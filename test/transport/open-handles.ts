import type { Test } from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';

/** Handles and requests by type (timers aside: tap keeps its own), to show a test left nothing open. */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (r !== 'Timeout' && r !== 'Immediate') counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/**
 * Asserts that every handle opened since `before` was closed. Closing is asynchronous (a socket's
 * close event, a child's exit), so the check looks again for up to a second before it fails.
 */
export async function expectNoLeakedHandles(t: Test, before: Map<string, number>): Promise<void> {
  let leaked: string[] = [];
  for (let i = 0; i < 50; i++) {
    const after = activeResources();
    leaked = [...after].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k, n]) => `${k} x${n - (before.get(k) ?? 0)}`);
    if (leaked.length === 0) break;
    await sleep(20);
  }
  t.same(leaked, [], 'no handle left open');
}

/**
 * For a whole test file: call at the top, before anything opens; adds a last subtest that checks
 * every handle the file's tests opened was closed by their teardowns.
 */
export function checkFileLeavesNoHandles(t: Test): void {
  const before = activeResources();
  // Subtests run in order, so this one (registered once the file's own are) runs after them all.
  setImmediate(() => t.test('the file leaves no handle open', (tt) => expectNoLeakedHandles(tt, before)));
}
