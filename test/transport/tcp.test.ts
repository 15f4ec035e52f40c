import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Frame, Link, LinkOptions } from '../../lib/transport/link';
import { LinkFaultInjector, parseLinkFaults } from '../../lib/transport/link-faults';
import { PSK_TLS, tcpTransport } from '../../platform/linux/transport-tcp';
import { runLinkContract, type LinkPair } from './link-contract';

// The TCP backend (platform/linux/transport-tcp.ts): the Link contract over TLS-PSK and over mutual
// certificates, refusal of every peer that does not authenticate, and SALVOR_LINK_FAULT closing the
// link with SALVOR_BAD_FRAME instead of delivering damaged or missing frames.

const PSK = randomBytes(32);
const LOCAL = new URL('tcp://127.0.0.1:0');

async function tcpPair(server: LinkOptions, client: LinkOptions = server): Promise<LinkPair> {
  const listener = await tcpTransport.listen(LOCAL, server);
  const accepted = new Promise<Link>((resolve) => listener.onLink(resolve));
  try {
    const a = await tcpTransport.connect(new URL(listener.url), client);
    const b = await accepted;
    return {
      a,
      b,
      cleanup: async () => {
        await Promise.all([a.close(), b.close()]);
        await listener.close();
      },
    };
  } catch (err) {
    await listener.close();
    throw err;
  }
}

interface Certs {
  ca: Buffer;
  nodeA: { cert: Buffer; key: Buffer };
  nodeB: { cert: Buffer; key: Buffer };
  /** Signed by a different CA, which the nodes do not trust. */
  stranger: { cert: Buffer; key: Buffer; ca: Buffer };
}

/** A CA, two node certificates it signs, and a stranger from another CA, made with the openssl CLI. */
function makeCerts(dir: string): Certs | string {
  const probe = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'the openssl CLI is not installed (.ci/run can apt-get install openssl)';
  const run = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string) =>
    run('req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/CN=${name}`, '-days', '2',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  writeFileSync(join(dir, 'node.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  const node = (name: string, signer: string) => {
    run('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.pem`, '-CAkey', `${signer}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', 'node.ext');
    return { cert: readFileSync(join(dir, `${name}.pem`)), key: readFileSync(join(dir, `${name}.key`)) };
  };
  ca('salvor-test-ca');
  ca('other-ca');
  return {
    ca: readFileSync(join(dir, 'salvor-test-ca.pem')),
    nodeA: node('node-a', 'salvor-test-ca'),
    nodeB: node('node-b', 'salvor-test-ca'),
    stranger: { ...node('stranger', 'other-ca'), ca: readFileSync(join(dir, 'other-ca.pem')) },
  };
}

const certDir = mkdtempSync(join(tmpdir(), 'salvor-tcp-certs-'));
t.teardown(() => rmSync(certDir, { recursive: true, force: true }));
const certs = makeCerts(certDir);

runLinkContract(t, 'TCP + TLS-PSK', () => tcpPair({ psk: PSK, identity: 'node-a' }, { psk: PSK, identity: 'node-b' }));

if (typeof certs === 'string') t.test('Link contract: TCP + mutual certificates', { skip: certs }, async () => {});
else
  runLinkContract(t, 'TCP + mutual certificates', () =>
    tcpPair({ tls: { ...certs.nodeA, ca: certs.ca } }, { tls: { ...certs.nodeB, ca: certs.ca } }),
  );

/** Listens with `server`, connects with `client`, and reports what each side saw. */
async function attempt(server: LinkOptions, client: LinkOptions) {
  const serverLog: Record<string, unknown>[] = [];
  const clientLog: Record<string, unknown>[] = [];
  const listener = await tcpTransport.listen(LOCAL, { ...server, log: (l) => serverLog.push(l) });
  const links: Link[] = [];
  listener.onLink((l) => links.push(l));
  const outcome = await tcpTransport.connect(new URL(listener.url), { ...client, log: (l) => clientLog.push(l) }).then(
    async (link) => {
      await link.close();
      return 'connected';
    },
    (err: { code?: string; message?: string }) => err,
  );
  await sleep(100);
  for (const l of links) await l.close();
  await listener.close();
  return { outcome, serverLog, clientLog, links: links.length };
}

