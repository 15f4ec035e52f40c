import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LeakWatcher, type LeakEvent } from '../../lib/leak/leak-watcher';
import { timeCompressed } from '../../lib/leak/leak-options';
import { ProcMemorySource } from '../../platform/linux/proc-memory';
import { tempDir } from './helpers';

// The live path end to end: real processes (a C program and a Node script, each leaking or not),
// RssAnon read from /proc, time compressed 600x (an hour of behaviour in 6 s).

const C_SOURCE = `
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int leak = argc > 1 && argv[1][0] == 'l';
  char *keep = malloc(8 << 20);
  memset(keep, 1, 8 << 20);
  printf("ready\\n");
  fflush(stdout);
  for (;;) {
    char *p = malloc(64 << 10);
    memset(p, 7, 64 << 10);
    if (!leak) free(p);
    usleep(10000);
  }
}
`;

const NODE_SOURCE = `
const leak = process.argv[2] === 'leak';
const kept = [];
let sink = 0;
function work() {
  const garbage = [];
  for (let i = 0; i < 200; i++) garbage.push('x'.repeat(200) + i);
  sink += garbage.length;
  if (leak) kept.push(Buffer.alloc(64 * 1024, 7));
}
const start = Date.now();
while (Date.now() - start < 300) work();
process.stdout.write('ready\\n');
setInterval(work, 10);
`;

function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
}

t.test('live: the leaking C program and Node script are confirmed, the steady ones are not', async (t) => {
  const cc = spawnSync('cc', ['--version']);
  if (cc.status !== 0) {
    t.skip('no C compiler (cc) on this machine: the live test needs one to build its C program');
    return;
  }
  const dir = tempDir(t);
  writeFileSync(join(dir, 'mem.c'), C_SOURCE);
  writeFileSync(join(dir, 'mem.js'), NODE_SOURCE);
  const built = spawnSync('cc', ['-O1', '-o', join(dir, 'mem'), join(dir, 'mem.c')], { encoding: 'utf8' });
  t.equal(built.status, 0, `cc: ${built.stderr}`);

  const children = {
    cLeak: spawn(join(dir, 'mem'), ['leak'], { stdio: ['ignore', 'pipe', 'inherit'] }),
    cSteady: spawn(join(dir, 'mem'), ['steady'], { stdio: ['ignore', 'pipe', 'inherit'] }),
    nodeLeak: spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, join(dir, 'mem.js'), 'leak'], { stdio: ['ignore', 'pipe', 'inherit'] }),
    nodeSteady: spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, join(dir, 'mem.js'), 'steady'], { stdio: ['ignore', 'pipe', 'inherit'] }),
  };
  t.teardown(() => {
    for (const c of Object.values(children)) c.kill('SIGKILL');
  });
  await Promise.all(Object.values(children).map(ready));

  const pidOf = Object.fromEntries(Object.entries(children).map(([k, c]) => [c.pid as number, k]));
  const watcher = new LeakWatcher(
    {
      targets: Object.values(children).map((c) => ({ kind: 'pid' as const, pid: c.pid as number })),
      intervalMs: 20,
      detector: timeCompressed(600, { horizonMs: 1e12 }),
    },
    new ProcMemorySource(),
  );
  const events: LeakEvent[] = [];
  watcher.on('event', (e: LeakEvent) => {
    if (e.event !== 'sample') events.push(e);
  });
  watcher.start();
  const confirmed = () => new Set(events.filter((e) => e.event === 'confirmed').map((e) => pidOf[e.pid as number]));
  // Detection takes about 5 to 8 s here; the deadline is generous so a loaded machine does not fail it.
  const deadline = Date.now() + 25_000;
  while (Date.now() < deadline && !(confirmed().has('cLeak') && confirmed().has('nodeLeak'))) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 1000)); // a little longer, for a false alert to show if there is one
  await watcher.stop();

  const snap = watcher.snapshot();
  const found = confirmed();
  t.ok(found.has('cLeak'), 'the leaking C program is confirmed');
  t.ok(found.has('nodeLeak'), 'the leaking Node script is confirmed');
  t.notOk(found.has('cSteady'), 'the steady C program is not');
  t.notOk(found.has('nodeSteady'), 'the steady Node script is not');
  const c = events.find((e) => e.event === 'confirmed' && pidOf[e.pid as number] === 'cLeak');
  t.equal(c?.name, 'mem', 'the name is the comm');
  t.equal(c?.metric, 'rss-anon');
  t.ok((c?.smaps?.anonymousBytes ?? 0) > 8 << 20, 'smaps_rollup was read on confirmation');
  t.ok(snap.targets.every((s) => s.footprint.raw <= 720), 'history bounded');
  t.comment(`events: ${events.map((e) => `${e.event}:${pidOf[e.pid as number]}@${e.score}`).join(' ')}`);
});
