// The status page as an operator sees it: the built daemon on a temporary state directory, the page
// loaded in Debian's headless chromium (playwright-core), its content checked, no request leaving
// 127.0.0.1, a screenshot taken. SALVOR_UPDATE_SCREENSHOT=1 also copies it to docs/status-page.png.
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { chromium } from 'playwright-core';
import { CLI, daemon, fastConfig, freePort, sleep, workdir, writeConfig, type DaemonProc } from './daemon-helpers';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];

interface Status {
  summary: string;
  capabilities: { name: string; state: string; detail: Record<string, unknown> }[];
}

/** Polls /status.json until `ready` holds for it; stops early with the daemon's stderr if it exits. */
async function waitForStatus(base: string, d: DaemonProc, ready: (s: Status) => boolean, ms = 30_000): Promise<Status> {
  const until = Date.now() + ms;
  let last: Status | string = 'no answer yet';
  for (;;) {
    if (d.proc.exitCode !== null || d.proc.signalCode !== null) throw new Error(`the daemon exited (${d.proc.exitCode ?? d.proc.signalCode}): ${d.stderr().slice(-1500)}`);
    try {
      const s = (await (await fetch(`${base}/status.json`)).json()) as Status;
      if (ready(s)) return s;
      last = s;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > until) throw new Error(`the daemon never got there; last status: ${JSON.stringify(last).slice(0, 800)}`);
    await sleep(100);
  }
}

const detail = (s: Status, name: string) => s.capabilities.find((c) => c.name === name)?.detail ?? {};
const samplesOf = (s: Status) => ((detail(s, 'leak').watched as { samples: unknown[] }[] | undefined) ?? []).map((w) => w.samples.length);

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  if (!png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) || png.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

t.test('the status page in headless chromium', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`${CHROMIUM} is absent: install Debian's chromium package (.ci/run does)`);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx tsc -p .\` (npm test does it first)`);
  const dir = workdir(t);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = fastConfig(dir, port);
  delete config.stateDir; // the state directory comes from SALVOR_STATE_DIR, as under the systemd unit
  const d = daemon(['--config', writeConfig(join(dir, 'config.json'), config)], { SALVOR_STATE_DIR: join(dir, 'var') });
  t.teardown(() => {
    if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
  });

  const s = await waitForStatus(base, d, (s) =>
    s.summary === '4/4 capabilities running' && Number(detail(s, 'replication').epoch) > 0 && detail(s, 'nvram').clean === true && samplesOf(s).some((n) => n >= 4),
  );
  t.same(s.capabilities.map((c) => c.name).sort(), ['leak', 'nvram', 'replication', 'tee'], 'the daemon runs the four capabilities');

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  const response = await page.goto(`${base}/`, { waitUntil: 'load' });
  t.equal(response?.status(), 200, 'GET / answers 200');
  t.match(response?.headers()['content-security-policy'] ?? '', /default-src 'none'/, 'a CSP that forbids loading anything');
  t.match(await page.title(), /^salvor/);

  for (const name of ['nvram', 'replication', 'leak']) {
    t.equal(await page.locator(`#capabilities tr[data-capability="${name}"] td.state`).textContent(), 'running', `${name} is running in the table`);
  }
  t.match(await page.locator('#summary').textContent(), /4\/4 capabilities running/);
  const epoch = Number(await page.locator('#replication .epoch').textContent());
  t.ok(epoch > 0, `replication epoch ${epoch} > 0`);
  t.equal(await page.locator('#nvram .nvram-health').textContent(), 'clean', 'NVRAM health: clean');

  const charts = page.locator('#leak svg.chart');
  t.ok((await charts.count()) >= 1, 'the leak section has an inline SVG chart');
  const points = (await page.locator('#leak svg.chart polyline').first().getAttribute('points')) ?? '';
  const pairs = points.trim().split(/\s+/).filter(Boolean);
  t.ok(pairs.length >= 4, `the chart's polyline has ${pairs.length} points`);
  t.ok(pairs.every((p) => /^\d+(\.\d+)?,\d+(\.\d+)?$/.test(p)), 'every point is a finite x,y pair');

  t.ok(requests.length >= 1, `${requests.length} requests recorded`);
  const elsewhere = requests.filter((u) => !u.startsWith(`${base}/`));
  t.same(elsewhere, [], 'every request went to the daemon on 127.0.0.1');

  const shot = join(dir, 'status-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  const png = readFileSync(shot);
  const size = pngSize(png);
  t.equal(size.width, 1100, 'the screenshot has the viewport width');
  t.ok(size.height >= 300, `and a page's height (${size.height})`);
  t.ok(png.length > 20_000, `the screenshot is not blank (${png.length} bytes)`);
  if (process.env.SALVOR_UPDATE_SCREENSHOT === '1') copyFileSync(shot, join(__dirname, '..', '..', 'docs', 'status-page.png'));

  await browser.close();
  d.proc.kill('SIGTERM');
  const code = await d.exited;
  t.equal(code, 0, 'SIGTERM stops the daemon with exit 0', code === 0 ? {} : { stderr: d.stderr().slice(-2000), logs: d.logs.slice(-8) });
});
