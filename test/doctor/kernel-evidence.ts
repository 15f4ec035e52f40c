// What the tests expect, derived from the kernel itself and independently of the probes under test.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';

/** "6.18.44-fc" -> [6, 18]. */
export function kernelVersion(rel: string = release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = kernelVersion();
  return a > major || (a === major && b >= minor);
}

/** One option from /proc/config.gz: 'y', 'm', 'n' (not set), or undefined when unknown. */
export function kernelOption(name: string): string | undefined {
  let text: string;
  try {
    text = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  } catch {
    return undefined;
  }
  const set = new RegExp(`^${name}=(\\S+)$`, 'm').exec(text);
  if (set) return set[1];
  return new RegExp(`^# ${name} is not set$`, 'm').test(text) ? 'n' : undefined;
}

/** The errno name writing "4" to this process's clear_refs gets, or null when the kernel accepts it. */
export function clearRefsSoftDirtyError(): string | null {
  try {
    writeFileSync('/proc/self/clear_refs', '4');
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

/**
 * A soft-dirty kernel marks every mapping of a freshly exec'd process VM_SOFTDIRTY, which smaps shows
 * as "sd" in VmFlags. Returns undefined when smaps cannot be read.
 */
export function freshProcessShowsSoftDirty(): boolean | undefined {
  const r = spawnSync('cat', ['/proc/self/smaps'], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.includes('VmFlags:')) return undefined;
  return r.stdout.split('\n').some((l) => l.startsWith('VmFlags:') && /\bsd\b/.test(l));
}

/** True when a seccomp filter is active, under which syscalls may be refused unpredictably. */
export function underSeccompFilter(): boolean {
  try {
    return /^Seccomp:\s*2$/m.test(readFileSync('/proc/self/status', 'utf8'));
  } catch {
    return false;
  }
}
