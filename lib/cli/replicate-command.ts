import { hostname } from 'node:os';
import { Command, Option } from 'commander';
import { SalvorError } from '../../bindings/salvor-error';
import { parseCount, parseDuration, verb } from './command';
import { Exit } from './exit-codes';
import type { Output } from './output';
import { progress, type Progress } from './progress';
import type { CliPlatform } from './platform';
import type { LinkOptions } from '../transport/link';
import { readPskFile } from '../transport/psk-file';
import { runPrimary, runStandby, readStatus, type ReplicateSettings } from '../replication/replicate-runner';
import { describeEvent, transportEvent } from '../replication/events';
import type { ReplicationEvent } from '../replication/primary';
import { reportError } from './output';

interface CommonOpts {
  pskFile?: string;
  interval: number;
  timeout: number;
  identity?: string;
  json?: boolean;
}

async function linkOptions(o: CommonOpts, platform: CliPlatform, print: (e: ReplicationEvent) => void): Promise<LinkOptions> {
  const identity = o.identity ?? hostname();
  // What the transports log about connections joins the event stream.
  const log = (line: Record<string, unknown>) => {
    const e = transportEvent(line);
    if (e) print(e);
  };
  const options: LinkOptions = { identity, timeoutMs: o.timeout, log };
  if (o.pskFile) options.psk = await readPskFile(o.pskFile, '--psk-file');
  else options.tls = platform.tlsCertificates(); // $STATE/tls/{cert,key,ca}.pem; bad input when absent
  return options;
}

