// Loaded into every tap test process (package.json "tap"."node-arg": --require): when a file's tests
// and teardowns have run, the file fails if it left a handle or request open that was not open when
// the process started (a server, a socket, a child process, a file watcher, a timer). It is the
// first teardown registered, and tap runs teardowns last-in first-out, so it runs after the file's own.
'use strict';
const t = require('tap');

/** Resource types by count; stdio pipes the process started with are in the baseline. */
function resources() {
  const counts = new Map();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

const baseline = resources();

function leaked() {
  const out = [];
  for (const [type, n] of resources()) if (n > (baseline.get(type) ?? 0)) out.push(`${type} x${n - (baseline.get(type) ?? 0)}`);
  return out;
}

/** What the leaked handles are, where node can tell (a listening address, a peer, a pid). */
function details() {
  const handles = typeof process._getActiveHandles === 'function' ? process._getActiveHandles() : [];
  const out = [];
  for (const h of handles) {
    if (h === process.stdout || h === process.stderr || h === process.stdin) continue;
    const name = h?.constructor?.name ?? typeof h;
    let where = '';
    try {
      if (typeof h.address === 'function' && h.address()) where = JSON.stringify(h.address());
      else if (h.remoteAddress) where = `${h.remoteAddress}:${h.remotePort}`;
      else if (typeof h.pid === 'number') where = `pid ${h.pid}`;
    } catch {
      // a half-closed handle may refuse address()
    }
    out.push(where ? `${name} ${where}` : name);
  }
  return out;
}

let failed = false;

t.teardown(async () => {
  // A close that was requested finishes on a later turn of the loop (a socket's 'close', a child's
  // exit): let those land, then report whatever is still open.
  let left = leaked();
  for (let i = 0; left.length && i < 100; i++) {
    await new Promise((r) => setTimeout(r, 20));
    left = leaked();
  }
  if (!left.length) return;
  failed = true;
  // The plan is written before teardowns run, so this cannot be a test point: tap reports an error
  // thrown here as "error thrown in teardown", with this message, and the file fails.
  const what = details();
  if (left.some((l) => l.startsWith('Timeout'))) what.push('Timeout: a setTimeout or setInterval still pending');
  throw new Error(`the test file left handles open: ${left.join(', ')} (${what.join('; ')})`);
});

// A leaked handle keeps the process alive; once tap has written the file's results, end it instead
// of waiting for the runner's timeout.
t.on('complete', () => {
  if (failed) setImmediate(() => process.exit(1));
});
