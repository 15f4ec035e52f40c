import { addon, callNative } from './addon';

/**
 * One system call's outcome inside a probe: errno is 0 on success, else the negative errno, with
 * the syscall (and path) that said no, the same fields a thrown native error carries.
 */
export interface ProbeStep {
  errno: number;
  syscall: string;
  path?: string;
}

/** Raw CPU facts: cpuid bits and XCR0 on x86, AT_HWCAP on aarch64 (zero/false elsewhere). */
export interface CpuFacts {
  cpuid: boolean;
  sse42: boolean;
  pclmulqdq: boolean;
  /** cpuid says the OS enabled XSAVE, so XCR0 could be read. */
  osxsave: boolean;
  avx512f: boolean;
  vpclmulqdq: boolean;
  /** Which register states the OS saves on a context switch (0 when not readable). */
  xcr0: number;
  hwcap: number;
  armCrc32: boolean;
  armPmull: boolean;
}

/** userfaultfd(UFFD_USER_MODE_ONLY) then, if refused, /dev/userfaultfd; a handshake asking for WP_ASYNC. */
export interface UserfaultfdFacts {
  /** The userfaultfd(2) system call. */
  open: ProbeStep;
  /** The /dev/userfaultfd fallback, tried only when the system call failed. */
  device?: ProbeStep;
  via: 'userfaultfd' | '/dev/userfaultfd' | null;
  /** UFFDIO_API asking for UFFD_FEATURE_WP_ASYNC; absent when no descriptor was opened. */
  api?: ProbeStep;
  /** Every feature bit the kernel offers (0 when unknown). */
  features: number;
  wpAsync: boolean;
}

/** PAGEMAP_SCAN over a few scratch pages, all written: a plain scan, then optionally a write-protect cycle. */
export interface PagemapScanFacts {
  /** The failing step, or the last successful one. */
  step: ProbeStep;
  regionPages: number;
  /** Pages the plain scan reported present; -1 when the scan failed. */
  presentPages: number;
  /** The PM_SCAN_WP_MATCHING cycle over an async-uffd registration (only when asked for). */
  wp?: {
    step: ProbeStep;
    /** Pages reported written and protected by the first scan (expect all). */
    protectedPages: number;
    /** Pages written since then, right after (expect 0). */
    writtenAfterProtect: number;
    /** After writing one page (expect 1). */
    writtenAfterRewrite: number;
  };
}

/** Writes 4 to /proc/self/clear_refs, then reads pagemap bit 55 of a fresh page before and after a write. */
export interface SoftDirtyFacts {
  clearRefs: ProbeStep;
  /** The pagemap reads; absent when clear_refs failed. */
  pagemap?: ProbeStep;
  cleanAfterClear: boolean;
  dirtyAfterWrite: boolean;
}

export interface LoopControlFacts {
  open: ProbeStep;
  /** LOOP_CTL_GET_FREE; absent when /dev/loop-control did not open. */
  getFree?: ProbeStep;
  freeIndex: number;
}

export interface LibcudaFacts {
  library: string;
  loaded: boolean;
  /** dlopen's message when it failed. */
  error: string | null;
  cuInit: boolean;
}

/** The probes never throw for a missing feature: they return what each step got. */
export function probeCpu(): CpuFacts {
  return callNative(() => addon().probeCpu());
}

export function probeUserfaultfd(): UserfaultfdFacts {
  return callNative(() => addon().probeUserfaultfd());
}

/** withWpMatching: also run the write-protect cycle (needs userfaultfd WP_ASYNC). */
export function probePagemapScan(withWpMatching: boolean): PagemapScanFacts {
  return callNative(() => addon().probePagemapScan(withWpMatching));
}

/** Clears this process's soft-dirty bits (harmless: salvor keeps no other soft-dirty state). */
export function probeSoftDirty(): SoftDirtyFacts {
  return callNative(() => addon().probeSoftDirty());
}

/** May create a free /dev/loopN node, as `losetup -f` does; attaches nothing. */
export function probeLoopControl(): LoopControlFacts {
  return callNative(() => addon().probeLoopControl());
}

/** Loads and unloads libcuda.so.1 and looks up cuInit, without calling it. */
export function probeLibcuda(): LibcudaFacts {
  return callNative(() => addon().probeLibcuda());
}
