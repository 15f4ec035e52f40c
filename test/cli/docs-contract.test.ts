// docs/cli.md against the binary: every documented command exists and every command is documented; every
// flag a command takes is named in its section and every flag a section or synopsis names is taken; choices
// agree; and the JSON the cheap verbs print has exactly the documented fields. (The daemon's `status` and
// `reload` JSON are checked against the same docs in test/agent/daemon.test.ts, where a daemon runs.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { cliDoc, docSections, flagsIn, parseShape, shapeAfter, shapeDiff, synopses, type DocSection } from './cli-doc';
import type { Command } from 'commander';
import { cliPath, salvor } from './run-cli';

interface CommandInfo {
  path: string[];
  options: { flags: string[]; choices: string[] }[];
  subcommands: string[];
}

/** The binary's command tree: the program dist/tools/salvor.js builds (what `--help` prints at every level). */
function commandTree(): Map<string, CommandInfo> {
  const { buildProgram } = require(cliPath) as { buildProgram: () => Command };
  const tree = new Map<string, CommandInfo>();
  const walk = (cmd: Command, path: string[]) => {
    tree.set(path.join(' '), {
      path,
      options: cmd.options.map((o) => ({ flags: [o.long, o.short].filter((f): f is string => !!f), choices: o.argChoices ?? [] })),
      subcommands: cmd.commands.map((c) => c.name()),
    });
    for (const c of cmd.commands) walk(c, [...path, c.name()]);
  };
  walk(buildProgram(), []);
  return tree;
}

const sections = docSections();
const documentedPaths = new Set([...sections.flatMap((s) => s.paths.map((p) => p.join(' '))), ...synopses().filter((s) => s.path.length).map((s) => s.path.join(' '))]);
const sectionOf = (path: string) => sections.find((s) => s.paths.some((p) => p.join(' ') === path));

/** The doc text that speaks for a command: its own section (the deepest that matches) and its group's intro. */
function docFor(path: string[]): DocSection | undefined {
  for (let n = path.length; n > 0; n--) {
    const hit = sectionOf(path.slice(0, n).join(' '));
    if (hit) return hit;
  }
  return undefined;
}

