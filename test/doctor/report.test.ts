// The judgement half of doctor, fed with made-up facts: every "no" path gets its reason and code,
// and the backend choices follow the facts.
import t from 'tap';
import { chooseBackends, describeCrcBackend } from '../../lib/doctor/backends';
import { featureCatalogue } from '../../lib/doctor/catalogue';
import { buildDoctorReport } from '../../lib/doctor/doctor';
import { parseKernelConfig, type MachineFacts } from '../../lib/doctor/facts';
import { renderDoctorReport } from '../../lib/doctor/render';
import type { Feature } from '../../lib/doctor/report';

const ok = (syscall: string, path?: string) => (path ? { errno: 0, syscall, path } : { errno: 0, syscall });
const fail = (errno: number, syscall: string, path?: string) => (path ? { errno: -errno, syscall, path } : { errno: -errno, syscall });
const EPERM = 1, ENOENT = 2, EACCES = 13, EINVAL = 22, ENOTTY = 25, ENOSYS = 38;

/** A machine like the development VM: x86-64, Linux 6.18, uffd-wp and PAGEMAP_SCAN, no soft-dirty. */
function goodFacts(): MachineFacts {
  return {
    arch: 'x64',
    kernelRelease: '6.18.0-test',
    addonError: null,
    cpu: { cpuid: true, sse42: true, pclmulqdq: true, osxsave: true, avx512f: true, vpclmulqdq: true, xcr0: 0xe7, hwcap: 0, armCrc32: false, armPmull: false },
    crc32cBackend: 'sse42-3way-pclmul',
    userfaultfd: { open: ok('userfaultfd'), via: 'userfaultfd', api: ok('ioctl(UFFDIO_API)'), features: 0x1ffff, wpAsync: true },
    pagemapScan: {
      step: ok('ioctl(PAGEMAP_SCAN)', '/proc/self/pagemap'),
      regionPages: 4,
      presentPages: 4,
      wp: { step: ok('ioctl(PAGEMAP_SCAN)', '/proc/self/pagemap'), protectedPages: 4, writtenAfterProtect: 0, writtenAfterRewrite: 1 },
    },
    softDirty: { clearRefs: ok('write', '/proc/self/clear_refs'), pagemap: ok('pread', '/proc/self/pagemap'), cleanAfterClear: true, dirtyAfterWrite: false },
    loopControl: { open: ok('open', '/dev/loop-control'), getFree: ok('ioctl(LOOP_CTL_GET_FREE)', '/dev/loop-control'), freeIndex: 3 },
    libcuda: { library: 'libcuda.so.1', loaded: false, error: 'libcuda.so.1: cannot open shared object file', cuInit: false },
    teeDevices: [],
    kfd: null,
    nvmemDevices: [],
    mtdblockDevices: [],
    kernelConfig: { CONFIG_MEM_SOFT_DIRTY: 'n', CONFIG_TEE: 'n' },
  };
}

function find(features: Feature[], id: string): Feature {
  const f = features.find((x) => x.id === id);
  if (!f) throw new Error(`no feature ${id}`);
  return f;
}

function backend(facts: MachineFacts, capability: string) {
  const r = buildDoctorReport(facts);
  const b = r.backends.find((x) => x.capability === capability);
  if (!b) throw new Error(`no backend ${capability}`);
  return b;
}

t.test('a good machine: every catalogue line, in order, with the expected answers', async (t) => {
  const r = buildDoctorReport(goodFacts());
  t.same(
    r.features.map((f) => f.id),
    featureCatalogue.map((f) => f.id),
  );
  for (const f of r.features) t.ok(f.reason.length > 0, `${f.id} has a reason`);
  t.equal(find(r.features, 'uffd-wp-async').present, true);
  t.equal(find(r.features, 'pagemap-scan').present, true);
  const sd = find(r.features, 'soft-dirty');
  t.equal(sd.present, false);
  t.match(sd.reason, /CONFIG_MEM_SOFT_DIRTY is not set/);
  t.equal(find(r.features, 'loop-control').reason.includes('/dev/loop3'), true);
  t.same(
    r.backends.map((b) => [b.capability, b.backend]),
    [
      ['nvram-crc', 'sse42-3way-pclmul'],
      ['nvram-devices', 'file'],
      ['dirty-tracking', 'uffd-wp'],
      ['leak-sampling', 'none'],
      ['daemon-notify', 'none'],
    ],
  );
  t.match(r.backends[0].reason, /^crc32c: the SSE4.2 crc32 instruction, 3 interleaved streams, joined with PCLMULQDQ/);
  t.equal(r.machine.addon.loaded, true);
});

