import { chooseBackends } from './backends';
import { describeCpuFeatures } from './cpu-features';
import { describeKfd, describeLibcuda, describeTee } from './driver-features';
import { gatherMachineFacts, type MachineFacts } from './facts';
import { describeLoopControl, describePagemapScan, describeSoftDirty, describeUserfaultfd } from './kernel-features';
import { doctorReportVersion, type DoctorReport, type Feature } from './report';

/** A native-probed kernel feature whose probe could not run because the addon did not load. */
function notProbed(id: string, facts: MachineFacts): Feature {
  return {
    id,
    group: id === 'libcuda' ? 'driver' : 'kernel',
    present: false,
    reason: `not probed: the native addon did not load (${facts.addonError?.message ?? 'unknown reason'})`,
    code: facts.addonError?.code ?? 'SALVOR_ADDON_LOAD',
  };
}

/** Turns raw facts into the report: every feature with yes/no and why, then the backend choices. */
export function buildDoctorReport(facts: MachineFacts): DoctorReport {
  const config = facts.kernelConfig;
  const features: Feature[] = [
    ...describeCpuFeatures(facts),
    facts.userfaultfd ? describeUserfaultfd(facts.userfaultfd, config) : notProbed('uffd-wp-async', facts),
    facts.pagemapScan ? describePagemapScan(facts.pagemapScan, config) : notProbed('pagemap-scan', facts),
    facts.softDirty ? describeSoftDirty(facts.softDirty, config) : notProbed('soft-dirty', facts),
    facts.loopControl ? describeLoopControl(facts.loopControl, config) : notProbed('loop-control', facts),
    describeTee(facts),
    describeKfd(facts),
    facts.libcuda ? describeLibcuda(facts.libcuda) : notProbed('libcuda', facts),
  ];
  return {
    version: doctorReportVersion,
    machine: {
      arch: facts.arch,
      kernel: facts.kernelRelease,
      addon: facts.addonError
        ? { loaded: false, reason: facts.addonError.message }
        : { loaded: true, reason: 'the native addon loaded and passed its CRC self-test' },
    },
    features,
    backends: chooseBackends(facts, features),
  };
}

/** Probes this machine and builds the report. */
export function runDoctor(): DoctorReport {
  return buildDoctorReport(gatherMachineFacts());
}
