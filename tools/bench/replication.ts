/**
 * Join of a 256 MiB region while a writer dirties 1 % of its pages per second, over loopback TCP with
 * TLS-PSK, against one full copy of the same 256 MiB through the same kind of link (the anchor). Then,
 * in the same run, the steady-state replication lag at the 100 ms interval: from the cut of an epoch to
 * the standby's ack (ack mode received), median and p99 over 100 epochs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegion } from '../../index';
import type { Link } from '../../lib/transport/link';
import { Primary, type ReplicationEvent } from '../../lib/replication/primary';
import { ReplicaStore } from '../../lib/replication/replica-store';
import { Standby } from '../../lib/replication/standby';
import type { TrackedRegion } from '../../lib/replication/tracked-region';
import { tcpTransport } from '../../platform/linux/transport-tcp';
import type { Benchmark } from './run';

const MIB = 1024 * 1024;
const REGION = Number(process.env.SALVOR_BENCH_REPLICATION_MIB ?? 256) * MIB;
const PAGE = 4096;
const psk = Buffer.from('salvor benchmark pre-shared key, 32b');
const link = { psk, identity: 'bench', timeoutMs: 5000 };

let region: TrackedRegion | undefined;
let primary: Primary | undefined;
let writer: NodeJS.Timeout | undefined;
let url = '';
let dir = '';
const lags: number[] = [];

async function startPrimary(): Promise<void> {
  if (primary) return;
  dir = mkdtempSync(join(tmpdir(), 'salvor-bench-repl-'));
  region = await openRegion({ size: REGION });
  region.buffer.fill(7);
  const listener = await tcpTransport.listen(new URL('tcp://127.0.0.1:0'), link);
  url = listener.url;
  primary = await Primary.start({
    region,
    listener,
    identity: 'bench-primary',
    term: 1n,
    ackMode: 'received',
    emit: (e: ReplicationEvent) => {
      if (e.event === 'epoch' && typeof e.lagMs === 'number') lags.push(e.lagMs);
    },
  });
  // 1 % of the pages per second, spread over the interval
  const pages = REGION / PAGE;
  const perTick = Math.max(1, Math.round(pages * 0.01 * 0.01));
  const buf = region.buffer;
  writer = setInterval(() => {
    for (let i = 0; i < perTick; i++) buf[Math.floor(Math.random() * pages) * PAGE + (i & 4095)] ^= 1;
  }, 10);
}

let joins = 0;
/** One join: a fresh standby connects and runs until it is in sync, then leaves. */
async function joinOnce(): Promise<void> {
  await startPrimary();
  const replicaPath = join(dir, `replica-${joins++}.bin`);
  const replica = await ReplicaStore.open(replicaPath);
  let synced!: () => void;
  const inSync = new Promise<void>((r) => (synced = r));
  const standby = new Standby({
    connect: () => tcpTransport.connect(new URL(url), link),
    replica,
    identity: `bench-standby-${joins}`,
    emit: (e) => {
      if (e.event === 'in-sync') synced();
    },
  });
  const running = standby.run();
  await inSync;
  await standby.stop();
  await running;
  await replica.close();
  rmSync(replicaPath, { force: true });
  rmSync(`${replicaPath}.meta.json`, { force: true });
}

/**
 * The anchor: one full copy: 256 MiB in 1 MiB frames through one TLS-PSK link, each written to a file at
 * the far end with a positional write issued as it arrives (writes overlap receiving, as the standby's
 * do; chaining them one after another made the anchor slower than a join), until the file holds it all.
 */
async function fullCopyOnce(): Promise<void> {
  const listener = await tcpTransport.listen(new URL('tcp://127.0.0.1:0'), link);
  const target = await open(join(dir, 'full-copy.bin'), 'w');
  const received = new Promise<void>((resolve) =>
    listener.onLink((l: Link) => {
      let got = 0;
      const writes: Promise<unknown>[] = [];
      l.onFrame((f) => {
        writes.push(target.write(f.payload, 0, f.payload.length, got));
        got += f.payload.length;
        if (got >= REGION) void Promise.all(writes).then(() => resolve());
      });
    }),
  );
  const client = await tcpTransport.connect(new URL(listener.url), link);
  const chunk = Buffer.alloc(MIB, 7);
  for (let sent = 0; sent < REGION; sent += MIB) await client.send(0x03, chunk, 1n);
  await received;
  await target.close();
  await client.close();
  await listener.close();
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Steady state: one standby in sync for about 100 epochs; the lag its acks report. */
async function measureLag(): Promise<number[]> {
  const replica = await ReplicaStore.open(join(dir, 'steady.bin'));
  let synced!: () => void;
  const inSync = new Promise<void>((r) => (synced = r));
  const standby = new Standby({
    connect: () => tcpTransport.connect(new URL(url), link),
    replica,
    identity: 'steady',
    emit: (e) => {
      if (e.event === 'in-sync') synced();
    },
  });
  const running = standby.run();
  await inSync;
  lags.length = 0;
  await new Promise((r) => setTimeout(r, 10_500));
  const sample = [...lags];
  await standby.stop();
  await running;
  await replica.close();
  return sample;
}

let lagSample: number[] = [];

export const replicationBenchmark: Benchmark = {
  name: 'replication',
  title: `join of a ${REGION / MIB} MiB region with 1 % of pages written per second, vs one full copy over the same TLS-PSK link; then steady-state lag`,
  target: { kind: 'time-ratio', value: 1.3 },
  setup: async () => {
    await startPrimary();
    lagSample = await measureLag();
    return {
      subject: { label: 'join until in-sync', bytes: REGION, run: joinOnce },
      anchor: { label: 'one full copy (1 MiB frames)', bytes: REGION, run: fullCopyOnce },
    };
  },
  summarize: () => {
    const median = percentile(lagSample, 50);
    const p99 = percentile(lagSample, 99);
    return {
      lines: [`steady-state lag over ${lagSample.length} epochs at the 100 ms interval (cut to standby ack): median ${median} ms, p99 ${p99} ms`],
      json: { lagEpochs: lagSample.length, lagMedianMs: median, lagP99Ms: p99 },
    };
  },
  teardown: () => {
    if (writer) clearInterval(writer);
    void primary?.stop();
    region?.close();
    primary = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
  },
};
