import { closeSync, constants, openSync, readdirSync, readFileSync } from 'node:fs';
import { arch, release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { addon } from '../../bindings/addon';
import { crc32cBackend } from '../../bindings/crc';
import {
  probeCpu,
  probeLibcuda,
  probeLoopControl,
  probePagemapScan,
  probeSoftDirty,
  probeUserfaultfd,
  type CpuFacts,
  type LibcudaFacts,
  type LoopControlFacts,
  type PagemapScanFacts,
  type ProbeStep,
  type SoftDirtyFacts,
  type UserfaultfdFacts,
} from '../../bindings/probe';

/** A device node: whether it opened read-write (errno 0) or why not. */
export interface DeviceNodeFacts {
  path: string;
  open: ProbeStep;
}

/** Everything doctor looked at, before any judgement. Native probes are null when the addon did not load. */
export interface MachineFacts {
  arch: string;
  kernelRelease: string;
  /** Why the native addon did not load, or null when it did. */
  addonError: { code: string; message: string } | null;
  cpu: CpuFacts | null;
  crc32cBackend: string | null;
  userfaultfd: UserfaultfdFacts | null;
  pagemapScan: PagemapScanFacts | null;
  softDirty: SoftDirtyFacts | null;
  loopControl: LoopControlFacts | null;
  libcuda: LibcudaFacts | null;
  /** /dev/teeN (clients) and /dev/teeprivN (supplicant) nodes. */
  teeDevices: DeviceNodeFacts[];
  /** /dev/kfd, or null when the node does not exist. */
  kfd: DeviceNodeFacts | null;
  /** Names under /sys/bus/nvmem/devices. */
  nvmemDevices: string[];
  /** /dev/mtdblockN paths. */
  mtdblockDevices: string[];
  /** The few kernel options doctor cites, from /proc/config.gz ('y', 'm' or 'n'); null when unreadable. */
  kernelConfig: Record<string, string> | null;
  /** What leak sampling can read: RssAnon in /proc/PID/status, smaps_rollup, a cgroup v2 memory controller. */
  memorySources?: { procStatusRssAnon: boolean; smapsRollup: boolean; cgroupV2Memory: boolean };
  /** The service manager's notify socket ($NOTIFY_SOCKET) and whether systemd runs this machine. */
  serviceManager?: { notifySocket: string | null; systemdBooted: boolean };
}

/** The options whose value makes a reason more precise; doctor never decides on them alone. */
export const citedKernelOptions = [
  'CONFIG_USERFAULTFD',
  'CONFIG_PTE_MARKER_UFFD_WP',
  'CONFIG_PROC_PAGE_MONITOR',
  'CONFIG_MEM_SOFT_DIRTY',
  'CONFIG_BLK_DEV_LOOP',
  'CONFIG_TEE',
  'CONFIG_HSA_AMD',
  'CONFIG_NVMEM',
  'CONFIG_MTD_BLOCK',
];

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function openDeviceNode(path: string): DeviceNodeFacts {
  try {
    closeSync(openSync(path, constants.O_RDWR));
    return { path, open: { errno: 0, syscall: 'open', path } };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { path, open: { errno: typeof e.errno === 'number' ? -Math.abs(e.errno) : -5, syscall: 'open', path } };
  }
}

/** Parses the cited options out of a kernel config text ("CONFIG_X=y" or "# CONFIG_X is not set"). */
export function parseKernelConfig(text: string, options: readonly string[] = citedKernelOptions): Record<string, string> {
  const wanted = new Set(options);
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_\w+)=(\S+)/.exec(line);
    const unset = /^# (CONFIG_\w+) is not set/.exec(line);
    if (set && wanted.has(set[1])) out[set[1]] = set[2];
    else if (unset && wanted.has(unset[1])) out[unset[1]] = 'n';
  }
  return out;
}

function readKernelConfig(): Record<string, string> | null {
  try {
    return parseKernelConfig(gunzipSync(readFileSync('/proc/config.gz')).toString('latin1'));
  } catch {
    return null;
  }
}

/** True when the file can be read and its text matches. */
function readable(path: string, pattern: RegExp): boolean {
  try {
    return pattern.test(readFileSync(path, 'utf8'));
  } catch {
    return false;
  }
}

/** The kernel facilities dirty-page tracking stands on. */
export type TrackingFacts = Pick<MachineFacts, 'userfaultfd' | 'pagemapScan' | 'softDirty'>;

let trackingProbe: TrackingFacts | undefined;

/**
 * Probes the tracking facilities once per process (as CRIU's kerndat does): doctor reports these facts
 * and the runtime's dirty-tracking choice follows them, so the two never disagree. Run before any
 * tracker is attached (the soft-dirty probe clears this process's soft-dirty bits). Throws when the
 * native addon does not load.
 */
export function probeTrackingOnce(): TrackingFacts {
  if (!trackingProbe) {
    const userfaultfd = probeUserfaultfd();
    // PM_SCAN_WP_MATCHING only protects pages of an async-uffd registration, so try it only when one is possible.
    trackingProbe = { userfaultfd, pagemapScan: probePagemapScan(userfaultfd.wpAsync), softDirty: probeSoftDirty() };
  }
  return trackingProbe;
}

/** The few cited kernel options (/proc/config.gz), read once per process. */
let kernelConfigRead: { value: Record<string, string> | null } | undefined;
export function kernelConfigOnce(): Record<string, string> | null {
  kernelConfigRead ??= { value: readKernelConfig() };
  return kernelConfigRead.value;
}

/** Runs every probe (the tracking ones once per process). Quick and synchronous; never throws for a missing feature. */
export function gatherMachineFacts(): MachineFacts {
  const dev = listDir('/dev');
  const facts: MachineFacts = {
    arch: arch(),
    kernelRelease: release(),
    addonError: null,
    cpu: null,
    crc32cBackend: null,
    userfaultfd: null,
    pagemapScan: null,
    softDirty: null,
    loopControl: null,
    libcuda: null,
    teeDevices: dev.filter((n) => /^tee(priv)?\d+$/.test(n)).map((n) => openDeviceNode(`/dev/${n}`)),
    kfd: dev.includes('kfd') ? openDeviceNode('/dev/kfd') : null,
    nvmemDevices: listDir('/sys/bus/nvmem/devices'),
    mtdblockDevices: dev.filter((n) => /^mtdblock\d+$/.test(n)).map((n) => `/dev/${n}`),
    kernelConfig: kernelConfigOnce(),
    memorySources: {
      procStatusRssAnon: readable('/proc/self/status', /^RssAnon:/m),
      smapsRollup: readable('/proc/self/smaps_rollup', /^Rss:/m),
      cgroupV2Memory: readable('/sys/fs/cgroup/cgroup.controllers', /\bmemory\b/),
    },
    serviceManager: { notifySocket: process.env.NOTIFY_SOCKET ?? null, systemdBooted: listDir('/run/systemd/system').length > 0 || readable('/run/systemd/system', /./) },
  };
  try {
    addon();
  } catch (err) {
    // Doctor is where a broken install gets diagnosed, so it reports this instead of failing.
    const e = err as { code?: string; message?: string };
    facts.addonError = { code: e.code ?? 'SALVOR_ADDON_LOAD', message: String(e.message ?? err) };
    return facts;
  }
  facts.crc32cBackend = crc32cBackend();
  facts.cpu = probeCpu();
  Object.assign(facts, probeTrackingOnce());
  facts.loopControl = probeLoopControl();
  facts.libcuda = probeLibcuda();
  return facts;
}
