import type { ReplicationEvent } from './primary';

/**
 * The replication event stream of `salvor replicate primary|standby` (docs/cli.md lists every event
 * and its fields): what the replication code emits, and what the transports log about connections,
 * in one stream. Each event gets `time` when printed.
 */

/**
 * A transport's log line as a replication event, or undefined when replication reports the same thing
 * itself with more to say: a transport's `link-up` knows no role (data or heartbeat) and no standby
 * name; replication's `link-up` follows the hello that tells both.
 */
export function transportEvent(line: Record<string, unknown>): ReplicationEvent | undefined {
  const event = String(line.event ?? 'link-log');
  if (event === 'link-up') return undefined;
  return { ...line, event };
}

const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));

/** One line of human text per event: what happened, then the details that matter. */
const describe: Record<string, (e: ReplicationEvent) => string> = {
  serving: (e) => `serving ${(e.urls as string[] | undefined)?.join(' ') ?? str(e.url)}: region ${str(e.region)}, term ${str(e.term)}, tracker ${str(e.tracker)}, ack ${str(e.ackMode)}`,
  'waiting-for-address': (e) => `waiting for ${str(e.url)}: ${str(e.reason)}`,
  'link-up': (e) => `${str(e.role)} link up: ${str(e.url)}${e.peer ? ` (peer ${str(e.peer)})` : ''}${e.standby ? ` standby ${str(e.standby)}` : ''}`,
  'link-down': (e) => `${str(e.role)} link down: ${str(e.url ?? e.standby)}${e.reason ? `: ${str(e.reason)}` : ''}`,
  'link-failed': (e) => `link to ${str(e.peer)} failed (${str(e.code)}): ${str(e.reason)}`,
  'auth-refused': (e) => (e.side === 'client' ? `refused by ${str(e.peer)}: ${str(e.reason)}` : `refused ${str(e.peer)}: ${str(e.reason)}`),
  'link-refused': (e) => `refused ${str(e.peer)}: ${str(e.reason)}`,
  'handshake-timeout': (e) => `no handshake from ${str(e.peer)} in time`,
  'listener-error': (e) => `listener ${str(e.url)}: ${str(e.reason)}`,
  joined: (e) =>
    e.standby !== undefined
      ? `standby ${str(e.standby)} joined from ${str(e.peer)}: ${str(e.plan)} copy, ${str(e.pagesToSend)} pages to send (it held epoch ${str(e.heldEpoch)})`
      : `joined primary ${str(e.primary)} (term ${str(e.term)}): ${str(e.plan)} copy, ${str(e.pagesToSend)} pages to receive`,
  round: (e) => `join round ${str(e.n)} for ${str(e.standby)}: ${str(e.remainingPages)} pages left, ${str(e.dirtyPages)} dirtied`,
  progress: (e) => `join: ${str(e.pages)} of ${str(e.of)} pages received`,
  'in-sync': (e) => (e.standby !== undefined ? `standby ${str(e.standby)} in sync at epoch ${str(e.epoch)}` : `in sync at epoch ${str(e.epoch)} (term ${str(e.term)})`),
  epoch: (e) =>
    e.standby !== undefined
      ? `epoch ${str(e.epoch)} ${e.acked ? `acked (${str(e.level)}) by ${str(e.standby)}${e.lagMs !== undefined ? `, lag ${str(e.lagMs)} ms` : ''}` : `sent to ${str(e.standby)}`}`
      : `epoch ${str(e.epoch)} committed${e.acked ? `, acked (${str(e.level)})` : ''}`,
  throttle: (e) => `writer asked to pause ${Math.round(Number(e.pauseFraction) * 100)}% of the time (for ${str(e.standby)})`,
  resync: (e) => `standby ${str(e.standby)} resyncs: ${str(e.reason)}`,
  'standby-lost': (e) => `standby ${str(e.standby)} lost: ${str(e.reason)}`,
  'standby-gone': (e) => `standby ${str(e.standby)} gone: ${str(e.reason)}`,
  'standby-error': (e) => `standby ${str(e.standby)}: ${str(e.message)}`,
  'not-converging': (e) => `standby ${str(e.standby)} not converging after ${str(e.rounds)} rounds (${str(e.remainingPages)} pages left): join abandoned`,
  'primary-unreachable': (e) => `primary unreachable (${str(e.cause)}): ${str(e.reason)}; silent ${str(e.silentMs)} ms, next try in ${str(e.retryInMs)} ms`,
  failover: (e) => `failover: promoted to primary with term ${str(e.term)} at epoch ${str(e.epoch)} (was ${str(e.from)})`,
  demoted: (e) => `demoted: ${str(e.by)} holds term ${str(e.term)} (${str(e.reason)})`,
  error: (e) => `error: ${str(e.message)}`,
};

/** The event as one line of human text (never raw JSON). */
export function describeEvent(e: ReplicationEvent): string {
  const d = describe[e.event];
  if (d) return d(e);
  const rest = Object.entries(e)
    .filter(([k, v]) => k !== 'event' && k !== 'time' && v !== undefined)
    .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return [e.event, ...rest].join(', ');
}

/** The events documented in docs/cli.md (a test holds the code and the docs to this list). */
export const REPLICATION_EVENTS = Object.keys(describe);
