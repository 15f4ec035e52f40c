/**
 * The simulated TEE OS: runs in its own process (forked by sim-tee-client.ts), so a panic, a hang and
 * a restart behave as they do for a real secure world: the REE sees only what comes over the channel.
 * Argument: the secure storage directory, then 'cold' (booted by firmware: hardware status set from
 * the board) or 'warm' (restarted after a crash: hardware status at reset values until the REE
 * restores it). Messages and replies are documented in docs/tee.md (simulated backend).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { SimSecureStorage } from './sim-secure-storage';

const SIGNING_TA_UUID = 'f3a4b2c1-7d6e-4e5f-9a8b-1c2d3e4f5a6b';
const TEEC = { BAD_PARAMETERS: 0xffff0006, BAD_STATE: 0xffff0007, ITEM_NOT_FOUND: 0xffff0008, NOT_SUPPORTED: 0xffff000a, SHORT_BUFFER: 0xffff0010, TARGET_DEAD: 0xffff3024 };
const ORIGIN = { API: 1, COMMS: 2, TEE: 3, TA: 4 };

type WireParam = { type: 'none' } | { type: 'value'; a: number; b: number } | { type: 'memref'; data: string; shm?: number };
type Request = { id: number; op: string; [k: string]: unknown };

const started = Date.now();
const [dir, boot] = process.argv.slice(2);
const storage = new SimSecureStorage(dir);

// The board's hardware status: fixed at the first cold boot, like fuses and firmware settings.
const boardPath = join(dir, 'board.json');
if (!existsSync(boardPath)) writeFileSync(boardPath, JSON.stringify({ firewall: 0x3f, secureClockOffset: Math.floor(Math.random() * 1e9), debugLock: 1 }));
const board = JSON.parse(readFileSync(boardPath, 'utf8')) as Record<string, number>;
const bootCountPath = join(dir, 'boot-count');
const bootCount = (existsSync(bootCountPath) ? Number(readFileSync(bootCountPath, 'utf8')) : 0) + 1;
writeFileSync(bootCountPath, String(bootCount));
const registers: Record<string, number> = { ...(boot === 'cold' ? board : Object.fromEntries(Object.keys(board).map((k) => [k, 0]))), bootCount, resetReason: boot === 'cold' ? 0 : 2 };
const readOnly = ['bootCount', 'resetReason'];

const sessions = new Map<number, { uuid: string; login: string; dead: boolean }>();
const shm = new Map<number, number>();
let nextId = 1;
let panicked = false;
let taHung = false;
let corruptNext = false;
let keys: Record<string, { alg: number; pkcs8: string }> = storage.loadKeys();
const keyObjects = new Map<string, KeyObject>();

class Refusal {
  constructor(
    readonly teec: number,
    readonly origin: number,
    readonly message: string,
  ) {}
}

function reply(id: number, body: Record<string, unknown>, corruptible: boolean): void {
  const text = JSON.stringify(body);
  const crc = crc32(text);
  // A corrupted reply: one character changed after the checksum, as a bad mailbox or shared page would.
  const corrupt = corruptible && corruptNext;
  const sent = corrupt ? text.slice(0, text.length - 3) + (text[text.length - 3] === 'A' ? 'B' : 'A') + text.slice(text.length - 2) : text;
  if (corrupt) corruptNext = false;
  if (process.connected) process.send!({ id, body: sent, crc }); // the REE may be gone already: this process exits on disconnect

}

function privateKey(name: string): KeyObject {
  let k = keyObjects.get(name);
  if (!k) {
    const stored = keys[name];
    if (!stored) throw new Refusal(TEEC.ITEM_NOT_FOUND, ORIGIN.TA, `no key '${name}'`);
    k = createPrivateKey({ key: Buffer.from(stored.pkcs8, 'base64'), format: 'der', type: 'pkcs8' });
    keyObjects.set(name, k);
  }
  return k;
}

function memref(params: WireParam[], i: number): Buffer {
  const p = params[i];
  if (p?.type !== 'memref') throw new Refusal(TEEC.BAD_PARAMETERS, ORIGIN.TA, `parameter ${i} must be a memref`);
  if (p.shm !== undefined && !shm.has(p.shm)) throw new Refusal(TEEC.BAD_PARAMETERS, ORIGIN.API, `shared memory ${p.shm} is not registered`);
  return Buffer.from(p.data, 'base64');
}

/** The TA refuses to run on a TEE whose hardware status differs from the board's (firewall, clock, debug lock). */
function checkHardware(): void {
  for (const [k, v] of Object.entries(board)) if (registers[k] !== v) throw new Refusal(TEEC.BAD_STATE, ORIGIN.TEE, `hardware status register ${k} is ${registers[k]}, not configured`);
}

