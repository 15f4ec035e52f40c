// Parser errors follow docs/cli.md: one line `salvor: ...` on stderr, with --json one {"error":...} object on
// stdout, exit 16; flags name the kind of value they take; a bad input file is named.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { salvor } from './run-cli';

const dir = mkdtempSync(join(tmpdir(), 'salvor-usage-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const env = { SALVOR_STATE_DIR: dir };

const parseErrors: [string, string[], RegExp][] = [
  ['unknown option', ['doctor', '--json', '--bogus'], /unknown option '--bogus'/],
  ['unknown command', ['bogus', '--json'], /unknown command 'bogus'/],
  ['missing argument', ['nvram', 'get', '--device', join(dir, 'nv.img'), '--json'], /missing required argument 'key'/],
  ['missing required option', ['leak', 'analyze', '--json'], /--trace/],
  ['invalid choice', ['nvram', 'set', '--device', join(dir, 'nv.img'), 'k', '1.5', '--type', 'float', '--json'], /'float'.*string, int, bytes/],
  ['option without its value', ['nvram', 'check', '--json', '--device'], /--device/],
  ['too many arguments', ['nvram', 'get', '--device', join(dir, 'nv.img'), 'a', 'b', '--json'], /too many arguments/],
  ['not a duration: --interval', ['replicate', 'primary', '--region', join(dir, 'r'), '--listen', 'tcp://127.0.0.1:0', '--interval', 'abc', '--json'], /'abc' is not a duration/],
  ['not a duration: --lock-timeout', ['nvram', 'check', '--device', join(dir, 'nv.img'), '--lock-timeout', 'abc', '--json'], /'abc' is not a duration/],
  ['not a count: --max-rounds', ['replicate', 'primary', '--region', join(dir, 'r'), '--listen', 'tcp://127.0.0.1:0', '--max-rounds', '2x', '--json'], /'2x' is not a count/],
];

t.test('every parser error: one salvor: line on stderr, one {"error"} object on stdout, exit 16', async (t) => {
  const runs = await Promise.all(parseErrors.map(([, args]) => salvor(args, env)));
  parseErrors.forEach(([what, , message], i) => {
    const r = runs[i]!;
    t.equal(r.code, 16, `${what}: exit 16`);
    const err = r.stderr.trim().split('\n');
    t.equal(err.length, 1, `${what}: one line on stderr (${r.stderr})`);
    t.match(err[0], /^salvor: /, `${what}: salvor: prefix`);
    t.match(err[0], message, `${what}: says what is wrong`);
    t.notMatch(r.stderr, /is not a size/, `${what}: names the right kind`);
    const out = r.stdout.trim().split('\n');
    t.equal(out.length, 1, `${what}: one line on stdout`);
    const j = JSON.parse(out[0]!) as { error: { code: string; message: string } };
    t.equal(j.error.code, 'SALVOR_USAGE', `${what}: code`);
    t.match(j.error.message, message, `${what}: the message`);
  });
});

t.test('without --json: the line on stderr and nothing on stdout', async (t) => {
  const r = await salvor(['nvram', 'set', '--device', join(dir, 'nv.img'), 'k', 'v', '--type', 'float'], env);
  t.equal(r.code, 16);
  t.equal(r.stdout, '');
  t.match(r.stderr, /^salvor: option '--type <type>' argument 'float' is invalid/);
});

t.test('bare salvor and a group without a verb: help on stderr, exit 16; --help and --version exit 0', async (t) => {
  const [bare, group, help, version] = await Promise.all([salvor([], env), salvor(['nvram'], env), salvor(['--help'], env), salvor(['--version'], env)]);
  t.equal(bare.code, 16, 'bare salvor is a usage error');
  t.match(bare.stderr, /Usage: salvor/);
  t.equal(bare.stdout, '');
  t.equal(group.code, 16);
  t.match(group.stderr, /Usage: salvor nvram/);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: salvor/);
  t.equal(version.code, 0);
  t.match(version.stdout, /^\d+\.\d+\.\d+/);
});

t.test('leak analyze names its input: a directory, a missing file', async (t) => {
  const [asDir, missing] = await Promise.all([salvor(['leak', 'analyze', '--trace', dir, '--json'], env), salvor(['leak', 'analyze', '--trace', join(dir, 'nope.csv')], env)]);
  t.equal(asDir.code, 16);
  t.equal(asDir.stderr, `salvor: --trace ${dir}: is a directory, not a file\n`);
  t.match(JSON.parse(asDir.stdout), { error: { code: 'EISDIR', path: dir } });
  t.equal(missing.code, 16);
  t.equal(missing.stderr, `salvor: --trace ${join(dir, 'nope.csv')}: no such file\n`);
});

t.test('a first trace line 0,-100 is a bad sample, as on line 2; a named header is skipped', async (t) => {
  const first = join(dir, 'first.csv');
  const second = join(dir, 'second.csv');
  writeFileSync(first, '0,-100\n5000,200\n');
  writeFileSync(second, '0,100\n5000,-100\n');
  const [a, b] = await Promise.all([salvor(['leak', 'analyze', '--trace', first], env), salvor(['leak', 'analyze', '--trace', second], env)]);
  t.equal(a.code, 16, a.stderr);
  t.match(a.stderr, /line 1: '0,-100' is not t_ms,bytes/);
  t.equal(b.code, 16);
  t.match(b.stderr, /line 2: '5000,-100' is not t_ms,bytes/);
});
