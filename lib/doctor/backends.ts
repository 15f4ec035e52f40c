import type { MachineFacts, TrackingFacts } from './facts';
import { describePagemapScan, describeSoftDirty, describeUserfaultfd, wpCycleWorks } from './kernel-features';
import type { BackendCandidate, BackendChoice, Feature } from './report';
import { configNote } from './step-text';

function feature(features: Feature[], id: string): Feature | undefined {
  return features.find((f) => f.id === id);
}

function present(features: Feature[], id: string): boolean {
  return feature(features, id)?.present ?? false;
}

/** The first usable candidate wins; its reason says why, the others say why not. */
function firstUsable(capability: string, candidates: BackendCandidate[]): BackendChoice {
  const chosen = candidates.find((c) => c.usable) ?? candidates[candidates.length - 1];
  return { capability, backend: chosen.backend, reason: chosen.reason, candidates };
}

/** Reads an implementation name such as "sse42-3way-pclmul" as words. */
export function describeCrcBackend(name: string): string {
  const parts = name.toLowerCase().split(/[-_]/);
  const words: string[] = [];
  if (parts.includes('table')) words.push('portable table-driven code, one byte per step');
  if (parts.includes('sse42')) words.push('the SSE4.2 crc32 instruction');
  if (parts.some((p) => /^\d+way$/.test(p))) words.push(`${parts.find((p) => /^\d+way$/.test(p))!.replace('way', '')} interleaved streams`);
  if (parts.includes('pclmul') || parts.includes('pclmulqdq')) words.push('joined with PCLMULQDQ');
  if (parts.includes('vpclmulqdq') || parts.includes('vpclmul')) words.push('VPCLMULQDQ folding');
  if (parts.includes('avx512')) words.push('in 512-bit registers');
  if (parts.some((p) => p.startsWith('armv8') || p === 'arm' || p === 'crc32')) words.push('the ARMv8 CRC32 instructions');
  if (parts.includes('pmull')) words.push('joined with PMULL');
  return words.length ? words.join(', ') : `the addon's "${name}" implementation`;
}

function nvramCrc(facts: MachineFacts, features: Feature[]): BackendChoice {
  const name = facts.crc32cBackend;
  if (!name) {
    const reason = 'the native addon did not load, so no CRC-32C is available';
    return { capability: 'nvram-crc', backend: 'none', reason, candidates: [] };
  }
  const cpu = ['sse4.2', 'pclmulqdq', 'avx512f', 'vpclmulqdq', 'arm-crc32'].filter((id) => present(features, id));
  let reason = `crc32c: ${describeCrcBackend(name)}; chosen by the addon at load from the CPU's features (${cpu.join(', ') || 'none'})`;
  if (name === 'table' && (present(features, 'sse4.2') || present(features, 'arm-crc32')))
    reason += '; this CPU has a CRC instruction, so the addon was built without a hardware path for it';
  return { capability: 'nvram-crc', backend: name, reason, candidates: [{ backend: name, usable: true, reason }] };
}

function nvramDevices(facts: MachineFacts): BackendChoice {
  const nvmem = facts.nvmemDevices;
  const mtd = facts.mtdblockDevices;
  const candidates: BackendCandidate[] = [
    { backend: 'file', usable: true, reason: 'an image file on any filesystem' },
    {
      backend: 'nvmem',
      usable: nvmem.length > 0,
      reason: nvmem.length
        ? `${nvmem.length} under /sys/bus/nvmem/devices: ${nvmem.join(', ')}`
        : 'none under /sys/bus/nvmem/devices' + configNote(facts.kernelConfig, 'CONFIG_NVMEM'),
    },
    {
      backend: 'mtdblock',
      usable: mtd.length > 0,
      reason: mtd.length ? `${mtd.length} found: ${mtd.join(', ')}` : 'no /dev/mtdblockN' + configNote(facts.kernelConfig, 'CONFIG_MTD_BLOCK'),
    },
  ];
  const usable = candidates.filter((c) => c.usable);
  const reason = candidates.map((c) => `${c.backend}: ${c.reason}`).join('; ');
  return { capability: 'nvram-devices', backend: usable.map((c) => c.backend).join(','), reason, candidates };
}