function signingTa(cmd: number, params: WireParam[]): WireParam[] {
  checkHardware();
  const out = params.slice();
  if (cmd === 4) {
    const name = memref(params, 0).toString('utf8');
    const alg = (params[1] as { a: number }).a;
    if (!keys[name]) {
      if (alg !== 1 && alg !== 2) throw new Refusal(TEEC.NOT_SUPPORTED, ORIGIN.TA, `algorithm ${alg}`);
      const pair = alg === 1 ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      keys = { ...keys, [name]: { alg, pkcs8: pair.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64') } };
      storage.saveKeys(keys);
    } else if (keys[name].alg !== alg) throw new Refusal(TEEC.BAD_PARAMETERS, ORIGIN.TA, `key '${name}' exists with another algorithm`);
    return out;
  }
  if (cmd === 1) {
    const name = memref(params, 0).toString('utf8');
    const spki = createPublicKey(privateKey(name)).export({ type: 'spki', format: 'der' });
    out[1] = { type: 'memref', data: spki.toString('base64') };
    out[2] = { type: 'value', a: keys[name].alg, b: 0 };
    return out;
  }
  if (cmd === 2) {
    const ids = memref(params, 0).toString('utf8').split('\0');
    const message = memref(params, 1);
    const [name, idem] = ids;
    const seen = storage.journal.get(idem);
    if (seen) {
      out[2] = { type: 'memref', data: seen.signature };
      out[3] = { type: 'value', a: seen.counter, b: 1 };
      return out;
    }
    const k = privateKey(name);
    const signature = keys[name].alg === 1 ? sign(null, message, k) : sign('sha256', message, { key: k, dsaEncoding: 'der' });
    const e = storage.record(idem, name, signature);
    out[2] = { type: 'memref', data: e.signature };
    out[3] = { type: 'value', a: e.counter, b: 0 };
    return out;
  }
  if (cmd === 3) {
    out[0] = { type: 'value', a: storage.counter, b: 0 };
    return out;
  }
  throw new Refusal(TEEC.NOT_SUPPORTED, ORIGIN.TA, `command ${cmd}`);
}

/** Returns the reply body, or undefined when the TEE does not answer (panicked core, hung TA). */
function handle(r: Request): Record<string, unknown> | undefined {
  // Hardware status registers are read by the platform, not the TEE: they answer even after a panic.
  if (r.op === 'regs-read') return { ok: true, registers: { ...registers }, readOnly };
  if (r.op === 'inject') return inject(r.fault as string);
  if (panicked) return undefined;
  switch (r.op) {
    case 'regs-write':
      for (const [k, v] of Object.entries(r.registers as Record<string, number>)) {
        if (readOnly.includes(k) || !(k in registers)) throw new Refusal(TEEC.BAD_PARAMETERS, ORIGIN.API, `register ${k} is not writable`);
        registers[k] = v;
      }
      return { ok: true };
    case 'open': {
      if (r.uuid !== SIGNING_TA_UUID) throw new Refusal(TEEC.ITEM_NOT_FOUND, ORIGIN.TEE, `no TA ${String(r.uuid)}`);
      if (taHung) return undefined;
      const id = nextId++;
      sessions.set(id, { uuid: r.uuid, login: String(r.login), dead: false });
      return { ok: true, session: id };
    }
    case 'close':
      if (taHung) return undefined;
      sessions.delete(r.session as number);
      return { ok: true };
    case 'invoke': {
      const s = sessions.get(r.session as number);
      if (!s || s.dead) throw new Refusal(TEEC.TARGET_DEAD, ORIGIN.TEE, s ? 'the TA panicked' : `no session ${String(r.session)}`);
      if (taHung) return undefined;
      return { ok: true, params: signingTa(r.cmd as number, r.params as WireParam[]) };
    }
    case 'cancel':
      return { ok: true }; // a hung TA ignores cancellation, as OP-TEE's cooperative cancel allows
    case 'shm-register': {
      const id = nextId++;
      shm.set(id, r.size as number);
      return { ok: true, id };
    }
    case 'shm-release':
      shm.delete(r.id as number);
      return { ok: true };
    case 'supplicant-restart':
      keys = storage.loadKeys();
      return { ok: true };
    default:
      throw new Refusal(TEEC.NOT_SUPPORTED, ORIGIN.API, `operation ${r.op}`);
  }
}

function inject(fault: string): Record<string, unknown> {
  if (fault === 'panic') {
    // After the answer to this request: the injector is told it worked, then the core stops.
    setImmediate(() => {
      panicked = true;
      process.send!({ event: 'panic', at: Date.now(), reason: 'core panic (injected)' });
    });
  } else if (fault === 'ta-panic') {
    for (const s of sessions.values()) s.dead = true;
  } else if (fault === 'hang') taHung = true;
  else if (fault === 'corrupt') corruptNext = true;
  else throw new Refusal(TEEC.BAD_PARAMETERS, ORIGIN.API, `unknown fault ${fault}`);
  return { ok: true };
}

process.on('message', (r: Request) => {
  let body: Record<string, unknown> | undefined;
  try {
    body = handle(r);
  } catch (err) {
    body = err instanceof Refusal ? { ok: false, teec: err.teec, origin: err.origin, message: err.message } : { ok: false, teec: 0xffff0000, origin: ORIGIN.TEE, message: (err as Error).message };
  }
  if (body) reply(r.id, body, r.op === 'invoke');
});
// The REE went away (the agent died): a simulated TEE does not outlive its host.
process.on('disconnect', () => process.exit(0));
process.send!({ event: 'ready', boot, bootMs: Date.now() - started, bootCount });
