import { z } from 'zod';

/**
 * The daemon's config file (docs/config.md documents every key with its default). Unknown keys are
 * refused: a typo in an appliance's config must not silently fall back to a default.
 */
const ms = (fallback: number) => z.number().int().positive().default(fallback);
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected HOST:PORT, for example 127.0.0.1:9310');
const url = z.string().regex(/^(tcp|serial):\/\//, 'expected tcp://HOST:PORT or serial:///dev/ttyX?baud=N');

export const nvramSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** A salvor-format device; absent with no ubootConfig: a simulated image STATE/nvram.img. */
  device: z.string().min(1).optional(),
  ubootConfig: z.string().min(1).optional(),
  /** Defaults JSON for formatting the simulated image and for rebuilds. */
  defaults: z.string().min(1).optional(),
  checkIntervalMs: ms(60_000),
  autoRecover: z.boolean().default(true),
  /** Count boots in this key (int) at each start; empty: do not count. */
  bootCountKey: z.string().default('boot_count'),
});

export const replicationSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** local-pair: a primary and a standby in this daemon over loopback (the embedded default). */
  role: z.enum(['local-pair', 'primary', 'standby']).default('local-pair'),
  region: z.string().min(1).optional(),
  regionSize: z.number().int().positive().multipleOf(4096).default(4 * 1024 * 1024),
  replica: z.string().min(1).optional(),
  listen: z.array(url).min(1).optional(),
  connect: z.array(url).min(1).optional(),
  pskFile: z.string().min(1).optional(),
  ack: z.enum(['async', 'received', 'persisted']).default('received'),
  intervalMs: ms(100),
  timeoutMs: ms(1000),
  maxDowntimeMs: ms(300),
  maxRounds: ms(30),
  /** A simulated application writing a few pages of the region every interval (local-pair only). */
  simulatedWriter: z.boolean().default(true),
});

export const leakSchema = z.strictObject({
  enabled: z.boolean().default(true),
  intervalMs: ms(5000),
  pids: z.array(z.number().int().positive()).default([]),
  cgroups: z.array(z.string().min(1)).default([]),
  /** Every process of this machine (not only listed pids). */
  all: z.boolean().default(false),
  /** Watch the daemon's own process too. */
  self: z.boolean().default(true),
});

export const teeSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** sim: the simulated TEE OS in a child process (secure storage under STATE/tee/sim); linux: /dev/teeN. */
  backend: z.enum(['sim', 'linux']).default('sim'),
  keys: z
    .array(z.strictObject({ name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1 to 64 of A-Z a-z 0-9 _ . -'), alg: z.enum(['ed25519', 'ecdsa-p256']).default('ed25519') }))
    .min(1)
    .default([{ name: 'device', alg: 'ed25519' }]),
  /** Deadline of one call into the TEE: past it the call is cancelled and counted as a hang. */
  callTimeoutMs: ms(1000),
  /** Deadline of a TEE OS restart, from stop to answering again. */
  restartTimeoutMs: ms(30_000),
  /** How long a signature stays remembered by its idempotency key. */
  resultWindowMs: ms(600_000),
  maxInFlight: ms(8),
  /** The Linux backend: the TEE driver's client device, how to restart the TEE OS, where its hardware status lives. */
  linux: z
    .strictObject({
      device: z.string().min(1).default('/dev/tee0'),
      remoteproc: z.string().min(1).optional(),
      restartCommand: z.array(z.string().min(1)).min(1).optional(),
      hardwareStatus: z.array(z.strictObject({ name: z.string().min(1), path: z.string().min(1), readOnly: z.boolean().default(false) })).default([]),
    })
    .prefault({}),
  crashLoop: z
    .strictObject({
      /** Give up (and report for a platform reboot) when more crashes than this fall in windowMs. */
      maxCrashes: ms(10),
      windowMs: ms(60_000),
      backoffInitialMs: ms(50),
      backoffMaxMs: ms(2000),
    })
    .prefault({}),
});

export const configSchema = z.strictObject({
  stateDir: z.string().min(1).optional(),
  log: z.strictObject({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info') }).prefault({}),
  http: z
    .strictObject({
      enabled: z.boolean().default(true),
      listen: hostPort.default('127.0.0.1:9310'),
    })
    .prefault({}),
  control: z.strictObject({ socket: z.string().min(1).optional() }).prefault({}),
  supervisor: z
    .strictObject({
      healthIntervalMs: ms(5000),
      restartInitialMs: ms(500),
      restartMaxMs: ms(30_000),
      /** A capability up this long has its backoff reset. */
      stableAfterMs: ms(60_000),
      stopTimeoutMs: ms(10_000),
    })
    .prefault({}),
  capabilities: z
    .strictObject({
      nvram: nvramSchema.prefault({}),
      replication: replicationSchema.prefault({}),
      leak: leakSchema.prefault({}),
      tee: teeSchema.prefault({}),
    })
    .prefault({}),
});

export type AgentConfig = z.infer<typeof configSchema>;
export type NvramConfig = z.infer<typeof nvramSchema>;
export type ReplicationConfig = z.infer<typeof replicationSchema>;
export type LeakConfig = z.infer<typeof leakSchema>;
export type TeeConfig = z.infer<typeof teeSchema>;
