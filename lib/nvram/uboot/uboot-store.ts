import { SalvorError } from '../../../bindings/salvor-error';
import type { DeviceOpener } from '../device';
import type { CheckReport, HeaderOutcome, NvramEntry, NvramStore, NvramValue, RecoverReport, SectorFinding } from '../store';
import { EnvCopies } from './env-copies';
import {
  activeCopy,
  dataCapacity,
  decodeEnvCopy,
  encodeEnvCopy,
  envDataLength,
  nextSerial,
  olderSerial,
  sortedVariables,
  type DecodedCopy,
  type EnvVariables,
} from './env-image';
import { displayName, envName, envValue, nvramValue, variablesFromDefaults } from './env-values';
import { readUbootConfig } from './fw-env-config';

export interface UbootStoreOptions {
  writable: boolean;
  /** Variables for a fresh environment when no copy is valid (recover). */
  defaults?: Record<string, string>;
  /** How long a write waits for another salvor process's device lock. */
  lockTimeoutMs?: number;
}

/** The environment as read now: each copy's image and decoding, and which copy is active. */
interface EnvState {
  images: Buffer[];
  copies: DecodedCopy[];
  active: number | undefined;
}

const defaultLockTimeoutMs = 5000;

/**
 * A U-Boot environment (single or redundant, per fw_env.config) as an NvramStore. Writes follow
 * U-Boot's power-safe scheme: the inactive copy is rewritten with serial = active + 1 and flushed, so
 * the old copy stays intact until the new one is complete. A single copy is rewritten in place.
 */
class UbootStore implements NvramStore {
  readonly format = 'uboot' as const;

  constructor(
    private readonly env: EnvCopies,
    private readonly writable: boolean,
    private readonly defaults: EnvVariables | undefined,
    private readonly lockTimeoutMs: number,
  ) {}

  private async readState(): Promise<EnvState> {
    const images: Buffer[] = [];
    for (let i = 0; i < this.env.locations.length; i++) images.push(await this.env.readImage(i));
    const copies = images.map((image) => decodeEnvCopy(image, this.env.redundant));
    return { images, copies, active: activeCopy(copies) };
  }

  /** The active copy's variables, or SALVOR_CORRUPT when no copy is valid. */
  private activeVariables(state: EnvState): EnvVariables {
    const copy = state.active === undefined ? undefined : state.copies[state.active];
    if (!copy?.valid)
      throw new SalvorError(
        'SALVOR_CORRUPT',
        `U-Boot environment on ${this.env.deviceNames} has no valid copy (CRC mismatch); run \`salvor nvram recover\``,
        { path: this.env.locations[0].device },
      );
    return copy.variables;
  }

  private async beginWrite(what: string): Promise<EnvState> {
    if (!this.writable) throw new SalvorError('SALVOR_USAGE', `cannot ${what}: U-Boot environment on ${this.env.deviceNames} was opened read-only`);
    await this.env.lockForWrite(this.lockTimeoutMs);
    return this.readState(); // re-read under the lock: another writer may have finished meanwhile
  }

  private encodeChecked(variables: EnvVariables, serial: number, what: string): Buffer {
    const needed = envDataLength(variables);
    const capacity = dataCapacity(this.env.envSize, this.env.redundant);
    if (needed > capacity)
      throw new SalvorError(
        'SALVOR_BAD_INPUT',
        `${what} does not fit the U-Boot environment on ${this.env.deviceNames}: the variables need ${needed} bytes, ` +
          `the data area holds ${capacity} (envsize 0x${this.env.envSize.toString(16)}); nothing was written`,
      );
    return encodeEnvCopy(variables, this.env.envSize, this.env.redundant, serial);
  }

  /** Saves a new variable set: the inactive copy with the next serial, or the only copy in place. */
  private async save(state: EnvState, variables: EnvVariables, what: string): Promise<void> {
    const active = state.active as number;
    if (!this.env.redundant) {
      await this.env.writeImage(0, this.encodeChecked(sortedVariables(variables), 0, what));
      return;
    }
    const serial = nextSerial(state.copies[active].serial ?? 0);
    await this.env.writeImage(1 - active, this.encodeChecked(sortedVariables(variables), serial, what));
  }