t.test("the binary's help lists the commands of the program walked here", async (t) => {
  const [root, nvram] = await Promise.all([salvor(['--help']), salvor(['nvram', '--help'])]);
  const listed = (text: string) => [...text.split('Commands:\n')[1]!.matchAll(/^  ([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((n) => n !== 'help');
  const tree = commandTree();
  t.same(listed(root.stdout), tree.get('')!.subcommands);
  t.same(listed(nvram.stdout), tree.get('nvram')!.subcommands);
});

t.test('docs/cli.md and the binary: commands, flags, choices', async (t) => {
  const tree = commandTree();
  const leaves = [...tree.values()].filter((h) => h.path.length && !h.subcommands.length);
  const binaryPaths = new Set([...tree.keys()].filter(Boolean));

  for (const p of binaryPaths) t.ok(documentedPaths.has(p), `salvor ${p} is documented in docs/cli.md`);
  for (const p of documentedPaths) t.ok(binaryPaths.has(p), `documented salvor ${p} exists`);

  for (const leaf of leaves) {
    const doc = docFor(leaf.path);
    const text = doc ? doc.text + doc.intro : '';
    for (const o of leaf.options) {
      const flag = o.flags.find((f) => f !== '--help');
      if (!flag || flag === '--version') continue;
      t.ok(new RegExp(`(?<![\\w-])${flag}(?![\\w-])`).test(text), `salvor ${leaf.path.join(' ')} ${flag} is named in its docs section`);
    }
  }

  for (const syn of synopses().filter((s) => s.path.length)) {
    const h = tree.get(syn.path.join(' '));
    if (!h) continue; // reported above
    const taken = new Set(h.options.flatMap((o) => o.flags));
    for (const f of syn.flags) t.ok(taken.has(f), `\`${syn.line}\`: salvor ${syn.path.join(' ')} takes ${f}`);
    for (const m of syn.line.matchAll(/(--[a-z-]+) ([a-z0-9]+(?:\|[a-z0-9]+)+)/g)) {
      const option = h.options.find((o) => o.flags.includes(m[1]!));
      t.same(option?.choices.slice().sort(), m[2]!.split('|').sort(), `salvor ${syn.path.join(' ')} ${m[1]} choices are ${m[2]}`);
    }
  }

  for (const s of sections) {
    const names = s.paths.map((p) => p.join(' '));
    const under = [...tree.values()].filter((h) => names.some((n) => `${h.path.join(' ')} `.startsWith(`${n} `)));
    const taken = new Set(under.flatMap((h) => h.options.flatMap((o) => o.flags)));
    for (const f of flagsIn(s.text)) t.ok(taken.has(f), `docs/cli.md section "salvor ${names.join(', ')}" names ${f}: a command there takes it`);
  }
});

/**
 * The rows of the `### check` JSON table: each field, whether it is salvor-only, U-Boot-only or common,
 * and whether it is printed only in a situation the row names ("salvor, only when ...:").
 */
function checkTable(): { field: string; only: 'salvor' | 'uboot' | null; conditional: boolean }[] {
  const section = sectionOf('nvram check')!.text;
  const rows: { field: string; only: 'salvor' | 'uboot' | null; conditional: boolean }[] = [];
  for (const m of section.matchAll(/^\| ((?:`[A-Za-z]+`(?:, )?)+) \| (.*) \|$/gm)) {
    const only = /^salvor[:,]/.test(m[2]!) ? 'salvor' : /^U-Boot[:,]/.test(m[2]!) ? 'uboot' : null;
    const conditional = /^(salvor|U-Boot), only when [^:]*:/.test(m[2]!);
    for (const f of m[1]!.matchAll(/`([A-Za-z]+)`/g)) rows.push({ field: f[1]!, only, conditional });
  }
  return rows;
}

/** Field names a prose paragraph gives in backticks, leaving out what is in parentheses (their values). */
function proseFields(text: string): string[] {
  const bare = text.replace(/\([^()]*\)/g, '');
  return [...new Set([...bare.matchAll(/`([a-z][A-Za-z]+)`/g)].map((m) => m[1]!))];
}

t.test('docs/cli.md and the binary: the JSON each cheap verb prints', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'salvor-docs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { SALVOR_STATE_DIR: join(dir, 'var') };
  const json = async (args: string[], codes = [0]) => {
    const r = await salvor([...args, '--json'], env);
    t.ok(codes.includes(r.code ?? -1), `salvor ${args.join(' ')} --json: exit ${r.code} ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  const nv = join(dir, 'nv.img');
  const env1 = join(dir, 'env.bin');
  const fwConfig = join(dir, 'fw_env.config');
  const mk = spawnSync('mkenvimage', ['-s', '0x4000', '-o', env1, '-'], { input: 'foo=bar\n' });
  if (mk.status !== 0) throw new Error(`mkenvimage failed (u-boot-tools: tools/setup-test-deps.sh installs it): ${mk.stderr}`);
  writeFileSync(fwConfig, `${env1} 0x0 0x4000\n`);
  const trace = join(dir, 'trace.csv');
  writeFileSync(trace, 't_ms,bytes\n' + Array.from({ length: 50 }, (_, i) => `${i * 60_000},${100_000_000 + (i % 3) * 1000}`).join('\n') + '\n');

  // runs that touch different things overlap; those on the same NVRAM go in order
  const [format, analyze, replicateStatus, ubootCheck] = await Promise.all([
    json(['nvram', 'format', '--device', nv, '--size', '64K']),
    json(['leak', 'analyze', '--trace', trace]),
    json(['replicate', 'status']),
    json(['nvram', 'check', '--uboot-config', fwConfig]),
  ]);
  const setOut = await json(['nvram', 'set', '--device', nv, 'boot_count', '3', '--type', 'int']);
  const [getOut, listOut, ubootRecover] = await Promise.all([
    json(['nvram', 'get', '--device', nv, 'boot_count']),
    json(['nvram', 'list', '--device', nv]),
    json(['nvram', 'recover', '--uboot-config', fwConfig]),
  ]);
  const unsetOut = await json(['nvram', 'unset', '--device', nv, 'boot_count']);
  const salvorCheck = await json(['nvram', 'check', '--device', nv]);
  const salvorRecover = await json(['nvram', 'recover', '--device', nv]);

  t.same(shapeDiff(shapeAfter(/### format[\s\S]*?JSON: `/), format), [], 'nvram format');
  const bullets = sectionOf('nvram get')!.text.split('\n- ');
  const bulletShape = (verb: string) => shapeAfter(/JSON: `/, bullets.find((b) => b.startsWith(`\`${verb}\``))!);
  t.same(shapeDiff(bulletShape('set'), setOut), [], 'nvram set');
  t.same(shapeDiff(bulletShape('get'), getOut), [], 'nvram get');
  t.same(shapeDiff(bulletShape('list'), listOut), [], 'nvram list');
  t.same(shapeDiff(bulletShape('unset'), unsetOut), [], 'nvram unset');

  const checks = { salvor: salvorCheck, uboot: ubootCheck };
  const table = checkTable();
  for (const [fmt, report] of Object.entries(checks)) {
    const rows = table.filter((r) => r.only === null || r.only === fmt);
    const printed = Object.keys(report);
    // a clean device: every field but the conditional ones, and nothing the table does not list
    const expected = rows.filter((r) => !r.conditional || printed.includes(r.field)).map((r) => r.field);
    t.same(printed.sort(), expected.sort(), `nvram check --json (${fmt}): the table's fields, no more`);
  }
  const recovers = { salvor: salvorRecover, uboot: ubootRecover };
  const recoverFields = proseFields(sectionOf('nvram recover')!.text);
  for (const [fmt, report] of Object.entries(recovers)) {
    const check = Object.keys(checks[fmt as keyof typeof checks]);
    const extra = Object.keys(report).filter((k) => !check.includes(k));
    for (const k of extra) t.ok(recoverFields.includes(k), `nvram recover --json (${fmt}) prints ${k}: documented`);
  }
  const printed = new Set(Object.values(recovers).flatMap((r) => Object.keys(r)));
  for (const k of recoverFields) t.ok(printed.has(k), `nvram recover --json documents ${k}: printed`);

  t.same(shapeDiff(shapeAfter(/### analyze[\s\S]*?`--json` prints exactly `/), analyze), [], 'leak analyze');
  t.same(shapeDiff(shapeAfter(/reads what every replication process[\s\S]*?: `/), replicateStatus), [], 'replicate status');
});

t.test('the doc parser reads the shapes it is given', async (t) => {
  const shape = parseShape('{device, geometry:{size,sectorSize}, list:[{key, value}], "verdict":"a"|"b", n:..}');
  t.same([...shape.keys()], ['device', 'geometry', 'list', 'verdict', 'n']);
  t.same(shapeDiff(shape, { device: 1, geometry: { size: 1, sectorSize: 2 }, list: [{ key: 1, value: 2 }], verdict: 'a', n: 1 }), []);
  t.same(shapeDiff(shape, { device: 1, geometry: { size: 1 }, list: [], verdict: 'a', extra: 1 }), ['n: documented, not printed', 'extra: printed, not documented', 'geometry.sectorSize: documented, not printed']);
  t.ok(cliDoc.length > 1000);
});
