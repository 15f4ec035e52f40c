import t from 'tap';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { checkNoHandleLeft, listValues, readBytes, workspace, writeJson } from '../helpers';
import { corpus, DEFAULTS } from './images';

// Every image of the corpus (./images.ts) through check, get, recover and list, with the result each
// must give. The CLI runs in this process, as the binary runs it.

checkNoHandleLeft(t);

const ws = workspace(t);
const img = ws.path('nv.img');
const template = ws.path('template-state');
let base: Buffer;

t.before(async () => {
  const defaults = writeJson(ws.path('defaults.json'), DEFAULTS);
  for (const args of [
    ['nvram', 'format', '--device', img, '--size', '16K', '--defaults', defaults],
    ['nvram', 'set', '--device', img, 'serial', 'SN-0001'],
    ['nvram', 'set', '--device', img, 'hostname', 'edge-7'],
  ]) {
    const r = await ws.run(args);
    if (r.code !== 0) throw new Error(`building the base image: salvor ${args.join(' ')}: ${r.stderr}`);
  }
  base = readBytes(img);
  cpSync(ws.stateDir, template, { recursive: true });
});

for (const c of corpus) {
  t.test(c.name, async (t) => {
    writeFileSync(img, base);
    rmSync(ws.stateDir, { recursive: true, force: true });
    cpSync(template, ws.stateDir, { recursive: true });
    await c.damage(img, {
      dropState: () => rmSync(ws.stateDir, { recursive: true, force: true }),
      run: (args, env) => ws.run(args, { env }),
    });
    const damaged = readBytes(img);

    const check = await ws.run(['nvram', 'check', '--device', img, '--json']);
    t.equal(check.code, c.check.code, `check exits ${c.check.code} (${check.stderr.trim()})`);
    t.match(check.json(), c.check.json, 'check reports');
    if (c.getBefore) {
      const get = await ws.run(['nvram', 'get', '--device', img, 'serial']);
      t.equal(get.code, c.getBefore.code, `get serial before recover exits ${c.getBefore.code} (${get.stderr.trim()})`);
      if (c.getBefore.value !== undefined) t.equal(get.stdout, `${c.getBefore.value}\n`);
      else t.match(get.stderr, /serial.*damaged/, 'and says the key is damaged');
    }
    t.same(readBytes(img), damaged, 'check and get wrote nothing');

    const recover = await ws.run(['nvram', 'recover', '--device', img, '--json']);
    t.equal(recover.code, c.recover.code, `recover exits ${c.recover.code} (${recover.stderr.trim()})`);
    t.match(recover.json(), c.recover.json, 'recover reports');
    if (Array.isArray(c.recover.json.recovered)) t.same(recover.json().recovered, c.recover.json.recovered, 'exactly these sectors recovered');
    t.same(await listValues(ws, img), c.after, 'the values a reader sees afterwards');
    const after = readBytes(img);
    for (const [offset, length] of c.untouched ?? [])
      t.same(after.subarray(offset, offset + length), damaged.subarray(offset, offset + length), `bytes ${offset}+${length} (the good copy) kept as they were`);
    const again = await ws.run(['nvram', 'check', '--device', img, '--json']);
    t.equal(again.code, 0, 'check is clean afterwards');
  });
}
