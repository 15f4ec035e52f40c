import type { LoopControlFacts, PagemapScanFacts, ProbeStep, SoftDirtyFacts, UserfaultfdFacts } from '../../bindings/probe';
import { SOFT_DIRTY_ABSENT } from '../../bindings/region';
import type { MachineFacts } from './facts';
import type { Feature } from './report';
import { configNote, hex, stepCode, stepFailure } from './step-text';

type Config = MachineFacts['kernelConfig'];

function kernelFeature(id: string, present: boolean, reason: string, code?: string): Feature {
  return code ? { id, group: 'kernel', present, reason, code } : { id, group: 'kernel', present, reason };
}

const uffdWpAsyncBit = 1 << 15;

function uffdSyscallHint(step: ProbeStep, config: Config): string {
  switch (stepCode(step)) {
    case 'EPERM':
    case 'EACCES':
      // UFFD_USER_MODE_ONLY is exempt from vm.unprivileged_userfaultfd, so the sysctl is not the cause.
      return 'refused by a seccomp filter (container runtimes often block userfaultfd) or a security module';
    case 'ENOSYS':
      return 'the kernel is built without CONFIG_USERFAULTFD' + configNote(config, 'CONFIG_USERFAULTFD');
    case 'EINVAL':
      return 'the kernel predates UFFD_USER_MODE_ONLY (Linux 5.11)';
    default:
      return 'unexpected error';
  }
}

function uffdDeviceHint(step: ProbeStep): string {
  switch (stepCode(step)) {
    case 'ENOENT':
      return 'there is no /dev/userfaultfd (Linux 6.1 and later have it)';
    case 'EACCES':
    case 'EPERM':
      // The node opened but the ioctl was refused: a filter on ioctl, not the node's permissions.
      if (step.syscall.startsWith('ioctl')) return 'refused by a seccomp filter or a security module as well';
      return 'grant this user access to /dev/userfaultfd (a udev rule) or run salvor as root';
    default:
      return 'unexpected error';
  }
}

/** uffd-wp-async: a userfaultfd that opens and grants UFFD_FEATURE_WP_ASYNC. */
export function describeUserfaultfd(uffd: UserfaultfdFacts, config: Config): Feature {
  const id = 'uffd-wp-async';
  if (uffd.via === null) {
    const device = uffd.device ? `; fallback ${stepFailure(uffd.device)}: ${uffdDeviceHint(uffd.device)}` : '';
    return kernelFeature(id, false, `${stepFailure(uffd.open)}: ${uffdSyscallHint(uffd.open, config)}${device}`, stepCode(uffd.open));
  }
  const opened =
    uffd.via === 'userfaultfd'
      ? 'userfaultfd(UFFD_USER_MODE_ONLY) opened'
      : `/dev/userfaultfd opened (the syscall failed with ${stepCode(uffd.open)})`;
  if (uffd.wpAsync) return kernelFeature(id, true, `${opened} and UFFDIO_API granted UFFD_FEATURE_WP_ASYNC`);
  const offered = uffd.features ? `; it offers features ${hex(uffd.features)}` : '';
  if (uffd.api && uffd.api.errno !== 0) {
    const why = stepCode(uffd.api) === 'EINVAL' ? 'the kernel does not know UFFD_FEATURE_WP_ASYNC (Linux 6.7 added it)' : 'unexpected error';
    return kernelFeature(id, false, `${opened} but ${stepFailure(uffd.api)} asking for WP_ASYNC: ${why}${offered}`, stepCode(uffd.api));
  }
  return kernelFeature(id, false, `${opened} but UFFDIO_API did not grant UFFD_FEATURE_WP_ASYNC (bit ${hex(uffdWpAsyncBit)})${offered}`);
}

/** True when PM_SCAN_WP_MATCHING protected all written pages, then reported exactly the one rewritten. */
export function wpCycleWorks(scan: PagemapScanFacts | null): boolean {
  const wp = scan?.wp;
  return !!wp && wp.step.errno === 0 && wp.protectedPages === scan.regionPages && wp.writtenAfterProtect === 0 && wp.writtenAfterRewrite === 1;
}

function describeWpCycle(scan: PagemapScanFacts): string {
  const wp = scan.wp;
  if (!wp) return '; the PM_SCAN_WP_MATCHING cycle was not tried (needs uffd-wp-async)';
  if (wp.step.errno !== 0) return `; the PM_SCAN_WP_MATCHING cycle failed: ${stepFailure(wp.step)}`;
  if (wpCycleWorks(scan)) return '; PM_SCAN_WP_MATCHING re-protected them and then reported exactly the one page written since';
  return (
    `; the PM_SCAN_WP_MATCHING cycle gave wrong counts (protected ${wp.protectedPages} of ${scan.regionPages}, ` +
    `then ${wp.writtenAfterProtect} written (want 0), then ${wp.writtenAfterRewrite} after one write (want 1))`
  );
}

