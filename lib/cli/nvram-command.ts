import { Command, Option } from 'commander';
import { SalvorError } from '../../bindings/salvor-error';
import { parseDuration, parseSize, verb } from './command';
import { Exit, type ExitCode } from './exit-codes';
import type { Output } from './output';
import type { CliPlatform } from './platform';
import { formatNvram } from '../nvram/format';
import { openStore, type StoreTarget } from '../nvram/open';
import type { CheckReport, NvramEntry, NvramStore, RecoverReport } from '../nvram/store';
import { valueToJson } from '../nvram/defaults';
import { formatValue, parseCliValue, VALUE_TYPES, type ValueType } from '../nvram/values';
import { describeCheck, describeRecover, unrecoverableReport } from './nvram-report';
import { DamagedStoreError } from '../nvram/salvor-store';
import { reportError } from './output';

interface TargetOpts {
  device?: string;
  ubootConfig?: string;
  sectorSize?: number;
  defaults?: string;
  lockTimeout?: number;
  json?: boolean;
}

const targetHelp = `
The NVRAM is either a salvor-format device (--device PATH: an image file, /sys/bus/nvmem/devices/NAME/nvmem,
a block or mtdblock partition) or a U-Boot environment described by a fw_env.config file (--uboot-config FILE).
State (geometry and defaults recorded at format time) lives in $SALVOR_STATE_DIR, else ./var.`;

function targetOptions(cmd: Command, extra: { hints?: boolean } = {}): Command {
  cmd
    .option('--device <path>', 'salvor-format NVRAM: image file, nvmem device, block or mtdblock partition')
    .option('--uboot-config <file>', 'U-Boot environment: fw_env.config with one line per copy (instead of --device)')
    .addOption(new Option('--lock-timeout <ms>', 'wait this long for another salvor process to release the device').default(10000).argParser((v) => parseDuration(v, '--lock-timeout')));
  if (extra.hints)
    cmd
      .option('--sector-size <bytes>', 'expected sector size; needed to rebuild when header and copy are both lost', (v) => parseSize(v, '--sector-size'))
      .option('--defaults <file>', 'defaults JSON to rebuild from (overrides the one recorded at format)');
  return cmd.addHelpText('after', targetHelp);
}

function target(o: TargetOpts, platform: CliPlatform): StoreTarget {
  if (!!o.device === !!o.ubootConfig) throw new SalvorError('SALVOR_USAGE', 'give exactly one of --device PATH or --uboot-config FILE');
  return {
    device: o.device,
    ubootConfig: o.ubootConfig,
    stateDir: platform.stateDir,
    sectorSize: o.sectorSize,
    defaultsPath: o.defaults,
    lockTimeoutMs: o.lockTimeout,
  };
}