t.test('userfaultfd refused by seccomp, with no /dev/userfaultfd', async (t) => {
  const facts = goodFacts();
  facts.userfaultfd = { open: fail(EPERM, 'userfaultfd'), device: fail(ENOENT, 'open', '/dev/userfaultfd'), via: null, features: 0, wpAsync: false };
  facts.pagemapScan = { ...facts.pagemapScan!, wp: undefined };
  const f = find(buildDoctorReport(facts).features, 'uffd-wp-async');
  t.equal(f.present, false);
  t.equal(f.code, 'EPERM');
  t.match(f.reason, /userfaultfd failed with EPERM: refused by a seccomp filter/);
  t.match(f.reason, /fallback open on \/dev\/userfaultfd failed with ENOENT/);
  const dirty = backend(facts, 'dirty-tracking');
  t.equal(dirty.backend, 'mprotect', 'no uffd-wp, no soft-dirty: write protection by mprotect');
  t.match(dirty.candidates[0].reason, /uffd-wp-async, which is absent/);
  t.match(find(buildDoctorReport(facts).features, 'pagemap-scan').reason, /cycle was not tried/);
});

t.test('userfaultfd through /dev/userfaultfd after the syscall is refused', async (t) => {
  const facts = goodFacts();
  facts.userfaultfd = {
    open: fail(EPERM, 'userfaultfd'),
    device: ok('ioctl(USERFAULTFD_IOC_NEW)', '/dev/userfaultfd'),
    via: '/dev/userfaultfd',
    api: ok('ioctl(UFFDIO_API)'),
    features: 0x1ffff,
    wpAsync: true,
  };
  const f = find(buildDoctorReport(facts).features, 'uffd-wp-async');
  t.equal(f.present, true);
  t.match(f.reason, /\/dev\/userfaultfd opened \(the syscall failed with EPERM\)/);
});

t.test('a kernel without userfaultfd, or without WP_ASYNC', async (t) => {
  const facts = goodFacts();
  facts.kernelConfig = { CONFIG_USERFAULTFD: 'n' };
  facts.userfaultfd = { open: fail(ENOSYS, 'userfaultfd'), device: fail(EACCES, 'open', '/dev/userfaultfd'), via: null, features: 0, wpAsync: false };
  let f = find(buildDoctorReport(facts).features, 'uffd-wp-async');
  t.equal(f.code, 'ENOSYS');
  t.match(f.reason, /CONFIG_USERFAULTFD is not set/);
  t.match(f.reason, /udev rule/);

  facts.userfaultfd = { open: ok('userfaultfd'), via: 'userfaultfd', api: fail(EINVAL, 'ioctl(UFFDIO_API)'), features: 0x1fff, wpAsync: false };
  f = find(buildDoctorReport(facts).features, 'uffd-wp-async');
  t.equal(f.present, false);
  t.equal(f.code, 'EINVAL');
  t.match(f.reason, /\(Linux 6\.7 added it\); it offers features 0x1fff/);
});

