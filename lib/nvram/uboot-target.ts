import { SalvorError } from '../../bindings/salvor-error';
import type { DeviceOpener, NvramDevice } from './device';
import { readDefaultsFile } from './defaults';
import type { StoreTarget } from './open';
import type { NvramStore, RecoverReport } from './store';
import { openUbootStore } from './uboot/uboot-store';
import { formatValue } from './values';

/** fw_setenv and fw_printenv serialise on this file; salvor writes hold it too, so neither tears the other's update. */
export const FW_ENV_LOCK = '/var/lock/fw_printenv.lock';

/**
 * Opens a U-Boot environment for the CLI and the API: defaults from a JSON file become the text
 * variables of a fresh environment, a writable open also takes U-Boot's own tool lock, and recover's
 * `clean` is the state after repair (as for the salvor layout).
 */
export async function openUbootFromCli(t: StoreTarget & { writable: boolean }, opener: DeviceOpener): Promise<NvramStore> {
  let defaults: Record<string, string> | undefined;
  if (t.defaultsPath) {
    const entries = await readDefaultsFile(t.defaultsPath);
    const bytes = entries.find((e) => e.value.type === 'bytes');
    if (bytes) throw new SalvorError('SALVOR_BAD_INPUT', `defaults ${t.defaultsPath}: key '${bytes.key}' holds bytes; U-Boot environments hold text`);
    defaults = Object.fromEntries(entries.map((e) => [e.key, formatValue(e.value)]));
  }
  const toolLock = t.writable ? await takeToolLock(opener, t.lockTimeoutMs ?? 10_000) : undefined;
  try {
    const store = await openUbootStore(t.ubootConfig!, opener, { writable: t.writable, defaults, lockTimeoutMs: t.lockTimeoutMs });
    return withCleanAfterRecover(store, toolLock);
  } catch (err) {
    await toolLock?.close();
    throw err;
  }
}

async function takeToolLock(opener: DeviceOpener, timeoutMs: number): Promise<NvramDevice | undefined> {
  let lock: NvramDevice;
  try {
    lock = await opener(FW_ENV_LOCK, { writable: true, createSize: 0 });
  } catch {
    return undefined; // no /var/lock (a minimal rootfs): U-Boot's tools cannot lock there either
  }
  try {
    await lock.lock(true, timeoutMs);
  } catch (err) {
    await lock.close();
    throw err;
  }
  return lock;
}

function withCleanAfterRecover(store: NvramStore, toolLock: NvramDevice | undefined): NvramStore {
  return {
    format: store.format,
    check: () => store.check(),
    recover: async (): Promise<RecoverReport> => {
      const report = await store.recover();
      return { ...report, cleanBefore: report.clean, clean: (await store.check()).clean };
    },
    get: (k) => store.get(k),
    list: () => store.list(),
    set: (k, v) => store.set(k, v),
    unset: (k) => store.unset(k),
    close: async () => {
      await store.close();
      await toolLock?.close();
    },
  };
}
