import { errnoName } from '../../bindings/salvor-error';
import type { ProbeStep } from '../../bindings/probe';

/** The errno name of a failed step (EPERM, ENOTTY, ...), or undefined when it succeeded. */
export function stepCode(step: ProbeStep | undefined): string | undefined {
  return step && step.errno !== 0 ? errnoName(step.errno) : undefined;
}

/** "open /dev/loop-control failed with EACCES": the syscall, its path, the errno name. */
export function stepFailure(step: ProbeStep): string {
  const where = step.path ? ` on ${step.path}` : '';
  return `${step.syscall}${where} failed with ${stepCode(step) ?? 'no error'}`;
}

/** "(/proc/config.gz: CONFIG_X is not set)" when the kernel config is readable and names the option. */
export function configNote(config: Record<string, string> | null, option: string): string {
  const value = config?.[option];
  if (value === undefined) return '';
  return value === 'n' ? ` (/proc/config.gz: ${option} is not set)` : ` (/proc/config.gz: ${option}=${value})`;
}

export function hex(n: number): string {
  return '0x' + n.toString(16);
}