async function withStore<T>(o: TargetOpts, platform: CliPlatform, writable: boolean, fn: (s: NvramStore) => Promise<T>): Promise<T> {
  const store = await openStore({ ...target(o, platform), writable }, platform.openNvramDevice);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** check/recover on a device whose header and copy are both gone with no geometry recorded: exit 4, not an error. */
async function checkOrRecover(o: TargetOpts, platform: CliPlatform, out: Output, recover: boolean): Promise<ExitCode> {
  let report: CheckReport | RecoverReport;
  try {
    report = await withStore(o, platform, recover, (s) => (recover ? s.recover() : s.check()));
  } catch (err) {
    if (!(err instanceof SalvorError) || err.code !== 'SALVOR_CORRUPT' || !o.device) throw err;
    const r = unrecoverableReport(o.device, err.message, recover);
    out.result(r, () => `${o.device}: ${err.message}`);
    return Exit.uncorrected;
  }
  if (!recover) {
    out.result(report, () => describeCheck(report));
    return report.clean ? Exit.ok : Exit.uncorrected;
  }
  const r = report as RecoverReport;
  out.result(r, () => describeRecover(r));
  if (r.uncorrected.length || !r.clean) return Exit.uncorrected;
  const count = (k: string) => ((r[k] as unknown[] | number | undefined) === undefined ? 0 : typeof r[k] === 'number' ? (r[k] as number) : (r[k] as unknown[]).length);
  const changed = r.recovered.length > 0 || r.journal === 'rolled-forward' || r.journal === 'rolled-back' || count('restoredKeys') + count('lostKeys') + count('lostUnnamed') > 0;
  return changed ? Exit.corrected : Exit.ok;
}

export function registerNvram(program: Command, platform: CliPlatform): void {
  const nvram = program
    .command('nvram')
    .description('NVRAM corruption detection and recovery, and the key-value store on it')
    .addHelpText('after', `\nVerbs: format, check, recover, get, set, unset, list. Formats and exit codes: docs/cli.md, docs/formats/nvram.md.`);

  verb<TargetOpts & { size: number; force?: boolean }>(
    targetOptions(nvram.command('format').description('lay out a fresh NVRAM holding the defaults (creates an image file if PATH does not exist)'))
      .requiredOption('--size <bytes>', 'bytes the layout occupies (4K to 256M; K and M suffixes allowed)', (v) => parseSize(v, '--size'))
      .option('--sector-size <bytes>', 'sector size, a power of two from 256 to 65536 (default 256 below 64 KiB, else 4096)', (v) => parseSize(v, '--sector-size'))
      .option('--defaults <file>', 'JSON object of key values: the initial store, and what recovery falls back to')
      .option('--force', 'erase a device that already holds a salvor NVRAM'),
    async (o, out) => {
      const t = target(o, platform);
      if (t.ubootConfig) throw new SalvorError('SALVOR_USAGE', 'format lays out salvor-format devices; create U-Boot environments with mkenvimage');
      const r = await formatNvram(o.device!, platform.openNvramDevice, { size: o.size, sectorSize: o.sectorSize, defaultsPath: o.defaults, force: o.force, stateDir: platform.stateDir, lockTimeoutMs: o.lockTimeout });
      const capacity = r.geometry.dataSectors * (r.geometry.sectorSize - 8);
      out.result({ ...r, capacityBytes: capacity }, () =>
        `formatted ${r.device}: ${r.geometry.size} bytes, ${r.geometry.sectorSize}-byte sectors, ${r.geometry.dataSectors} data sectors (${capacity} bytes of store), ${r.defaults} default keys, generation ${r.generation}`,
      );
      return Exit.ok;
    },
  );

  verb<TargetOpts>(
    targetOptions(nvram.command('check').description('verify headers, every sector CRC and the store; exit 0 clean, 4 corruption found'), { hints: true }),
    (o, out) => checkOrRecover(o, platform, out, false),
  );
  verb<TargetOpts>(
    targetOptions(
      nvram.command('recover').description('repair: header from its copy, sectors from the spare store, else from defaults; exit 0 nothing to do, 1 recovered, 4 left uncorrected'),
      { hints: true },
    ),
    (o, out) => checkOrRecover(o, platform, out, true),
  );

  verb<TargetOpts>(
    targetOptions(nvram.command('get').argument('<key>').description('print one value (exit 16 if the key is not set, 4 if its entry is damaged)')),
    async (o, out, [key]) =>
      withStore(o, platform, false, async (s) => {
        const v = await damageIsExit4(out, () => s.get(key!));
        if (typeof v === 'number') return v;
        if (!v) throw new SalvorError('SALVOR_BAD_INPUT', `key '${key}' is not set in ${o.device ?? o.ubootConfig}`);
        out.result({ key, type: v.type, value: valueToJson(v) }, () => formatValue(v));
        return Exit.ok;
      }),
  );

  verb<TargetOpts & { type: ValueType }>(
    targetOptions(nvram.command('set').argument('<key>').argument('<value>').description('store a value atomically (old or new survives a power cut, never a mix)'))
      .addOption(new Option('--type <type>', 'value type: string, int (decimal or 0x hex, 64-bit), bytes (hex digits)').choices([...VALUE_TYPES]).default('string')),
    async (o, out, [key, text]) => {
      const value = parseCliValue(text!, o.type);
      await withStore(o, platform, true, (s) => s.set(key!, value));
      out.result({ key, type: value.type, value: valueToJson(value) }, () => '');
      return Exit.ok;
    },
  );

  verb<TargetOpts>(targetOptions(nvram.command('unset').argument('<key>').description('remove a key (exit 0 also when it was not set)')), async (o, out, [key]) => {
    const removed = await withStore(o, platform, true, (s) => s.unset(key!));
    out.result({ key, removed }, () => (removed ? '' : `key '${key}' was not set`));
    return Exit.ok;
  });

  verb<TargetOpts>(targetOptions(nvram.command('list').description('print every key and value (exit 4 when entries are damaged: the readable ones are printed, the damaged named)')), async (o, out) =>
    withStore(o, platform, false, async (s) => {
      let entries: NvramEntry[];
      let damage: Record<string, unknown> = {};
      try {
        entries = await s.list();
      } catch (err) {
        if (!(err instanceof DamagedStoreError)) throw err;
        entries = [...err.entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        damage = { damagedKeys: err.damagedKeys, unnamedDamage: err.unnamedDamage };
        out.note(`salvor: ${err.message}`);
      }
      out.result({ entries: entries.map((e) => ({ key: e.key, type: e.value.type, value: valueToJson(e.value) })), ...damage }, () =>
        entries.map((e) => `${e.key}=${formatValue(e.value)}`).join('\n'),
      );
      return 'damagedKeys' in damage ? Exit.uncorrected : Exit.ok;
    }),
  );
}

/** A damaged entry is reported as damaged: one error line (and {"error"} with --json), exit 4. */
async function damageIsExit4<T>(out: Output, read: () => Promise<T>): Promise<T | ExitCode> {
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof DamagedStoreError)) throw err;
    reportError(err, out.json);
    return Exit.uncorrected;
  }
}