/** pagemap-scan: the PAGEMAP_SCAN ioctl over written scratch pages reports them. */
export function describePagemapScan(scan: PagemapScanFacts, config: Config): Feature {
  const id = 'pagemap-scan';
  const code = stepCode(scan.step);
  if (code) {
    let why = 'unexpected error';
    if (scan.step.syscall.startsWith('ioctl') && (code === 'ENOTTY' || code === 'EINVAL'))
      why = 'the kernel predates PAGEMAP_SCAN (Linux 6.7 added it)';
    else if (scan.step.syscall === 'open' && code === 'ENOENT')
      why = 'no /proc/self/pagemap: the kernel is built without CONFIG_PROC_PAGE_MONITOR' + configNote(config, 'CONFIG_PROC_PAGE_MONITOR');
    else if (code === 'EACCES' || code === 'EPERM') why = 'access to /proc/self/pagemap is denied (a security module or hidepid mount)';
    return kernelFeature(id, false, `${stepFailure(scan.step)}: ${why}`, code);
  }
  if (scan.presentPages !== scan.regionPages)
    return kernelFeature(id, false, `ioctl(PAGEMAP_SCAN) ran but reported ${scan.presentPages} of ${scan.regionPages} written pages present`);
  return kernelFeature(id, true, `ioctl(PAGEMAP_SCAN) reported all ${scan.regionPages} written scratch pages${describeWpCycle(scan)}`);
}

/** soft-dirty: clear_refs accepts 4, and a page written afterwards carries pagemap bit 55. */
export function describeSoftDirty(facts: SoftDirtyFacts, config: Config): Feature {
  const id = 'soft-dirty';
  const note = configNote(config, 'CONFIG_MEM_SOFT_DIRTY');
  const clear = facts.clearRefs;
  const clearCode = stepCode(clear);
  if (clearCode) {
    let why = 'unexpected error';
    if (clear.syscall === 'write' && clearCode === 'EINVAL') why = 'the kernel rejects value 4: it is built without CONFIG_MEM_SOFT_DIRTY' + note;
    else if (clear.syscall === 'open' && clearCode === 'ENOENT')
      why = 'no /proc/self/clear_refs: the kernel is built without CONFIG_PROC_PAGE_MONITOR' + configNote(config, 'CONFIG_PROC_PAGE_MONITOR');
    else if (clearCode === 'EACCES' || clearCode === 'EPERM') why = 'access to /proc/self/clear_refs is denied (a security module or read-only /proc)';
    return kernelFeature(id, false, `${stepFailure(clear)}: ${why}`, clearCode);
  }
  if (facts.pagemap && facts.pagemap.errno !== 0)
    return kernelFeature(id, false, `clear_refs accepted 4 but ${stepFailure(facts.pagemap)}`, stepCode(facts.pagemap));
  if (!facts.dirtyAfterWrite)
    return kernelFeature(id, false, `${SOFT_DIRTY_ABSENT}${note}`);
  if (!facts.cleanAfterClear)
    return kernelFeature(id, false, 'pages stay soft-dirty after clear_refs 4, so written pages cannot be told from the rest');
  return kernelFeature(id, true, 'clear_refs 4 cleared the soft-dirty bit and a write set it again (pagemap bit 55)');
}

/** loop-control: /dev/loop-control opens and LOOP_CTL_GET_FREE names a free device. */
export function describeLoopControl(loop: LoopControlFacts, config: Config): Feature {
  const id = 'loop-control';
  const openCode = stepCode(loop.open);
  if (openCode) {
    let why = 'unexpected error';
    if (openCode === 'ENOENT')
      why = 'the kernel has no loop driver: build CONFIG_BLK_DEV_LOOP or `modprobe loop`' + configNote(config, 'CONFIG_BLK_DEV_LOOP');
    else if (openCode === 'EACCES' || openCode === 'EPERM') why = 'run salvor as root (loop devices need CAP_SYS_ADMIN to attach)';
    return kernelFeature(id, false, `${stepFailure(loop.open)}: ${why}`, openCode);
  }
  if (loop.getFree && loop.getFree.errno !== 0)
    return kernelFeature(id, false, `/dev/loop-control opened but ${stepFailure(loop.getFree)}`, stepCode(loop.getFree));
  return kernelFeature(id, true, `/dev/loop-control opened and LOOP_CTL_GET_FREE named /dev/loop${loop.freeIndex}`);
}
