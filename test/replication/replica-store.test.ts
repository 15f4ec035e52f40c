import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPages } from '../../bindings/hash-scan';
import { encodePageDeltas } from '../../bindings/page-delta';
import { ReplicaStore, regionDigest } from '../../lib/replication/replica-store';

// The replica store on its own: a join's pages go straight into the file, a whole state's epochs are
// staged and journaled, a refused digest or an aborted epoch leaves the committed replica as it was.

const PAGE = 4096;
const PAGES = 64;
const dir = mkdtempSync(join(tmpdir(), 'salvor-replica-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function digestOf(bytes: Buffer): string {
  const hashes = Buffer.alloc((bytes.length / PAGE) * 8);
  hashPages(bytes, PAGE, hashes);
  return regionDigest(hashes);
}

function pattern(seed: number): Buffer {
  const b = Buffer.alloc(PAGES * PAGE);
  for (let i = 0; i < b.length; i += 61) b[i] = (i * seed) & 0xff;
  return b;
}

const epoch = (n: number, digest: string | undefined, synced: boolean) => ({ epoch: n, term: '1', primary: 'p', digest, synced, persist: false });

t.test('a join writes pages straight in; epochs after it are staged and journaled', async (t) => {
  const path = join(dir, 'a.bin');
  const store = await ReplicaStore.open(path);
  await store.prepare(PAGES * PAGE, PAGE);
  const zeroHashes = Buffer.alloc(PAGES * 8);
  hashPages(Buffer.alloc(PAGES * PAGE), PAGE, zeroHashes);
  t.ok(store.pageHashes().equals(zeroHashes), 'a fresh replica is fingerprinted as zeros');

  const state = pattern(3);
  // The join: two messages, the second repeating a page of the first with newer bytes (same epoch).
  await store.applyRaw([{ first: 0, count: 40 }], state.subarray(0, 40 * PAGE));
  const newer = Buffer.from(state.subarray(5 * PAGE, 6 * PAGE)).fill(9, 0, 100);
  newer.copy(state, 5 * PAGE);
  await store.applyRaw([{ first: 5, count: 1 }, { first: 40, count: 24 }], Buffer.concat([newer, state.subarray(40 * PAGE)]));
  await store.commitEpoch(epoch(1, digestOf(state), true));
  t.ok(readFileSync(path).equals(state), 'the replica file holds the joined state, the later copy of a repeated page last');
  t.equal(store.meta?.synced, true);

  // A whole state: a delta epoch is staged, journaled and written at commit.
  const next = Buffer.from(state);
  next.fill(0xab, 7 * PAGE, 7 * PAGE + 300);
  next.fill(0xcd, 30 * PAGE + 10, 31 * PAGE);
  const runs = [{ first: 7, count: 1 }, { first: 30, count: 1 }];
  const before = Buffer.concat([state.subarray(7 * PAGE, 8 * PAGE), state.subarray(30 * PAGE, 31 * PAGE)]);
  const after = Buffer.concat([next.subarray(7 * PAGE, 8 * PAGE), next.subarray(30 * PAGE, 31 * PAGE)]);
  await store.applyPages(runs, encodePageDeltas(before, after, PAGE));
  t.ok(readFileSync(path).equals(state), 'staged pages do not reach the file before the commit');
  await store.commitEpoch(epoch(2, digestOf(next), true));
  t.ok(readFileSync(path).equals(next), 'the committed epoch is in the file');
  t.notOk(existsSync(`${path}.journal`), 'the journal is gone after the commit');

  // A digest that does not match: refused, the file and fingerprints stay at epoch 2.
  const hashesAtTwo = Buffer.from(store.pageHashes());
  await store.applyRaw([{ first: 1, count: 1 }], Buffer.alloc(PAGE, 1));
  await t.rejects(store.commitEpoch(epoch(3, '0000000000000000', true)), { code: 'SALVOR_DIVERGED' });
  t.ok(readFileSync(path).equals(next), 'a refused epoch leaves the file as it was');
  t.ok(store.pageHashes().equals(hashesAtTwo), 'and the fingerprints');
  t.equal(store.meta?.epoch, 2);

  // An aborted epoch is forgotten.
  await store.applyRaw([{ first: 2, count: 1 }], Buffer.alloc(PAGE, 2));
  await store.abortEpoch();
  await store.commitEpoch(epoch(3, digestOf(next), true));
  t.ok(readFileSync(path).equals(next), 'an aborted epoch never reaches the file');
  await t.rejects(store.applyRaw([{ first: 63, count: 2 }], Buffer.alloc(2 * PAGE)), { code: 'SALVOR_BAD_FRAME' }, 'pages past the region are refused');
  await t.rejects(store.applyRaw([{ first: 0, count: 2 }], Buffer.alloc(PAGE)), { code: 'SALVOR_BAD_FRAME' }, 'a short message is refused');
  await store.close();

  // Reopened: fingerprints read back from the file.
  const again = await ReplicaStore.open(path);
  await again.prepare(PAGES * PAGE, PAGE);
  t.equal(regionDigest(again.pageHashes()), digestOf(next), 'a reopened replica fingerprints what its file holds');
  await again.close();
});

t.test('a complete journal left by a crash is replayed at open; a torn one is discarded', async (t) => {
  const path = join(dir, 'b.bin');
  const store = await ReplicaStore.open(path);
  await store.prepare(PAGES * PAGE, PAGE);
  const state = pattern(5);
  await store.applyRaw([{ first: 0, count: PAGES }], state);
  await store.commitEpoch(epoch(1, digestOf(state), true));
  const next = Buffer.from(state).fill(0x77, 9 * PAGE, 10 * PAGE);
  await store.applyRaw([{ first: 9, count: 1 }], next.subarray(9 * PAGE, 10 * PAGE));
  await store.commitEpoch(epoch(2, digestOf(next), true));
  await store.close();
  t.ok(readFileSync(path).equals(next));

  // Build the journal a crash would leave: epoch 3 changes page 11; the replica file still has epoch 2.
  const s2 = await ReplicaStore.open(path);
  await s2.prepare(PAGES * PAGE, PAGE);
  const third = Buffer.from(next).fill(0x33, 11 * PAGE, 12 * PAGE);
  await s2.applyRaw([{ first: 11, count: 1 }], third.subarray(11 * PAGE, 12 * PAGE));
  const journal = (s2 as unknown as { journalFor(e: number, r: unknown, p: number, m: Buffer): Buffer }).journalFor(
    3,
    [{ first: 11, count: 1 }],
    PAGE,
    Buffer.from(JSON.stringify({ epoch: 3, term: '1', primary: 'p', regionSize: PAGES * PAGE, pageSize: PAGE, digest: digestOf(third), synced: true })),
  );
  await s2.abortEpoch();
  await s2.close();
  writeFileSync(`${path}.journal`, journal.subarray(0, journal.length - 1));
  const torn = await ReplicaStore.open(path);
  t.equal(torn.meta?.epoch, 2, 'a torn journal is discarded');
  t.ok(readFileSync(path).equals(next));
  await torn.close();
  writeFileSync(`${path}.journal`, journal);
  const replayed = await ReplicaStore.open(path);
  t.equal(replayed.meta?.epoch, 3, 'a complete journal is replayed');
  t.ok(readFileSync(path).equals(third));
  t.notOk(existsSync(`${path}.journal`));
  await replayed.close();
});