function refusedOnBothSides(t: Test, r: Awaited<ReturnType<typeof attempt>>, what: string): void {
  t.match(r.outcome, { code: 'SALVOR_AUTH', message: /authentication failed/ }, `${what}: connect() rejects SALVOR_AUTH`);
  t.equal(r.links, 0, `${what}: the server emits no Link`);
  const refusals = r.serverLog.filter((l) => l.event === 'auth-refused');
  t.equal(refusals.length, 1, `${what}: the server logs one auth-refused line`);
  t.match(refusals[0], { side: 'server', peer: /^127\.0\.0\.1:\d+$/, reason: /\S/ }, `${what}: with the peer and a reason`);
  t.comment(`${what}: server logged ${JSON.stringify(refusals[0])}; client got: ${(r.outcome as Error).message}`);
  t.match(r.clientLog.filter((l) => l.event === 'auth-refused'), [{ side: 'client', peer: /^tcp:\/\/127\.0\.0\.1:\d+$/ }], `${what}: the client logs it too`);
}

t.test('authentication', async (t) => {
  t.test('a wrong pre-shared key is refused on both sides', async (t) => {
    refusedOnBothSides(t, await attempt({ psk: PSK }, { psk: randomBytes(32) }), 'wrong PSK');
  });

  t.test('the right key is accepted and the server logs who connected', async (t) => {
    const r = await attempt({ psk: PSK }, { psk: PSK, identity: 'node-b' });
    t.equal(r.outcome, 'connected');
    t.match(r.serverLog, [{ event: 'link-up', identity: 'node-b' }]);
  });

  t.test('certificates', { skip: typeof certs === 'string' ? certs : false }, async (t) => {
    if (typeof certs === 'string') return;
    const server = { tls: { ...certs.nodeA, ca: certs.ca } };
    refusedOnBothSides(t, await attempt(server, { tls: { ...certs.stranger, ca: certs.ca } }), 'client certificate from another CA');
    refusedOnBothSides(t, await attempt(server, { tls: { ...certs.nodeB, ca: certs.stranger.ca } }), 'client that does not trust the server');
    refusedOnBothSides(t, await attempt(server, { psk: PSK }), 'PSK client against a certificate server');
  });

  t.test('no key and no certificates: refused before anything listens or connects', async (t) => {
    const message = /a pre-shared key or certificates are required/;
    await t.rejects(tcpTransport.listen(LOCAL, {}), { code: 'SALVOR_BAD_INPUT', message });
    await t.rejects(tcpTransport.connect(new URL('tcp://127.0.0.1:9'), {}), { code: 'SALVOR_BAD_INPUT', message });
    await t.rejects(tcpTransport.listen(LOCAL, { psk: Buffer.alloc(0) }), { code: 'SALVOR_BAD_INPUT' }, 'an empty key');
  });

  t.test('a client without TLS writing junk is refused and logged', async (t) => {
    const log: Record<string, unknown>[] = [];
    const listener = await tcpTransport.listen(LOCAL, { psk: PSK, log: (l) => log.push(l) });
    let links = 0;
    listener.onLink(() => links++);
    const port = Number(new URL(listener.url).port);
    const closedByServer = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => sock.write(Buffer.concat([Buffer.from('GET / HTTP/1.0\r\n\r\n'), randomBytes(4096)])));
      sock.on('error', () => {});
      sock.on('data', () => {});
      const giveUp = setTimeout(() => {
        sock.destroy();
        resolve(false);
      }, 3000);
      sock.on('close', () => (clearTimeout(giveUp), resolve(true)));
    });
    t.ok(closedByServer, 'the server hangs up');
    t.equal(links, 0, 'no Link');
    t.match(log.filter((l) => l.event === 'auth-refused'), [{ side: 'server', peer: /^127\.0\.0\.1:/, reason: /\S/ }], 'one auth-refused line');
    t.comment(`server logged ${JSON.stringify(log)}`);
    await listener.close();
  });
});

t.test('the hello: a TLS peer that skips it is refused', async (t) => {
  const log: Record<string, unknown>[] = [];
  const listener = await tcpTransport.listen(LOCAL, { psk: PSK, timeoutMs: 300, log: (l) => log.push(l) });
  let links = 0;
  listener.onLink(() => links++);
  const { port } = new URL(listener.url);
  const tlsOnly = tls.connect({
    port: Number(port),
    host: '127.0.0.1',
    ciphers: 'PSK-AES256-GCM-SHA384',
    maxVersion: 'TLSv1.2',
    pskCallback: () => ({ psk: PSK, identity: 'mute' }),
    checkServerIdentity: () => undefined,
  });
  tlsOnly.on('error', () => {});
  tlsOnly.on('data', () => {});
  const hungUp = new Promise<void>((resolve) => tlsOnly.on('close', () => resolve()));
  await hungUp;
  for (let i = 0; i < 50 && log.length === 0; i++) await sleep(10);
  t.equal(links, 0, 'the right key alone does not make a Link');
  t.match(log, [{ event: 'auth-refused', side: 'server', reason: /sent no hello/ }], 'the server says why');
  await listener.close();
});