t.test('PAGEMAP_SCAN missing (ENOTTY) or giving wrong answers', async (t) => {
  const facts = goodFacts();
  facts.pagemapScan = { step: fail(ENOTTY, 'ioctl(PAGEMAP_SCAN)', '/proc/self/pagemap'), regionPages: 4, presentPages: -1 };
  let f = find(buildDoctorReport(facts).features, 'pagemap-scan');
  t.equal(f.present, false);
  t.equal(f.code, 'ENOTTY');
  t.match(f.reason, /predates PAGEMAP_SCAN/);
  t.equal(backend(facts, 'dirty-tracking').backend, 'mprotect');

  facts.pagemapScan = {
    step: ok('ioctl(PAGEMAP_SCAN)', '/proc/self/pagemap'),
    regionPages: 4,
    presentPages: 4,
    wp: { step: ok('ioctl(PAGEMAP_SCAN)'), protectedPages: 4, writtenAfterProtect: 4, writtenAfterRewrite: 4 },
  };
  f = find(buildDoctorReport(facts).features, 'pagemap-scan');
  t.equal(f.present, true, 'the ioctl itself works');
  t.match(f.reason, /wrong counts/);
  const dirty = backend(facts, 'dirty-tracking');
  t.not(dirty.backend, 'uffd-wp', 'a broken WP cycle rules uffd-wp out');
  t.match(dirty.candidates[0].reason, /cycle did not work/);

  facts.pagemapScan = { step: fail(ENOENT, 'open', '/proc/self/pagemap'), regionPages: 4, presentPages: -1 };
  facts.kernelConfig = { CONFIG_PROC_PAGE_MONITOR: 'n' };
  f = find(buildDoctorReport(facts).features, 'pagemap-scan');
  t.match(f.reason, /CONFIG_PROC_PAGE_MONITOR is not set/);
});

t.test('soft-dirty: rejected clear_refs, a working one, and one that never clears', async (t) => {
  const facts = goodFacts();
  facts.softDirty = { clearRefs: fail(EINVAL, 'write', '/proc/self/clear_refs'), cleanAfterClear: false, dirtyAfterWrite: false };
  let f = find(buildDoctorReport(facts).features, 'soft-dirty');
  t.equal(f.code, 'EINVAL');
  t.match(f.reason, /rejects value 4: it is built without CONFIG_MEM_SOFT_DIRTY/);

  facts.softDirty = { clearRefs: fail(EACCES, 'open', '/proc/self/clear_refs'), cleanAfterClear: false, dirtyAfterWrite: false };
  t.equal(find(buildDoctorReport(facts).features, 'soft-dirty').code, 'EACCES');

  facts.softDirty = { clearRefs: ok('write'), pagemap: ok('pread'), cleanAfterClear: true, dirtyAfterWrite: true };
  facts.userfaultfd = { open: fail(EPERM, 'userfaultfd'), device: fail(ENOENT, 'open'), via: null, features: 0, wpAsync: false };
  f = find(buildDoctorReport(facts).features, 'soft-dirty');
  t.equal(f.present, true);
  t.equal(backend(facts, 'dirty-tracking').backend, 'mprotect', 'auto never picks soft-dirty (no atomic read-and-clear)');
  t.match(backend(facts, 'dirty-tracking').candidates.find((c) => c.backend === 'soft-dirty')!.reason, /only when chosen explicitly/);

  facts.softDirty = { clearRefs: ok('write'), pagemap: ok('pread'), cleanAfterClear: false, dirtyAfterWrite: true };
  t.equal(find(buildDoctorReport(facts).features, 'soft-dirty').present, false);
});

t.test('loop-control missing or not permitted', async (t) => {
  const facts = goodFacts();
  facts.loopControl = { open: fail(ENOENT, 'open', '/dev/loop-control'), freeIndex: -1 };
  let f = find(buildDoctorReport(facts).features, 'loop-control');
  t.equal(f.code, 'ENOENT');
  t.match(f.reason, /modprobe loop/);
  facts.loopControl = { open: fail(EACCES, 'open', '/dev/loop-control'), freeIndex: -1 };
  f = find(buildDoctorReport(facts).features, 'loop-control');
  t.equal(f.code, 'EACCES');
  t.match(f.reason, /root/);
});