/** Collects a repeatable option: `--listen A --listen B`. */
function repeat(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function common(cmd: Command): Command {
  return cmd
    .option('--psk-file <file>', 'pre-shared key: the file bytes (a trailing newline ignored); without it, TLS certificates from $SALVOR_STATE_DIR/tls (cert.pem, key.pem, ca.pem)')
    .addOption(new Option('--interval <ms>', 'epoch interval').default(100).argParser((v) => parseDuration(v, '--interval')))
    .addOption(new Option('--timeout <ms>', 'a peer silent this long is gone (failover after it)').default(1000).argParser((v) => parseDuration(v, '--timeout')))
    .option('--identity <name>', 'this node in hellos and logs (default: the hostname)');
}

/** Prints one event: a JSON line on stdout with --json (with `time`), else one line of human text on stderr. */
function eventPrinter(out: Output): (e: ReplicationEvent) => void {
  // Without --json a join shows its progress (pages sent of those owed, from each round) per standby.
  const joins = new Map<string, { bar: Progress; owed: number }>();
  return (e) => {
    if (out.json) {
      process.stdout.write(JSON.stringify({ ...e, time: new Date().toISOString() }) + '\n');
      return;
    }
    if (e.event === 'progress') {
      // the standby's own join: pages received of those owed
      const mine = joins.get('') ?? { bar: progress('join', Number(e.of)), owed: Number(e.of) };
      mine.owed = Number(e.of);
      joins.set('', mine);
      mine.bar.update(Number(e.pages), mine.owed);
      return;
    }
    const who = String(e.standby ?? '');
    if (e.event === 'joined' && who && Number(e.pagesToSend) > 0) joins.set(who, { bar: progress(`join ${who}`, Number(e.pagesToSend)), owed: Number(e.pagesToSend) });
    const join = joins.get(who);
    if (join && e.event === 'round') {
      join.owed = Math.max(join.owed, Number(e.remainingPages));
      join.bar.update(join.owed - Number(e.remainingPages), join.owed);
      return;
    }
    if (join && ['in-sync', 'standby-lost', 'standby-gone', 'not-converging', 'primary-unreachable'].includes(e.event as string)) {
      if (e.event === 'in-sync') join.bar.update(join.owed);
      join.bar.stop();
      joins.delete(who);
    }
    if (e.event !== 'epoch' || Number(e.epoch) % 50 === 0) out.note(describeEvent(e));
  };
}

export function registerReplicate(program: Command, platform: CliPlatform): void {
  const replicate = program
    .command('replicate')
    .description('standby join, continuous replication and failover of a region between salvor nodes')
    .addHelpText(
      'after',
      `\nURLs: tcp://HOST:PORT, serial:///dev/ttyX?baud=N[&flow=rtscts]. Events: one JSON object per line on stdout with
--json (each with event and time), else one line of text each on stderr; every event and its fields: docs/cli.md.`,
    );

  verb<CommonOpts & { region: string; listen: string[]; ack: 'async' | 'received' | 'persisted'; maxDowntime: number; maxRounds: number }>(
    common(
      replicate
        .command('primary')
        .description('serve a region (a shared-memory or regular file any process writes) to standbys; runs until SIGTERM')
        .requiredOption('--region <path>', 'the region: a file of whole 4 KiB pages, for example under /dev/shm')
        .requiredOption('--listen <url>', 'where standbys connect: tcp://HOST:PORT or serial:///dev/ttyX?baud=N; repeat it to serve on several links (TCP and serial at once)', repeat)
        .addOption(new Option('--ack <mode>', 'what an acked epoch means: sent, in standby memory, or fsynced there').choices(['async', 'received', 'persisted']).default('received'))
        .addOption(new Option('--max-downtime <ms>', 'join: finish once the rest can be sent within this').default(300).argParser((v) => parseDuration(v, '--max-downtime')))
        .addOption(new Option('--max-rounds <n>', 'join: give up after this many rounds that do not shrink').default(30).argParser((v) => parseCount(v, '--max-rounds'))),
    ),
    async (o, out) => {
      const settings: ReplicateSettings = { stateDir: platform.stateDir, intervalMs: o.interval, timeoutMs: o.timeout, identity: o.identity ?? hostname(), openRegion: platform.openRegion };
      const print = eventPrinter(out);
      const why = await runPrimary(
        { region: o.region, listen: o.listen, ackMode: o.ack, maxDowntimeMs: o.maxDowntime, maxRounds: o.maxRounds, link: await linkOptions(o, platform, print) },
        settings,
        platform.transports,
        print,
      );
      out.note(`primary ${why}`);
      return Exit.ok;
    },
  );

  verb<CommonOpts & { connect: string[]; replica: string; force?: boolean }>(
    common(
      replicate
        .command('standby')
        .description('join a primary and keep a replica; promote to primary when it is gone (after --timeout); runs until SIGTERM')
        .requiredOption('--connect <url>', 'the primary: tcp://HOST:PORT or serial:///dev/ttyX?baud=N; repeat it for heartbeat links (the first carries the data; no promotion while any link hears the primary)', repeat)
        .requiredOption('--replica <path>', 'the replica file (with PATH.meta.json beside it); created 0600 when absent')
        .option('--force', 'replace an existing file given as --replica that is not a replica'),
    ),
    async (o, out) => {
      const settings: ReplicateSettings = { stateDir: platform.stateDir, intervalMs: o.interval, timeoutMs: o.timeout, identity: o.identity ?? hostname(), openRegion: platform.openRegion };
      const print = eventPrinter(out);
      try {
        await runStandby({ connect: o.connect, replica: o.replica, force: o.force, link: await linkOptions(o, platform, print) }, settings, platform.transports, print);
      } catch (err) {
        // Refused again and again by the primary: this node's key or certificates are wrong, which is bad input.
        if ((err as SalvorError).code !== 'SALVOR_AUTH') throw err;
        reportError(err, out.json);
        return Exit.usage;
      }
      return Exit.ok;
    },
  );

  verb<{ json?: boolean }>(
    replicate.command('status').description('the replication processes running on this node (from the state directory), with their role, term, epoch and peers'),
    async (_o, out) => {
      const status = await readStatus(platform.stateDir);
      out.result(status, () =>
        status.nodes.length
          ? status.nodes.map((n) => `${String(n.role).padEnd(8)} pid ${n.pid} ${n.running ? 'running' : 'gone'} term ${n.term} epoch ${n.epoch} ${n.detail ?? ''}`).join('\n')
          : 'no replication process has run with this state directory',
      );
      return Exit.ok;
    },
  );
}
