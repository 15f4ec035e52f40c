// What `salvor doctor` reports for dirty tracking is what openRegion uses, with no filter and under a
// real seccomp filter refusing userfaultfd (a small C program installs it, then runs node).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { DoctorReport } from '../../lib/doctor/report';

const root = join(__dirname, '..', '..');
const cli = join(root, 'dist', 'tools', 'salvor.js');
const library = join(root, 'dist', 'index.js');
const doctorModule = join(root, 'dist', 'lib', 'doctor', 'doctor.js');
const factsModule = join(root, 'dist', 'lib', 'doctor', 'facts.js');

/** Opens an auto region and a region pinned to uffd-wp through the library; prints what each got. */
const regionScript = `
const { openRegion } = require(${JSON.stringify(library)});
(async () => {
  const out = {};
  const auto = await openRegion({ size: 16 * 4096 });
  out.auto = auto.backend;
  out.autoReason = auto.decisions[0] && auto.decisions[0].reason;
  auto.close();
  // In the same process, after the region: doctor's report reads the one probe the region used.
  const facts = require(${JSON.stringify(factsModule)});
  const first = facts.probeTrackingOnce();
  out.sameProbe = first === facts.probeTrackingOnce();
  out.inProcessDoctor = require(${JSON.stringify(doctorModule)}).runDoctor().backends.find((b) => b.capability === 'dirty-tracking').backend;
  try {
    const pinned = await openRegion({ size: 16 * 4096, backend: 'uffd-wp' });
    pinned.buffer[0] = 1;
    await pinned.collect();
    out.pinned = 'opened';
    pinned.close();
  } catch (e) {
    out.pinned = e.code;
    out.pinnedMessage = e.message;
  }
  process.stdout.write(JSON.stringify(out));
})();
`;

type Filter = 'none' | 'syscall' | 'syscall+device';

let helper: string | undefined;
let helperWhyNot = '';
const dir = mkdtempSync(join(tmpdir(), 'salvor-seccomp-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.before(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npx tsc -p .\` (npm test does it first)`);
  const out = join(dir, 'seccomp-exec');
  const cc = spawnSync('cc', ['-O2', '-Wall', '-o', out, join(__dirname, 'fixtures', 'seccomp-exec.c')], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) helperWhyNot = `cannot build the seccomp helper with cc: ${cc.error?.message ?? cc.stderr}`;
  else helper = out;
});

/** Runs node with args, under the filter (or none); skips the test, saying why, when the filter cannot be installed. */
function node(t: tap.Test, filter: Filter, args: string[]): string | undefined {
  const argv = filter === 'none' ? [process.execPath, ...args] : [helper!, filter, process.execPath, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: root, encoding: 'utf8', timeout: 120_000 });
  if (r.status === 3 && filter !== 'none') {
    t.skip(`this kernel refuses a seccomp filter: ${r.stderr.trim()}`);
    return undefined;
  }
  t.equal(r.status, 0, `node ${args[0]} exits 0 (${r.stderr.trim()})`);
  return r.stdout;
}

interface Observed {
  doctor: DoctorReport;
  auto: string;
  autoReason: string;
  sameProbe: boolean;
  inProcessDoctor: string;
  pinned: string;
  pinnedMessage?: string;
}

function observe(t: tap.Test, filter: Filter): Observed | undefined {
  if (filter !== 'none' && !helper) {
    t.skip(helperWhyNot);
    return undefined;
  }
  const doctorOut = node(t, filter, [cli, 'doctor', '--json']);
  if (doctorOut === undefined) return undefined;
  const regionOut = node(t, filter, ['-e', regionScript]);
  if (regionOut === undefined) return undefined;
  return { doctor: JSON.parse(doctorOut) as DoctorReport, ...(JSON.parse(regionOut) as Omit<Observed, 'doctor'>) };
}

function agrees(t: tap.Test, seen: Observed): string {
  const choice = seen.doctor.backends.find((b) => b.capability === 'dirty-tracking')!;
  t.equal(seen.auto, choice.backend, `openRegion's auto starts where doctor says (${choice.backend}): ${seen.autoReason}`);
  t.equal(seen.inProcessDoctor, seen.auto, 'doctor in the region\'s own process says the same');
  t.equal(seen.sameProbe, true, 'the kernel was probed once in that process');
  if (choice.backend === 'uffd-wp') t.equal(seen.pinned, 'opened', `a pinned uffd-wp opens and tracks: ${seen.pinnedMessage ?? ''}`);
  else {
    t.equal(seen.pinned, 'SALVOR_UNSUPPORTED', 'a pinned uffd-wp is refused, as doctor said');
    t.match(seen.pinnedMessage, /tracker uffd-wp cannot watch/);
  }
  return choice.backend;
}

/** Whether uffd-wp works here without a filter, and /dev/userfaultfd is open to this user. */
function uffdUnfiltered(seen: Observed): { wp: boolean; device: boolean } {
  const wp = seen.doctor.features.find((f) => f.id === 'uffd-wp-async')!.present;
  let device = false;
  try {
    accessSync('/dev/userfaultfd', constants.R_OK | constants.W_OK);
    device = true;
  } catch {
    // no node, or not this user's
  }
  return { wp, device };
}

let unfiltered: Observed | undefined;

t.test('no filter: doctor and openRegion agree', async (t) => {
  unfiltered = observe(t, 'none');
  if (unfiltered) agrees(t, unfiltered);
});

t.test('a seccomp filter refusing userfaultfd(2): both fall back to /dev/userfaultfd alike', async (t) => {
  const seen = observe(t, 'syscall');
  if (!seen) return;
  const chosen = agrees(t, seen);
  const uffd = seen.doctor.features.find((f) => f.id === 'uffd-wp-async')!;
  const here = unfiltered && uffdUnfiltered(unfiltered);
  if (here?.wp && here.device) {
    t.equal(chosen, 'uffd-wp', 'the /dev/userfaultfd fallback keeps uffd-wp');
    t.match(uffd.reason, /\/dev\/userfaultfd opened \(the syscall failed with EPERM\)/);
  } else {
    t.equal(chosen, 'mprotect', `no uffd-wp without the system call here (${uffd.reason})`);
  }
});

t.test('a seccomp filter refusing userfaultfd(2) and USERFAULTFD_IOC_NEW: both use mprotect', async (t) => {
  const seen = observe(t, 'syscall+device');
  if (!seen) return;
  t.equal(agrees(t, seen), 'mprotect');
  const uffd = seen.doctor.features.find((f) => f.id === 'uffd-wp-async')!;
  t.equal(uffd.present, false);
  t.equal(uffd.code, 'EPERM');
  t.match(uffd.reason, /userfaultfd failed with EPERM/);
});
