import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../state-file/write-file-atomic';

/**
 * What a replication node keeps in its state directory (STATE/replicate/): the highest term it has
 * seen, the last epoch a primary on it cut, and a status file per running process that
 * `salvor replicate status` reads.
 */

/** The term a node starts from: the highest it has recorded in the state directory. */
export async function recordedTerm(stateDir: string): Promise<bigint> {
  try {
    return BigInt((await readFile(join(stateDir, 'replicate', 'term'), 'utf8')).trim());
  } catch {
    return 0n;
  }
}

export async function recordTerm(stateDir: string, term: bigint): Promise<void> {
  await mkdir(join(stateDir, 'replicate'), { recursive: true });
  await writeFileAtomic(join(stateDir, 'replicate', 'term'), `${term}\n`);
}

/** The last epoch a primary on this node cut (epochs continue across restarts of a primary). */
export async function recordedEpoch(stateDir: string): Promise<number> {
  try {
    return Number((await readFile(join(stateDir, 'replicate', 'epoch'), 'utf8')).trim()) || 0;
  } catch {
    return 0;
  }
}

/** Keeps $STATE/replicate/<role>-<pid>.json current, for `salvor replicate status`. */
export function statusWriter(stateDir: string, role: string, status: () => Record<string, unknown>): (changingRole?: boolean) => Promise<void> {
  const file = join(stateDir, 'replicate', `${role}-${process.pid}.json`);
  let stopped = false;
  const write = async () => {
    await mkdir(join(stateDir, 'replicate'), { recursive: true });
    const now = status();
    await writeFileAtomic(file, JSON.stringify({ pid: process.pid, updated: new Date().toISOString(), ...now }) + '\n', { mode: 0o644 });
    if (role === 'primary') await writeFileAtomic(join(stateDir, 'replicate', 'epoch'), `${String(now.epoch)}\n`);
  };
  const timer = setInterval(() => void write().catch(() => undefined), 500);
  void write().catch(() => undefined);
  // `changingRole`: this process goes on in another role (a promoted standby), so its file in this role goes.
  return async (changingRole = false) => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    if (changingRole) await rm(file, { force: true });
    else await write().catch(() => undefined);
  };
}

export interface NodeStatus {
  role: string;
  pid: number;
  running: boolean;
  term: string;
  epoch: number;
  detail?: string;
  [k: string]: unknown;
}

/** What every replication process that used this state directory last wrote about itself. */
export async function readStatus(stateDir: string): Promise<{ nodes: NodeStatus[] }> {
  const dir = join(stateDir, 'replicate');
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => /^(primary|standby)-\d+\.json$/.test(n));
  } catch {
    return { nodes: [] };
  }
  const nodes: NodeStatus[] = [];
  for (const name of names) {
    try {
      const s = JSON.parse(await readFile(join(dir, name), 'utf8')) as NodeStatus;
      let running = true;
      try {
        process.kill(s.pid, 0);
      } catch {
        running = false;
      }
      const standbys = (s.standbys as { standby: string; phase: string }[] | undefined)?.map((x) => `${x.standby}:${x.phase}`).join(', ');
      nodes.push({ ...s, running, detail: standbys ? `standbys ${standbys}` : s.role === 'standby' ? `in-sync ${String(s.inSync)}` : '' });
    } catch {
      // a file being replaced right now: the next call reads it
    }
  }
  // One role per process: a file its earlier role left behind (a crash mid-promotion) gives way to its newest.
  const newest = new Map<number, NodeStatus>();
  for (const n of nodes) {
    const seen = newest.get(n.pid);
    if (!seen || String(n.updated ?? '') > String(seen.updated ?? '')) newest.set(n.pid, n);
  }
  return { nodes: [...newest.values()].sort((x, y) => Number(y.running) - Number(x.running) || x.pid - y.pid) };
}