function dirtyTracking(facts: Pick<MachineFacts, 'pagemapScan'>, features: Feature[]): BackendChoice {
  const uffd = present(features, 'uffd-wp-async');
  const scan = present(features, 'pagemap-scan');
  const cycle = wpCycleWorks(facts.pagemapScan);
  const uffdWhyNot = !uffd
    ? 'needs uffd-wp-async, which is absent'
    : !scan
      ? 'needs pagemap-scan, which is absent'
      : 'the PM_SCAN_WP_MATCHING cycle did not work on scratch pages (see pagemap-scan)';
  const softDirty = feature(features, 'soft-dirty');
  // The order auto uses for anonymous regions (lib/replication/tracked-region.ts); it moves to the hash
  // scan when enough pages are written, and always uses it for shared files.
  return firstUsable('dirty-tracking', [
    {
      backend: 'uffd-wp',
      usable: uffd && scan && cycle,
      reason:
        uffd && scan && cycle
          ? 'auto starts here: userfaultfd WP_ASYNC and PAGEMAP_SCAN both work, so the kernel records writes without a fault reaching salvor, one scan per round; auto moves to hash-scan when writing pages costs more than scanning, and uses hash-scan for shared files'
          : uffdWhyNot,
    },
    {
      backend: 'mprotect',
      usable: true,
      reason: 'auto starts here without uffd-wp: every first write to a page after a round traps to a signal handler in salvor',
    },
    {
      backend: 'soft-dirty',
      usable: false,
      reason: softDirty?.present
        ? 'works, but only when chosen explicitly: there is no atomic read-and-clear, so auto never picks it'
        : `soft-dirty is absent: ${softDirty?.reason ?? 'not probed'}`,
    },
    {
      backend: 'hash-scan',
      usable: true,
      reason: 'always possible: hashes every page each round; the only tracker that sees other processes writing a shared file',
    },
  ]);
}

/**
 * Where openRegion's auto starts, from the tracking facts alone: the runtime takes its fault-based
 * kinds from this (the composition root), and doctor reports the same judgement of the same facts.
 */
export function chooseDirtyTracking(facts: TrackingFacts & Pick<MachineFacts, 'kernelConfig'>): BackendChoice {
  const config = facts.kernelConfig;
  const features: Feature[] = [];
  if (facts.userfaultfd) features.push(describeUserfaultfd(facts.userfaultfd, config));
  if (facts.pagemapScan) features.push(describePagemapScan(facts.pagemapScan, config));
  if (facts.softDirty) features.push(describeSoftDirty(facts.softDirty, config));
  return dirtyTracking(facts, features);
}

function leakSampling(facts: MachineFacts): BackendChoice {
  const m = facts.memorySources ?? { procStatusRssAnon: false, smapsRollup: false, cgroupV2Memory: false };
  const candidates: BackendCandidate[] = [
    { backend: 'proc-status', usable: m.procStatusRssAnon, reason: m.procStatusRssAnon ? 'RssAnon in /proc/PID/status, read every tick' : 'no RssAnon line in /proc/self/status' },
    { backend: 'smaps-rollup', usable: m.smapsRollup, reason: m.smapsRollup ? '/proc/PID/smaps_rollup, read only to confirm a suspect' : '/proc/self/smaps_rollup unreadable (CONFIG_PROC_PAGE_MONITOR)' },
    { backend: 'cgroup-v2', usable: m.cgroupV2Memory, reason: m.cgroupV2Memory ? 'memory.stat anon per service (cgroup v2 memory controller)' : 'no memory controller in /sys/fs/cgroup/cgroup.controllers: services cannot be watched by cgroup' },
  ];
  const usable = candidates.filter((c) => c.usable);
  return { capability: 'leak-sampling', backend: usable.map((c) => c.backend).join(',') || 'none', reason: candidates.map((c) => `${c.backend}: ${c.reason}`).join('; '), candidates };
}

function serviceManager(facts: MachineFacts): BackendChoice {
  const s = facts.serviceManager ?? { notifySocket: null, systemdBooted: false };
  const reason = s.notifySocket
    ? `NOTIFY_SOCKET=${s.notifySocket}: READY, WATCHDOG and STATUS go there from the addon`
    : `no NOTIFY_SOCKET: not started by a service manager now${s.systemdBooted ? ' (systemd runs this machine: install platform/systemd/salvor.service, docs/install.md)' : ''}`;
  return { capability: 'daemon-notify', backend: s.notifySocket ? 'sd_notify' : 'none', reason, candidates: [{ backend: 'sd_notify', usable: !!s.notifySocket, reason }] };
}

/**
 * Which backend each capability would use, given what was found. Policy lives here, nowhere else.
 * Only capabilities salvor has a backend for are listed (no TEE or GPU line until one exists).
 */
export function chooseBackends(facts: MachineFacts, features: Feature[]): BackendChoice[] {
  return [nvramCrc(facts, features), nvramDevices(facts), dirtyTracking(facts, features), leakSampling(facts), serviceManager(facts)];
}
