import type { CpuFacts } from '../../bindings/probe';
import type { MachineFacts } from './facts';
import type { Feature } from './report';
import { hex } from './step-text';

/** XCR0 bits 1-2: SSE and AVX (YMM) state. */
const xcr0Avx = 0x6;
/** XCR0 bits 1-2 and 5-7: plus opmask, ZMM_Hi256 and Hi16_ZMM state, all needed for AVX-512. */
const xcr0Avx512 = 0xe6;

function isX86(arch: string): boolean {
  return arch === 'x64' || arch === 'ia32';
}

function cpuFeature(id: string, present: boolean, reason: string, code?: string): Feature {
  return code ? { id, group: 'cpu', present, reason, code } : { id, group: 'cpu', present, reason };
}

/** AVX-512 registers exist only when the CPU has them and the OS saves them across context switches. */
export function osSavesAvx512(cpu: CpuFacts): boolean {
  return cpu.osxsave && (cpu.xcr0 & xcr0Avx512) === xcr0Avx512;
}

function x86Features(cpu: CpuFacts): Feature[] {
  if (!cpu.cpuid) {
    const reason = 'the cpuid instruction answered nothing, so no x86 feature can be relied on';
    return ['sse4.2', 'pclmulqdq', 'avx512f', 'vpclmulqdq'].map((id) => cpuFeature(id, false, reason));
  }
  const xcr0 = cpu.osxsave ? `XCR0=${hex(cpu.xcr0)}` : 'the OS has not enabled XSAVE (cpuid OSXSAVE clear)';
  const avx512State = osSavesAvx512(cpu);
  const avxState = cpu.osxsave && (cpu.xcr0 & xcr0Avx) === xcr0Avx;
  return [
    cpuFeature(
      'sse4.2',
      cpu.sse42,
      cpu.sse42 ? 'cpuid leaf 1 ECX bit 20 is set' : 'cpuid leaf 1 ECX bit 20 is clear: this CPU (or its virtual model) lacks SSE4.2',
    ),
    cpuFeature(
      'pclmulqdq',
      cpu.pclmulqdq,
      cpu.pclmulqdq ? 'cpuid leaf 1 ECX bit 1 is set' : 'cpuid leaf 1 ECX bit 1 is clear: this CPU (or its virtual model) lacks PCLMULQDQ',
    ),
    cpuFeature(
      'avx512f',
      cpu.avx512f && avx512State,
      !cpu.avx512f
        ? 'cpuid leaf 7 EBX bit 16 is clear: this CPU (or its virtual model) lacks AVX-512F'
        : avx512State
          ? `cpuid leaf 7 EBX bit 16 is set and the OS saves opmask and ZMM state (${xcr0})`
          : `the CPU has AVX-512F but the OS does not save its register state (${xcr0}); the kernel or hypervisor disabled it`,
    ),
    cpuFeature(
      'vpclmulqdq',
      cpu.vpclmulqdq && avxState,
      !cpu.vpclmulqdq
        ? 'cpuid leaf 7 ECX bit 10 is clear: this CPU (or its virtual model) lacks VPCLMULQDQ'
        : !avxState
          ? `the CPU has VPCLMULQDQ but the OS does not save YMM state (${xcr0})`
          : `cpuid leaf 7 ECX bit 10 is set (${xcr0}; 512-bit use ${avx512State ? 'possible' : 'not possible: no AVX-512 state'})`,
    ),
  ];
}

/** The CPU group of the report: x86 cpuid features and the ARMv8 CRC32 extension. */
export function describeCpuFeatures(facts: MachineFacts): Feature[] {
  const x86 = isX86(facts.arch);
  const arm64 = facts.arch === 'arm64';
  const out: Feature[] = [];
  if (!facts.cpu) {
    const reason = `not probed: the native addon did not load (${facts.addonError?.message ?? 'unknown reason'})`;
    const code = facts.addonError?.code ?? 'SALVOR_ADDON_LOAD';
    for (const id of ['sse4.2', 'pclmulqdq', 'avx512f', 'vpclmulqdq', 'arm-crc32']) out.push(cpuFeature(id, false, reason, code));
    return out;
  }
  if (x86) out.push(...x86Features(facts.cpu));
  else
    for (const id of ['sse4.2', 'pclmulqdq', 'avx512f', 'vpclmulqdq'])
      out.push(cpuFeature(id, false, `an x86 feature; this machine is ${facts.arch}`));
  if (arm64)
    out.push(
      cpuFeature(
        'arm-crc32',
        facts.cpu.armCrc32,
        facts.cpu.armCrc32
          ? `AT_HWCAP has HWCAP_CRC32 (${hex(facts.cpu.hwcap)})`
          : `AT_HWCAP lacks HWCAP_CRC32 (${hex(facts.cpu.hwcap)}): this core has no ARMv8 CRC32 instructions`,
      ),
    );
  else out.push(cpuFeature('arm-crc32', false, `an aarch64 feature; this machine is ${facts.arch}`));
  return out;
}
