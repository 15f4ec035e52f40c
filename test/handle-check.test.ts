// The handle check every test file runs under (test/handle-check.js) really fails a file that
// leaves a server open, names what was left, and ends that process instead of letting it hang.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';

const root = join(__dirname, '..');

function runFixture(leak: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, LEAK: leak };
  for (const k of Object.keys(env)) if (k.startsWith('TAP')) delete env[k]; // a root TAP of its own, not a subtest of ours
  return spawnSync(process.execPath, ['--require', join(root, 'test', 'handle-check.js'), join(root, 'test', 'fixtures', 'leaky-file.js')], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

t.test('a file that leaves a listening server open fails, naming it', async (t) => {
  const r = runFixture('server');
  t.equal(r.signal, null, 'the process ended by itself, not by a timeout');
  t.equal(r.status, 1, 'exit status 1');
  const out = r.stdout + r.stderr;
  t.match(out, /error thrown in teardown/, 'tap reports the check failing');
  t.match(out, /the test file left handles open: TCPServerWrap x1/, 'naming the handle');
  t.match(out, /"address":"127\.0\.0\.1"/, 'and where it listens');
  t.match(r.stdout, /^ok 1 - a test that passes/m, 'the file\'s own tests still ran');
});

t.test('the same file closing its server in a teardown passes', async (t) => {
  const r = runFixture('none');
  t.equal(r.status, 0, `exit 0 ${r.stderr.trim()}`);
  t.notMatch(r.stdout, /not ok/);
});