t.test('TEE, kfd and CUDA present are reported as features, and name no backend salvor lacks', async (t) => {
  const facts = goodFacts();
  facts.teeDevices = [
    { path: '/dev/tee0', open: ok('open', '/dev/tee0') },
    { path: '/dev/teepriv0', open: fail(EACCES, 'open', '/dev/teepriv0') },
  ];
  facts.kfd = { path: '/dev/kfd', open: ok('open', '/dev/kfd') };
  facts.libcuda = { library: 'libcuda.so.1', loaded: true, error: null, cuInit: true };
  facts.nvmemDevices = ['imx-ocotp0'];
  facts.mtdblockDevices = ['/dev/mtdblock2'];
  const r = buildDoctorReport(facts);
  t.equal(find(r.features, 'tee').present, true);
  t.equal(find(r.features, 'amd-kfd').present, true);
  t.equal(find(r.features, 'libcuda').present, true);
  const choices = Object.fromEntries(r.backends.map((b) => [b.capability, b]));
  t.equal(choices.tee, undefined, 'no TEE backend is built, so there is no tee line');
  t.equal(choices.gpu, undefined, 'no GPU backend is built, so there is no gpu line');
  t.equal(choices['nvram-devices'].backend, 'file,nvmem,mtdblock');
  t.match(choices['nvram-devices'].reason, /imx-ocotp0/);
});

t.test('TEE nodes that do not open, and libcuda without cuInit', async (t) => {
  const facts = goodFacts();
  facts.teeDevices = [{ path: '/dev/tee0', open: fail(EACCES, 'open', '/dev/tee0') }];
  facts.kfd = { path: '/dev/kfd', open: fail(EACCES, 'open', '/dev/kfd') };
  facts.libcuda = { library: 'libcuda.so.1', loaded: true, error: null, cuInit: false };
  const r = buildDoctorReport(facts);
  const tee = find(r.features, 'tee');
  t.equal(tee.present, false);
  t.equal(tee.code, 'EACCES');
  t.match(tee.reason, /tee group/);
  t.match(find(r.features, 'amd-kfd').reason, /render group/);
  t.match(find(r.features, 'libcuda').reason, /no cuInit/);
  t.same(
    r.backends.filter((b) => b.capability === 'tee' || b.capability === 'gpu'),
    [],
    'no simulated TEE or GPU is named: neither exists',
  );
});

t.test('CPU: AVX-512 without OS state, an aarch64 machine, a table CRC on a CRC-capable CPU', async (t) => {
  const facts = goodFacts();
  facts.cpu = { ...facts.cpu!, xcr0: 0x7 };
  let r = buildDoctorReport(facts);
  const avx = find(r.features, 'avx512f');
  t.equal(avx.present, false);
  t.match(avx.reason, /does not save its register state \(XCR0=0x7\)/);
  t.equal(find(r.features, 'vpclmulqdq').present, true, 'YMM state is enough for 256-bit use');

  facts.arch = 'arm64';
  facts.cpu = { cpuid: false, sse42: false, pclmulqdq: false, osxsave: false, avx512f: false, vpclmulqdq: false, xcr0: 0, hwcap: 0x80, armCrc32: true, armPmull: true };
  facts.crc32cBackend = 'table';
  r = buildDoctorReport(facts);
  t.equal(find(r.features, 'arm-crc32').present, true);
  t.equal(find(r.features, 'sse4.2').present, false);
  t.match(find(r.features, 'sse4.2').reason, /this machine is arm64/);
  t.match(r.backends[0].reason, /built without a hardware path/);
});

