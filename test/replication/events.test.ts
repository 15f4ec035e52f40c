import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeEvent, REPLICATION_EVENTS, transportEvent } from '../../lib/replication/events';
import { checkFileLeavesNoHandles } from '../transport/open-handles';

// The replication event stream: every event the code emits is documented in docs/cli.md and has a
// line of human text; the docs list no event the code does not emit.

checkFileLeavesNoHandles(t);
const root = join(__dirname, '..', '..');

/** Event names in `event: '...'` literals of the sources that feed `salvor replicate`'s stream. */
function emittedEvents(): Set<string> {
  const names = new Set<string>();
  const dirs = ['lib/replication', 'lib/transport', 'platform/linux'];
  for (const dir of dirs)
    for (const file of readdirSync(join(root, dir)).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(root, dir, file), 'utf8');
      for (const m of text.matchAll(/event: (?:[a-zA-Z]+ \? )?'([a-z-]+)'(?: : '([a-z-]+)')?/g)) for (const n of [m[1], m[2]]) if (n) names.add(n);
    }
  return names;
}

function documentedEvents(): Set<string> {
  const md = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');
  const section = md.slice(md.indexOf('## salvor replicate'), md.indexOf('\n## ', md.indexOf('## salvor replicate') + 5));
  const table = section.slice(section.indexOf('| event | from | fields |'));
  return new Set([...table.matchAll(/^\| ((?:`[a-z-]+`(?:, )?)+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([a-z-]+)`/g)].map((x) => x[1]!)));
}

t.test('every emitted event is documented, and every documented one is emitted', async (t) => {
  const emitted = emittedEvents();
  emitted.delete('link-log');
  const documented = documentedEvents();
  t.ok(emitted.size > 20, `found ${emitted.size} events in the sources`);
  t.same([...emitted].filter((e) => !documented.has(e)).sort(), [], 'emitted but not in docs/cli.md');
  t.same([...documented].filter((e) => !emitted.has(e)).sort(), [], 'in docs/cli.md but never emitted');
  t.same([...emitted].filter((e) => !REPLICATION_EVENTS.includes(e)).sort(), [], 'each has its own line of human text');
});

t.test('human text is one line without JSON', async (t) => {
  const e = describeEvent({ event: 'serving', url: 'tcp://127.0.0.1:7400', urls: ['tcp://127.0.0.1:7400'], region: 'r', term: '1', tracker: 'mprotect', ackMode: 'received' });
  t.equal(e, 'serving tcp://127.0.0.1:7400: region r, term 1, tracker mprotect, ack received');
  t.equal(describeEvent({ event: 'unknown-thing', a: 1, b: { c: 2 } }), 'unknown-thing, a 1, b {"c":2}', 'an event without its own text still reads as text');
  t.equal(transportEvent({ event: 'link-up', side: 'server', peer: 'x' }), undefined, "the transport's link-up gives way to replication's, which knows the role");
  t.same(transportEvent({ event: 'auth-refused', side: 'client', peer: 'tcp://h:1', reason: 'r' }), { event: 'auth-refused', side: 'client', peer: 'tcp://h:1', reason: 'r' });
});