  private findings(state: EnvState): CheckReport {
    const redundant = this.env.redundant;
    const badSectors: SectorFinding[] = [];
    state.copies.forEach((copy, i) => {
      if (copy.valid) return;
      const other = redundant ? state.copies[1 - i] : undefined;
      badSectors.push({ sector: i, source: other?.valid ? 'redundant-copy' : this.defaults ? 'defaults' : 'none' });
    });
    let header: HeaderOutcome;
    if (badSectors.length === 0) header = 'ok';
    else if (state.active !== undefined) header = 'recovered-from-copy';
    else header = this.defaults ? 'rebuilt-from-defaults' : 'unrecoverable';
    const copyState = redundant ? (state.copies[1].valid ? 'ok' : 'bad') : 'absent';
    return {
      format: 'uboot',
      device: this.env.locations[0].device,
      header,
      headers: { primary: state.copies[0].valid ? 'ok' : 'bad', copy: copyState },
      badSectors,
      clean: badSectors.length === 0,
      active: state.active ?? null,
      serials: redundant ? state.copies.map((c) => (c.valid ? (c.serial ?? null) : null)) : [],
      redundant,
      envSize: this.env.envSize,
      config: this.env.config.path,
      copies: this.env.locations.map((l) => ({ device: l.device, offset: l.offset })),
    };
  }

  async check(): Promise<CheckReport> {
    return this.findings(await this.readState());
  }

  async recover(): Promise<RecoverReport> {
    const state = await this.beginWrite('recover');
    const report = this.findings(state);
    const recovered: SectorFinding[] = [];
    const uncorrected: SectorFinding[] = [];
    for (const bad of report.badSectors) {
      if (bad.source === 'none') uncorrected.push(bad);
    }
    if (state.active !== undefined) {
      // Copy the good image verbatim with a losing serial: the CRC covers only the data, so it stays valid.
      const goodSerial = state.copies[state.active].serial ?? 0;
      for (const bad of report.badSectors) {
        const image = Buffer.from(state.images[state.active]);
        if (this.env.redundant) image[4] = olderSerial(goodSerial);
        await this.env.writeImage(bad.sector, image);
        recovered.push(bad);
      }
    } else if (this.defaults) {
      // Copy 0 first, flushed, with the winning serial: a cut while writing copy 1 leaves copy 0 in charge.
      const fresh = sortedVariables(this.defaults);
      const serials = [1, 0];
      for (const bad of report.badSectors) {
        await this.env.writeImage(bad.sector, this.encodeChecked(fresh, serials[bad.sector], 'the defaults'));
        recovered.push(bad);
      }
    }
    return { ...report, recovered, uncorrected };
  }

  async get(key: string): Promise<NvramValue | undefined> {
    const variables = this.activeVariables(await this.readState());
    const stored = variables.get(Buffer.from(key, 'utf8').toString('latin1'));
    return stored === undefined ? undefined : nvramValue(stored);
  }

  async list(): Promise<NvramEntry[]> {
    const variables = sortedVariables(this.activeVariables(await this.readState()));
    return [...variables].map(([name, value]) => ({ key: displayName(name), value: nvramValue(value) }));
  }

  async set(key: string, value: NvramValue): Promise<void> {
    const name = envName(key);
    const stored = envValue(key, value);
    const state = await this.beginWrite(`set '${key}'`);
    const variables = new Map(this.activeVariables(state));
    variables.set(name, stored);
    await this.save(state, variables, `'${key}' (${stored.length} bytes)`);
  }

  async unset(key: string): Promise<boolean> {
    const state = await this.beginWrite(`unset '${key}'`);
    const variables = new Map(this.activeVariables(state));
    if (!variables.delete(Buffer.from(key, 'utf8').toString('latin1'))) return false;
    await this.save(state, variables, `the environment without '${key}'`);
    return true;
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}

/**
 * Opens the U-Boot environment that the fw_env.config at `configPath` describes, opening its
 * device(s) only through `opener`. Bad config or defaults: SALVOR_BAD_INPUT.
 */
export async function openUbootStore(configPath: string, opener: DeviceOpener, options: UbootStoreOptions): Promise<NvramStore> {
  const config = await readUbootConfig(configPath);
  const defaults = options.defaults === undefined ? undefined : variablesFromDefaults(options.defaults);
  const env = await EnvCopies.open(config, opener, options.writable);
  try {
    if (defaults) {
      const needed = envDataLength(defaults);
      const capacity = dataCapacity(env.envSize, env.redundant);
      if (needed > capacity)
        throw new SalvorError(
          'SALVOR_BAD_INPUT',
          `the defaults need ${needed} bytes, more than the ${capacity}-byte data area of the U-Boot environment in ${configPath}`,
          { path: configPath },
        );
    }
  } catch (err) {
    await env.close();
    throw err;
  }
  return new UbootStore(env, options.writable, defaults, options.lockTimeoutMs ?? defaultLockTimeoutMs);
}
