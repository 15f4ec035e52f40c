import { existsSync, readdirSync } from 'node:fs';
import t from 'tap';
import {
  probeCpu,
  probeLibcuda,
  probeLoopControl,
  probePagemapScan,
  probeSoftDirty,
  probeUserfaultfd,
  type ProbeStep,
} from '../../bindings/probe';
import { SOFT_DIRTY_ABSENT } from '../../bindings/region';
import { openRegion } from '../../index';
import { runDoctor } from '../../lib/doctor/doctor';
import type { Feature } from '../../lib/doctor/report';
import {
  clearRefsSoftDirtyError,
  freshProcessShowsSoftDirty,
  kernelAtLeast,
  kernelOption,
  underSeccompFilter,
} from './kernel-evidence';

function isStep(t: tap.Test, step: ProbeStep | undefined, name: string): void {
  t.ok(step, `${name} is there`);
  if (!step) return;
  t.type(step.errno, 'number', `${name}.errno is a number`);
  t.ok(step.errno <= 0, `${name}.errno is 0 or negative`);
  t.type(step.syscall, 'string', `${name}.syscall is a string`);
  t.ok(step.syscall.length > 0, `${name}.syscall is named`);
}

function feature(id: string): Feature {
  const f = runDoctor().features.find((x) => x.id === id);
  if (!f) throw new Error(`no feature ${id}`);
  return f;
}

t.test('probeCpu returns booleans and numbers', async (t) => {
  const cpu = probeCpu();
  for (const k of ['cpuid', 'sse42', 'pclmulqdq', 'osxsave', 'avx512f', 'vpclmulqdq', 'armCrc32', 'armPmull'] as const)
    t.type(cpu[k], 'boolean', k);
  t.type(cpu.xcr0, 'number');
  t.type(cpu.hwcap, 'number');
  if (process.arch === 'x64') {
    t.equal(cpu.cpuid, true, 'cpuid answers on x86-64');
    t.equal(cpu.armCrc32, false);
  }
});

t.test('probeUserfaultfd returns steps, the path taken and the features', async (t) => {
  const uffd = probeUserfaultfd();
  isStep(t, uffd.open, 'open');
  t.ok(uffd.via === null || uffd.via === 'userfaultfd' || uffd.via === '/dev/userfaultfd');
  if (uffd.open.errno !== 0) isStep(t, uffd.device, 'device');
  else t.equal(uffd.device, undefined, 'no fallback when the syscall worked');
  if (uffd.via !== null) isStep(t, uffd.api, 'api');
  t.type(uffd.features, 'number');
  t.type(uffd.wpAsync, 'boolean');
});

t.test('probePagemapScan returns the scan outcome, with the WP cycle only when asked', async (t) => {
  const plain = probePagemapScan(false);
  isStep(t, plain.step, 'step');
  t.equal(plain.regionPages, 4);
  t.type(plain.presentPages, 'number');
  t.equal(plain.wp, undefined);
  if (!probeUserfaultfd().wpAsync) return;
  const wp = probePagemapScan(true);
  t.ok(wp.wp, 'the WP cycle ran');
  isStep(t, wp.wp?.step, 'wp.step');
  for (const k of ['protectedPages', 'writtenAfterProtect', 'writtenAfterRewrite'] as const) t.type(wp.wp?.[k], 'number', k);
});

t.test('probeSoftDirty, probeLoopControl and probeLibcuda return their shapes', async (t) => {
  const sd = probeSoftDirty();
  isStep(t, sd.clearRefs, 'clearRefs');
  if (sd.clearRefs.errno === 0) isStep(t, sd.pagemap, 'pagemap');
  t.type(sd.cleanAfterClear, 'boolean');
  t.type(sd.dirtyAfterWrite, 'boolean');

  const loop = probeLoopControl();
  isStep(t, loop.open, 'loop open');
  t.type(loop.freeIndex, 'number');
  if (loop.open.errno === 0) isStep(t, loop.getFree, 'getFree');

  const cuda = probeLibcuda();
  t.equal(cuda.library, 'libcuda.so.1');
  t.type(cuda.loaded, 'boolean');
  t.type(cuda.cuInit, 'boolean');
  t.ok(cuda.loaded || typeof cuda.error === 'string', 'a failed dlopen says why');
});

