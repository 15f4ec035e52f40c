/**
 * Link fault injection, part of the product so the shipping binary can be tested on a bad link:
 *
 *   SALVOR_LINK_FAULT="drop=P,dup=P,corrupt=P,reorder=P,delay=MS,seed=N"
 *
 * Every key is optional; P is a probability 0..1 (the four add up to at most 1), MS a delay in
 * milliseconds, N an unsigned 32-bit seed (default 1) so a failing run can be replayed. Backends read it
 * when they create a link (linkFaultsFromEnv): each link of a process draws from its own stream, the
 * seed mixed with the link's number in this process (1, 2, ...), so a reconnect does not meet the
 * same faults at the same frames again, and a run started the same way replays. Then per unit they send (a frame on TCP, a packet on serial) either pass
 * it through apply(), which drops, repeats, corrupts, holds back and delays it, or ask decide() and
 * act on the decision themselves.
 */
import { SalvorError } from '../../bindings/salvor-error';

export const LINK_FAULT_VARIABLE = 'SALVOR_LINK_FAULT';

export interface LinkFaultPlan {
  drop: number;
  dup: number;
  corrupt: number;
  reorder: number;
  /** Every write waits this long (ms) before it reaches the medium; 0 for none. */
  delayMs: number;
  seed: number;
}

export type LinkFaultDecision = 'pass' | 'drop' | 'dup' | 'corrupt' | 'reorder';

const PROBABILITIES = ['drop', 'dup', 'corrupt', 'reorder'] as const;

function usage(spec: string, what: string): SalvorError {
  return new SalvorError('SALVOR_USAGE', `${LINK_FAULT_VARIABLE}='${spec}': ${what} (expected drop=P,dup=P,corrupt=P,reorder=P,delay=MS,seed=N)`);
}

/** The plan in env.SALVOR_LINK_FAULT, or undefined when it is unset or empty. Throws SALVOR_USAGE when malformed. */
export function parseLinkFaults(env: NodeJS.ProcessEnv = process.env): LinkFaultPlan | undefined {
  const spec = env[LINK_FAULT_VARIABLE];
  if (spec === undefined || spec.trim() === '') return undefined;
  const plan: LinkFaultPlan = { drop: 0, dup: 0, corrupt: 0, reorder: 0, delayMs: 0, seed: 1 };
  const seen = new Set<string>();
  for (const item of spec.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*([^\s,]+)\s*$/.exec(item);
    if (!m) throw usage(spec, `'${item}' is not key=value`);
    const [, key, text] = m as unknown as [string, string, string];
    if (seen.has(key)) throw usage(spec, `${key} is given twice`);
    seen.add(key);
    const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
    if ((PROBABILITIES as readonly string[]).includes(key)) {
      if (!(value >= 0 && value <= 1)) throw usage(spec, `${key}=${text} is not a probability 0..1`);
      plan[key as (typeof PROBABILITIES)[number]] = value;
    } else if (key === 'delay') {
      if (!Number.isInteger(value) || value > 60_000) throw usage(spec, `delay=${text} is not a whole number of milliseconds 0..60000`);
      plan.delayMs = value;
    } else if (key === 'seed') {
      if (!Number.isInteger(value) || value > 0xffffffff) throw usage(spec, `seed=${text} is not an unsigned 32-bit integer`);
      plan.seed = value;
    } else throw usage(spec, `unknown key '${key}'`);
  }
  const sum = PROBABILITIES.reduce((s, k) => s + plan[k], 0);
  if (sum > 1 + 1e-9) throw usage(spec, `the probabilities add up to ${sum}, more than 1`);
  return plan;
}

/** Small deterministic PRNG (mulberry32): uniform in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Links made with fault injection by this process so far: the next one draws from stream linksMade + 1. */
let linksMade = 0;

/** The seed of stream `index` of `seed`: distinct streams for distinct indexes (a splitmix32 step over both). */
export function linkSeed(seed: number, index: number): number {
  let z = (seed ^ Math.imul(index, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * The injector for a new link under env.SALVOR_LINK_FAULT (undefined when unset), drawing from this
 * process's next stream of the plan's seed. Throws SALVOR_USAGE when the plan is malformed.
 */
export function linkFaultsFromEnv(env: NodeJS.ProcessEnv = process.env): LinkFaultInjector | undefined {
  const plan = parseLinkFaults(env);
  if (!plan) return undefined;
  linksMade++;
  return new LinkFaultInjector(plan, linkSeed(plan.seed, linksMade));
}

/** Decides, unit by unit, what the plan does to the traffic of one link. */
export class LinkFaultInjector {
  readonly random: () => number;
  /** The unit a 'reorder' holds back until the next one is written. */
  private heldBack: Buffer | undefined;
  private delayed = new Map<NodeJS.Timeout, { resolve: () => void; reject: (err: Error) => void }>();

  /** `seed`: the stream to draw from (default: the plan's seed itself). */
  constructor(
    readonly plan: LinkFaultPlan,
    seed = plan.seed,
  ) {
    this.random = seededRandom(seed);
  }

  get delayMs(): number {
    return this.plan.delayMs;
  }

  /** One draw: drop, dup, corrupt and reorder take consecutive slices of [0, 1), the rest passes. */
  decide(): LinkFaultDecision {
    const r = this.random();
    let edge = 0;
    for (const kind of PROBABILITIES) {
      edge += this.plan[kind];
      if (r < edge) return kind;
    }
    return 'pass';
  }

  /**
   * Sends one unit through `write` as the plan says: not at all (drop), twice (dup), with a byte flipped
   * (corrupt), after the next unit (reorder), each write `delay` ms late. Resolves as `write` does for
   * the unit, or at once when the unit is dropped or held back.
   */
  apply(unit: Buffer, write: (bytes: Buffer) => Promise<void>): Promise<void> {
    const decision = this.decide();
    if (decision === 'drop') return Promise.resolve();
    if (decision === 'reorder' && !this.heldBack) {
      this.heldBack = unit;
      return Promise.resolve();
    }
    const send = (bytes: Buffer) => (this.plan.delayMs > 0 ? this.later(bytes, write) : write(bytes));
    const written = send(decision === 'corrupt' ? this.corrupt(unit) : unit);
    if (decision === 'dup') void send(unit).catch(() => {});
    if (this.heldBack) {
      void send(this.heldBack).catch(() => {});
      this.heldBack = undefined;
    }
    return written;
  }

  /** Drops the writes still waiting out their delay (their promises reject with `err`): for a closing link. */
  cancel(err: Error): void {
    for (const [timer, waiter] of this.delayed) {
      clearTimeout(timer);
      waiter.reject(err);
    }
    this.delayed.clear();
    this.heldBack = undefined;
  }

  /** Equal delays fire in the order they were set, so delayed units keep their order. */
  private later(bytes: Buffer, write: (bytes: Buffer) => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.delayed.delete(timer);
        write(bytes).then(resolve, reject);
      }, this.plan.delayMs);
      this.delayed.set(timer, { resolve, reject });
    });
  }

  /** A copy of `bytes` with one byte flipped at a random position (the input is left alone). */
  corrupt(bytes: Uint8Array): Buffer {
    const out = Buffer.from(bytes);
    if (out.length === 0) return out;
    const at = Math.floor(this.random() * out.length);
    out[at] = out[at]! ^ (1 + Math.floor(this.random() * 255));
    return out;
  }
}
