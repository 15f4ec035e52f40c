import t from 'tap';
import { decide, SWITCH_MARGIN, type RoundFigures } from '../../lib/replication/tracker-policy';
import { mergeRuns } from '../../lib/replication/dirty-tracker';

const GiB = 1 << 30;
const base: RoundFigures = {
  regionBytes: GiB,
  dirtyPages: 0,
  faultKind: 'uffd-wp',
  writeFaultNs: 500,
  faultScanNsPerByte: 0.001,
  faultScanNsPerPage: 100,
  hashNsPerByte: 0.05, // 20 GB/s: 54 ms for 1 GiB
  current: 'uffd-wp',
};

t.test('few pages written: the fault tracker stays', async (t) => {
  const d = decide({ ...base, dirtyPages: 2621 }); // 1 %
  t.equal(d.kind, 'uffd-wp');
  t.match(d.reason, /stays/);
  t.ok(d.predictedNs.fault! < d.predictedNs.hash!);
});

t.test('half the pages written: hash wins, and the reason carries the figures', async (t) => {
  const d = decide({ ...base, dirtyPages: 131072 });
  t.equal(d.kind, 'hash');
  t.match(d.reason, /131072 pages written x 500 ns/);
});

t.test('the margin prevents flapping near break-even, both ways', async (t) => {
  const hashNs = GiB * 0.05;
  const breakEven = Math.floor((hashNs - GiB * 0.001) / 600);
  t.equal(decide({ ...base, dirtyPages: breakEven + 10 }).kind, 'uffd-wp', 'slightly worse: stays on uffd-wp');
  t.equal(decide({ ...base, dirtyPages: breakEven - 10, current: 'hash' }).kind, 'hash', 'slightly better: stays on hash');
  const clearly = Math.floor(breakEven * (1 - SWITCH_MARGIN) * 0.9);
  t.equal(decide({ ...base, dirtyPages: clearly, current: 'hash' }).kind, 'uffd-wp', 'clearly better: back to uffd-wp');
});

t.test('no fault tracker, or no fault cost: hash', async (t) => {
  t.equal(decide({ ...base, faultKind: undefined }).kind, 'hash');
  t.equal(decide({ ...base, writeFaultNs: undefined }).kind, 'hash');
});

t.test('mergeRuns coalesces and sorts', async (t) => {
  t.same(mergeRuns([{ first: 5, count: 2 }], [{ first: 0, count: 1 }, { first: 6, count: 3 }], [{ first: 1, count: 1 }]), [
    { first: 0, count: 2 },
    { first: 5, count: 4 },
  ]);
  t.same(mergeRuns([]), []);
});
