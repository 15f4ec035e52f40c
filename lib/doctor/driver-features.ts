import type { LibcudaFacts } from '../../bindings/probe';
import type { DeviceNodeFacts, MachineFacts } from './facts';
import type { Feature } from './report';
import { configNote, stepCode, stepFailure } from './step-text';

function driverFeature(id: string, present: boolean, reason: string, code?: string): Feature {
  return code ? { id, group: 'driver', present, reason, code } : { id, group: 'driver', present, reason };
}

function permissionHint(code: string | undefined, group: string): string {
  return code === 'EACCES' || code === 'EPERM' ? `: add the salvor user to the ${group} group or run as root` : '';
}

/** The client nodes (/dev/teeN) that opened; /dev/teeprivN belongs to the supplicant, not to salvor. */
export function openTeeClients(devices: DeviceNodeFacts[]): DeviceNodeFacts[] {
  return devices.filter((d) => /^\/dev\/tee\d+$/.test(d.path) && d.open.errno === 0);
}

/** tee: at least one /dev/teeN client device opens read-write. */
export function describeTee(facts: MachineFacts): Feature {
  const id = 'tee';
  const clients = facts.teeDevices.filter((d) => /^\/dev\/tee\d+$/.test(d.path));
  if (clients.length === 0) {
    const priv = facts.teeDevices.length ? ` (only supplicant nodes: ${facts.teeDevices.map((d) => d.path).join(', ')})` : '';
    return driverFeature(
      id,
      false,
      `no /dev/teeN device${priv}: the kernel has no TEE driver; build CONFIG_TEE with OP-TEE or another TEE driver` +
        configNote(facts.kernelConfig, 'CONFIG_TEE'),
      'ENOENT',
    );
  }
  const opened = openTeeClients(facts.teeDevices);
  if (opened.length) return driverFeature(id, true, `${opened.map((d) => d.path).join(', ')} opened read-write`);
  const first = clients[0];
  const code = stepCode(first.open);
  return driverFeature(id, false, `${stepFailure(first.open)}${permissionHint(code, 'tee')}`, code);
}

/** amd-kfd: /dev/kfd exists and opens read-write. */
export function describeKfd(facts: MachineFacts): Feature {
  const id = 'amd-kfd';
  if (!facts.kfd)
    return driverFeature(
      id,
      false,
      'no /dev/kfd: no AMD GPU with the amdgpu driver and its compute support (CONFIG_HSA_AMD)' + configNote(facts.kernelConfig, 'CONFIG_HSA_AMD'),
      'ENOENT',
    );
  const code = stepCode(facts.kfd.open);
  if (code) return driverFeature(id, false, `${stepFailure(facts.kfd.open)}${permissionHint(code, 'render')}`, code);
  return driverFeature(id, true, '/dev/kfd opened read-write');
}

/** libcuda: libcuda.so.1 loads and exports cuInit (which doctor does not call). */
export function describeLibcuda(cuda: LibcudaFacts): Feature {
  const id = 'libcuda';
  if (!cuda.loaded)
    return driverFeature(id, false, `dlopen(${cuda.library}) failed: ${cuda.error ?? 'no message'}; install the NVIDIA driver to use a GPU`);
  if (!cuda.cuInit) return driverFeature(id, false, `${cuda.library} loaded but exports no cuInit: it is not a CUDA driver library`);
  return driverFeature(id, true, `${cuda.library} loaded and exports cuInit (not called)`);
}
