import t from 'tap';
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SalvorError } from '../../bindings/salvor-error';
import { decodeMessage, primaryFrameLimit } from '../../lib/replication/protocol';
import { FrameDecoder } from '../../lib/transport/frame';
import { decodeHello, helloKey, openSessionPacket } from '../../lib/transport/serial-packet';
import { SocketLink } from '../../lib/transport/socket-link';
import { CORPUS_KEY, type CorpusEntry } from '../../tools/fuzz/make-hostile-frames';
import { checkFileLeavesNoHandles } from './open-handles';

// Every hostile frame of the corpus (test/transport/corpus/, made by tools/fuzz/make-hostile-frames.ts)
// through the code that receives it, with the error that code must give.

checkFileLeavesNoHandles(t);
const dir = join(__dirname, 'corpus');
const entries = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CorpusEntry[];
const LIMITS = primaryFrameLimit(16);

/** Writes `bytes` into a SocketLink over a loopback socket pair, as a peer would, and resolves with why the link closed. */
async function throughStreamLink(bytes: Buffer, limits: boolean): Promise<Error | undefined> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  peer.on('error', () => undefined);
  peer.on('data', () => undefined);
  const socket = await accepted;
  server.close();
  const link = new SocketLink(socket, 'tcp://corpus', 'corpus-peer', { timeoutMs: 2000, ...(limits ? { frameLimit: LIMITS } : {}) });
  link.onFrame(() => undefined);
  const closed = new Promise<Error | undefined>((resolve) => link.onClose(resolve));
  peer.end(bytes); // the stream ends after the bytes: a truncated frame is seen as one
  const err = await closed;
  await link.close();
  peer.destroy();
  return err;
}

function receive(entry: CorpusEntry, bytes: Buffer): Promise<Error | 'refused' | undefined> | Error | 'refused' | undefined {
  const limits = entry.limits ? LIMITS : undefined;
  try {
    switch (entry.receiver) {
      case 'stream':
        return throughStreamLink(bytes, entry.limits === true);
      case 'message':
        decodeMessage(bytes);
        return undefined;
      case 'serial-hello': {
        const check = decodeHello(bytes, helloKey(CORPUS_KEY));
        if (!check) return 'refused';
        return check.ok ? undefined : new SalvorError('SALVOR_AUTH', check.reason);
      }
      case 'serial-packet':
        return openSessionPacket(bytes, CORPUS_KEY) ? undefined : 'refused';
      case 'serial-data': {
        const packet = openSessionPacket(bytes, CORPUS_KEY);
        if (!packet) return 'refused';
        new FrameDecoder(limits).push(packet.body);
        return undefined;
      }
    }
  } catch (err) {
    return err as Error;
  }
}

t.ok(entries.length >= 20, `${entries.length} hostile frames in the corpus`);
for (const entry of entries) {
  t.test(`${entry.file}: ${entry.what}`, async (t) => {
    const got = await receive(entry, readFileSync(join(dir, entry.file)));
    if (entry.expect === 'refused') return void t.equal(got, 'refused', 'dropped without a word, never opened');
    t.match(got, { code: entry.expect.code, message: new RegExp(entry.expect.message) }, `${(got as Error | undefined)?.message ?? String(got)}`);
  });
}