t.test('the probes leave no descriptor open', async (t) => {
  const count = () => readdirSync('/proc/self/fd').length;
  runDoctor();
  const before = count();
  for (let i = 0; i < 3; i++) runDoctor();
  t.equal(count(), before);
});

t.test('uffd-wp-async matches what the kernel offers', async (t) => {
  if (underSeccompFilter()) return t.skip('a seccomp filter is active: it may refuse userfaultfd, so there is no expectation');
  const built = kernelOption('CONFIG_USERFAULTFD');
  const markers = kernelOption('CONFIG_PTE_MARKER_UFFD_WP');
  if (built === undefined || markers === undefined) return t.skip('/proc/config.gz is unreadable: cannot tell what to expect');
  const f = feature('uffd-wp-async');
  if (kernelAtLeast(6, 7) && built === 'y' && markers === 'y') {
    t.equal(f.present, true, f.reason);
    t.match(f.reason, /UFFD_FEATURE_WP_ASYNC/);
  } else {
    t.equal(f.present, false, f.reason);
    t.ok(f.reason.length > 0);
  }
});

t.test('pagemap-scan matches what the kernel offers', async (t) => {
  const monitor = kernelOption('CONFIG_PROC_PAGE_MONITOR');
  if (monitor === undefined) return t.skip('/proc/config.gz is unreadable: cannot tell what to expect');
  const f = feature('pagemap-scan');
  if (kernelAtLeast(6, 7) && monitor === 'y') {
    t.equal(f.present, true, f.reason);
    if (feature('uffd-wp-async').present) t.match(f.reason, /PM_SCAN_WP_MATCHING re-protected/);
  } else {
    t.equal(f.present, false, f.reason);
  }
});

t.test('soft-dirty matches what the kernel offers', async (t) => {
  const clearError = clearRefsSoftDirtyError();
  const fresh = freshProcessShowsSoftDirty();
  const option = kernelOption('CONFIG_MEM_SOFT_DIRTY');
  const absent = clearError === 'EINVAL' || fresh === false || option === 'n';
  const present = clearError === null && fresh === true && option !== 'n';
  const f = feature('soft-dirty');
  if (absent) {
    t.equal(f.present, false, f.reason);
    t.match(f.reason, /CONFIG_MEM_SOFT_DIRTY/);
  } else if (present) {
    t.equal(f.present, true, f.reason);
  } else {
    t.skip(`no kernel evidence either way (clear_refs: ${clearError}, fresh smaps sd: ${fresh}, config: ${option})`);
  }
});

t.test('a refused soft-dirty tracker gives the reason doctor gives', async (t) => {
  const f = feature('soft-dirty');
  let message = '';
  try {
    const region = await openRegion({ size: 4 * 4096, backend: 'soft-dirty' });
    await region.close();
  } catch (e) {
    message = (e as Error).message;
  }
  if (f.present) {
    t.equal(message, '', 'doctor found soft-dirty, and the tracker opens');
    return;
  }
  if (!f.reason.startsWith(SOFT_DIRTY_ABSENT)) {
    t.skip(`soft-dirty is missing here for another reason than an unset bit: ${f.reason}`);
    return;
  }
  t.match(message, SOFT_DIRTY_ABSENT, 'one explanation: the tracker says what doctor says');
});

t.test('loop-control, tee and amd-kfd match the device nodes', async (t) => {
  const loop = feature('loop-control');
  if (!existsSync('/dev/loop-control')) {
    t.equal(loop.present, false);
    t.equal(loop.code, 'ENOENT');
  } else if (process.getuid?.() === 0) {
    t.equal(loop.present, true, loop.reason);
    t.match(loop.reason, /\/dev\/loop\d+/);
  }
  const teeNodes = readdirSync('/dev').filter((n) => /^tee\d+$/.test(n));
  if (teeNodes.length === 0) t.equal(feature('tee').present, false);
  if (!existsSync('/dev/kfd')) t.equal(feature('amd-kfd').present, false);
});
