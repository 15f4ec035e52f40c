import type { FeatureGroup } from './report';

/** What each line of the doctor report stands for; feeds `salvor doctor --help` (docs/doctor.md says more). */
export const featureCatalogue: ReadonlyArray<{ id: string; group: FeatureGroup; meaning: string }> = [
  { id: 'sse4.2', group: 'cpu', meaning: 'x86 crc32 instruction: hardware CRC-32C for NVRAM sectors' },
  { id: 'pclmulqdq', group: 'cpu', meaning: 'carry-less multiply: joins interleaved CRC streams' },
  { id: 'avx512f', group: 'cpu', meaning: '512-bit registers, counted only when the OS saves their state (XCR0)' },
  { id: 'vpclmulqdq', group: 'cpu', meaning: 'vector carry-less multiply: CRC folding 64 bytes per step' },
  { id: 'arm-crc32', group: 'cpu', meaning: 'ARMv8 CRC32 instructions (aarch64 AT_HWCAP)' },
  { id: 'uffd-wp-async', group: 'kernel', meaning: 'userfaultfd write protection resolved by the kernel (Linux 6.7)' },
  { id: 'pagemap-scan', group: 'kernel', meaning: 'PAGEMAP_SCAN ioctl: list and re-protect written pages in one call (Linux 6.7)' },
  { id: 'soft-dirty', group: 'kernel', meaning: 'soft-dirty page bits (CONFIG_MEM_SOFT_DIRTY)' },
  { id: 'loop-control', group: 'kernel', meaning: '/dev/loop-control hands out loop devices (snapshots, restore)' },
  { id: 'tee', group: 'driver', meaning: '/dev/tee* client devices of the Linux TEE subsystem' },
  { id: 'amd-kfd', group: 'driver', meaning: '/dev/kfd: AMD GPU compute (reported only; no AMD backend yet)' },
  { id: 'libcuda', group: 'driver', meaning: 'libcuda.so.1 with cuInit: the NVIDIA CUDA driver library' },
];

export const backendCatalogue: ReadonlyArray<{ capability: string; meaning: string }> = [
  { capability: 'nvram-crc', meaning: 'the CRC-32C implementation the addon dispatched to' },
  { capability: 'nvram-devices', meaning: 'which kinds of NVRAM storage this machine offers' },
  { capability: 'dirty-tracking', meaning: 'where auto starts: uffd-wp, else mprotect; hash-scan for shared files and dense writes' },
  { capability: 'leak-sampling', meaning: 'what leak detection reads: proc-status, smaps-rollup (to confirm), cgroup-v2' },
  { capability: 'daemon-notify', meaning: 'sd_notify when a service manager started salvor (NOTIFY_SOCKET), else none' },
];