t.test('the addon did not load: every native line says so, and the report still builds', async (t) => {
  const facts = goodFacts();
  Object.assign(facts, {
    addonError: { code: 'SALVOR_ADDON_LOAD', message: 'cannot load the salvor native addon' },
    cpu: null,
    crc32cBackend: null,
    userfaultfd: null,
    pagemapScan: null,
    softDirty: null,
    loopControl: null,
    libcuda: null,
  });
  const r = buildDoctorReport(facts);
  t.equal(r.machine.addon.loaded, false);
  t.same(r.features.map((f) => f.id), featureCatalogue.map((f) => f.id));
  for (const id of ['sse4.2', 'uffd-wp-async', 'pagemap-scan', 'soft-dirty', 'loop-control', 'libcuda']) {
    const f = find(r.features, id);
    t.equal(f.present, false, id);
    t.equal(f.code, 'SALVOR_ADDON_LOAD', id);
  }
  t.equal(r.backends[0].backend, 'none');
  t.match(renderDoctorReport(r), /addon NOT loaded/);
});

t.test('chooseBackends takes the first usable candidate', async (t) => {
  const facts = goodFacts();
  const features = buildDoctorReport(facts).features.map((f) => (f.group === 'kernel' ? { ...f, present: false } : f));
  const dirty = chooseBackends(facts, features).find((b) => b.capability === 'dirty-tracking')!;
  t.same(
    dirty.candidates.map((c) => [c.backend, c.usable]),
    [
      ['uffd-wp', false],
      ['mprotect', true],
      ['soft-dirty', false],
      ['hash-scan', true],
    ],
  );
  t.equal(dirty.backend, 'mprotect');
});

t.test('CRC implementation names read as words', async (t) => {
  t.equal(describeCrcBackend('table'), 'portable table-driven code, one byte per step');
  t.equal(describeCrcBackend('avx512-vpclmulqdq'), 'VPCLMULQDQ folding, in 512-bit registers');
  t.equal(describeCrcBackend('armv8-crc32-pmull'), 'the ARMv8 CRC32 instructions, joined with PMULL');
  t.equal(describeCrcBackend('zz'), `the addon's "zz" implementation`);
});

t.test('kernel config parsing keeps only the cited options', async (t) => {
  const text = 'CONFIG_USERFAULTFD=y\n# CONFIG_MEM_SOFT_DIRTY is not set\nCONFIG_BLK_DEV_LOOP=m\nCONFIG_OTHER=y\n';
  t.same(parseKernelConfig(text), { CONFIG_USERFAULTFD: 'y', CONFIG_MEM_SOFT_DIRTY: 'n', CONFIG_BLK_DEV_LOOP: 'm' });
});

t.test('the human table has one line per feature and backend', async (t) => {
  const r = buildDoctorReport(goodFacts());
  const text = renderDoctorReport(r);
  for (const f of r.features) t.match(text, new RegExp(`^  ${f.id.replace('.', '\\.')} +${f.present ? 'yes' : 'no'} +\\S`, 'm'), f.id);
  for (const b of r.backends) t.match(text, new RegExp(`^  ${b.capability} +${b.backend} +\\S`, 'm'), b.capability);
  t.match(text, /^CPU$/m);
  t.match(text, /^Kernel$/m);
  t.match(text, /^Drivers$/m);
  t.match(text, /^Backends$/m);
});

t.test('leak sampling and the service manager: what is readable, and the notify socket', async (t) => {
  const facts = { ...goodFacts(), memorySources: { procStatusRssAnon: true, smapsRollup: false, cgroupV2Memory: true }, serviceManager: { notifySocket: '/run/systemd/notify', systemdBooted: true } };
  const backends = chooseBackends(facts, buildDoctorReport(facts).features);
  const leak = backends.find((b) => b.capability === 'leak-sampling')!;
  t.equal(leak.backend, 'proc-status,cgroup-v2');
  t.match(leak.reason, /smaps-rollup: \/proc\/self\/smaps_rollup unreadable/);
  const notify = backends.find((b) => b.capability === 'daemon-notify')!;
  t.equal(notify.backend, 'sd_notify');
  t.match(notify.reason, /NOTIFY_SOCKET=\/run\/systemd\/notify/);
  const bare = chooseBackends({ ...facts, serviceManager: { notifySocket: null, systemdBooted: true } }, buildDoctorReport(facts).features).find((b) => b.capability === 'daemon-notify')!;
  t.match(bare.reason, /install platform\/systemd\/salvor.service/);
});