t.test('PSK negotiates TLS 1.3 with AES-128-GCM; a TLS 1.2-only peer gets an AES-GCM PSK suite', async (t) => {
  const listener = await tcpTransport.listen(LOCAL, { psk: PSK, timeoutMs: 300 });
  const { port } = new URL(listener.url);
  const handshake = async (options: tls.ConnectionOptions) => {
    const socket = tls.connect({ ...options, port: Number(port), host: '127.0.0.1', pskCallback: () => ({ psk: PSK, identity: 'probe' }), checkServerIdentity: () => undefined });
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => (socket.once('secureConnect', () => resolve()), socket.once('close', () => reject(new Error('no handshake')))));
    const got = { protocol: socket.getProtocol(), cipher: socket.getCipher().name };
    socket.destroy();
    return got;
  };
  t.same(await handshake(PSK_TLS), { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' });
  t.same(await handshake({ ciphers: 'PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' }), { protocol: 'TLSv1.2', cipher: 'PSK-AES128-GCM-SHA256' });
  const weak = tls.connect({ port: Number(port), host: '127.0.0.1', ciphers: 'PSK-AES128-CBC-SHA256', maxVersion: 'TLSv1.2', pskCallback: () => ({ psk: PSK, identity: 'weak' }), checkServerIdentity: () => undefined });
  const refused = await new Promise<boolean>((resolve) => (weak.once('secureConnect', () => resolve(false)), weak.once('error', () => resolve(true))));
  weak.destroy();
  t.ok(refused, 'a CBC suite is refused');
  await listener.close();
});

t.test('TCP specifics', async (t) => {
  t.test('bytesOnWire: payloads plus 28 bytes a frame, plus the hello; not TLS', async (t) => {
    const pair = await tcpPair({ psk: PSK });
    const got = new Promise<void>((resolve) => {
      let n = 0;
      pair.b.onFrame(() => ++n === 3 && resolve());
    });
    for (const size of [0, 100, 70_000]) await pair.a.send(1, Buffer.alloc(size), 1n);
    await got;
    t.equal(pair.a.bytesOnWire, 28 + (0 + 100 + 70_000) + 3 * 28);
    t.equal(pair.b.bytesOnWire, 28, 'the receiver wrote only its hello');
    await pair.cleanup();
  });

  t.test('a frame handler that throws closes the link with its error', async (t) => {
    const pair = await tcpPair({ psk: PSK });
    const closed = new Promise<Error | undefined>((resolve) => pair.b.onClose(resolve));
    pair.b.onFrame(() => {
      throw new Error('handler broke');
    });
    await pair.a.send(1, Buffer.from('x'), 1n);
    t.match(await closed, { message: 'handler broke' });
    await pair.cleanup();
  });
});

t.test('connecting', async (t) => {
  t.test('listener.url names the port picked for port 0', async (t) => {
    const listener = await tcpTransport.listen(LOCAL, { psk: PSK });
    t.match(listener.url, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    t.not(new URL(listener.url).port, '0');
    await listener.close();
    await listener.close();
  });

  t.test('timeoutMs bounds a handshake that never comes', async (t) => {
    const held = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      held.add(s); // accepts, then says nothing
      s.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const start = Date.now();
    await t.rejects(tcpTransport.connect(new URL(`tcp://127.0.0.1:${port}`), { psk: PSK, timeoutMs: 300 }), { code: 'SALVOR_TIMEOUT' });
    t.ok(Date.now() - start < 2000, 'given up near timeoutMs');
    for (const s of held) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  t.test('nobody listening: the OS error', async (t) => {
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise((r) => free.close(r));
    await t.rejects(tcpTransport.connect(new URL(`tcp://127.0.0.1:${port}`), { psk: PSK }), { code: 'ECONNREFUSED' });
  });

  t.test('URLs the backend does not take', async (t) => {
    for (const url of ['serial:///dev/ttyS0', 'tcp://127.0.0.1', 'tcp://127.0.0.1:0', 'tcp://127.0.0.1:1/path', 'tcp://127.0.0.1:1?x=1'])
      await t.rejects(tcpTransport.connect(new URL(url), { psk: PSK }), { code: 'SALVOR_BAD_INPUT' }, url);
  });
});

t.test('SALVOR_LINK_FAULT', async (t) => {
  t.test('parsing', async (t) => {
    const env = (v: string) => ({ SALVOR_LINK_FAULT: v });
    t.equal(parseLinkFaults({}), undefined, 'unset: no plan');
    t.equal(parseLinkFaults(env('')), undefined, 'empty: no plan');
    t.same(parseLinkFaults(env('drop=0.1,dup=0.2,corrupt=0.05,reorder=0,delay=20,seed=7')), { drop: 0.1, dup: 0.2, corrupt: 0.05, reorder: 0, delayMs: 20, seed: 7 });
    t.same(parseLinkFaults(env('delay=5')), { drop: 0, dup: 0, corrupt: 0, reorder: 0, delayMs: 5, seed: 1 }, 'every key optional');
    for (const bad of ['drop', 'drop=2', 'drop=-0.1', 'drop=x', 'loss=0.1', 'delay=1.5', 'seed=-1', 'drop=0.6,dup=0.6', 'drop=0.1,drop=0.2', 'drop=0.1;dup=0.1'])
      t.throws(() => parseLinkFaults(env(bad)), { code: 'SALVOR_USAGE', message: /SALVOR_LINK_FAULT/ }, bad);
    const decide = (seed: number) => {
      const f = new LinkFaultInjector({ drop: 0.25, dup: 0.25, corrupt: 0.25, reorder: 0, delayMs: 0, seed });
      return Array.from({ length: 1000 }, () => f.decide());
    };
    t.same(decide(3), decide(3), 'the same seed gives the same decisions');
    const counts = decide(3).reduce((m, d) => m.set(d, (m.get(d) ?? 0) + 1), new Map<string, number>());
    t.ok([...counts.values()].every((n) => n > 180 && n < 320) && !counts.has('reorder'), `decisions follow the plan: ${JSON.stringify([...counts])}`);
  });

  /** Connects with the plan in the environment, sends numbered frames until the link closes, reports what b saw. */
  async function underFaults(plan: string, frames = 400) {
    process.env.SALVOR_LINK_FAULT = plan;
    let pair: LinkPair;
    try {
      pair = await tcpPair({ psk: PSK });
    } finally {
      delete process.env.SALVOR_LINK_FAULT;
    }
    const { a, b } = pair;
    const got: Frame[] = [];
    const closed = new Promise<Error | undefined>((resolve) => b.onClose(resolve));
    b.onFrame((f) => got.push(f));
    const payloadOf = (i: number) => Buffer.alloc(100 + (i % 50), i & 0xff);
    for (let i = 1; i <= frames; i++) {
      const ok = await a.send(1, payloadOf(i), BigInt(i)).then(() => true, () => false);
      if (!ok) break;
    }
    const err = await Promise.race([closed, sleep(2000).then(() => 'still open' as const)]);
    await pair.cleanup();
    const intact = got.every((f, i) => f.seq === BigInt(i + 1) && f.epoch === BigInt(i + 1) && f.payload.equals(payloadOf(i + 1)));
    return { err, got, intact };
  }

  for (const kind of ['drop', 'dup', 'corrupt', 'reorder']) {
    t.test(`${kind}: the receiver closes with SALVOR_BAD_FRAME, every frame before it intact`, async (t) => {
      const r = await underFaults(`${kind}=0.05,seed=11`);
      t.match(r.err, { code: 'SALVOR_BAD_FRAME' }, `closed: ${(r.err as Error)?.message ?? r.err}`);
      t.ok(r.intact, `the ${r.got.length} frames delivered before the close were consecutive and intact`);
      t.ok(r.got.length < 400, 'the link did not carry on past the fault');
    });
  }

  t.test('delay: frames arrive intact, later', async (t) => {
    const start = Date.now();
    process.env.SALVOR_LINK_FAULT = 'delay=80';
    const pair = await tcpPair({ psk: PSK }).finally(() => delete process.env.SALVOR_LINK_FAULT);
    const got = new Promise<Frame>((resolve) => pair.b.onFrame(resolve));
    const sent = Date.now();
    await pair.a.send(2, Buffer.from('late'), 1n);
    const f = await got;
    t.equal(f.payload.toString(), 'late');
    t.ok(Date.now() - sent >= 70, `delivered ${Date.now() - sent} ms after send (delay 80)`);
    await pair.cleanup();
    t.ok(Date.now() - start < 5000);
  });

  t.test('a malformed plan is refused with SALVOR_USAGE naming the variable', async (t) => {
    process.env.SALVOR_LINK_FAULT = 'drop=lots';
    try {
      await t.rejects(tcpTransport.connect(new URL('tcp://127.0.0.1:9'), { psk: PSK }), { code: 'SALVOR_USAGE', message: /SALVOR_LINK_FAULT='drop=lots'/ });
      await t.rejects(tcpTransport.listen(LOCAL, { psk: PSK }), { code: 'SALVOR_USAGE', message: /SALVOR_LINK_FAULT/ });
    } finally {
      delete process.env.SALVOR_LINK_FAULT;
    }
  });
});
