// The import directions DESIGN.md sets, checked on every import statement (static, dynamic and
// require, as TypeScript's own pre-processor reads them): capability folders never import the
// daemon (lib/agent), and lib never imports platform/ or tools/ (the composition root does).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import t from 'tap';
import ts from 'typescript';

const root = join(__dirname, '..', '..');
const capabilities = ['nvram', 'replication', 'transport', 'leak', 'doctor'];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Every module a file imports, as a path relative to the repository root (package imports left out). */
export function importsOf(file: string): { line: number; target: string }[] {
  const text = readFileSync(file, 'utf8');
  const info = ts.preProcessFile(text, true, true);
  const lineOf = (pos: number) => text.slice(0, pos).split('\n').length;
  return info.importedFiles
    .filter((f) => f.fileName.startsWith('.'))
    .map((f) => ({ line: lineOf(f.pos), target: relative(root, resolve(dirname(file), f.fileName)) }));
}

/** The imports of the files under `folder` whose target starts with one of `forbidden`. */
function offending(folder: string, forbidden: string[]): string[] {
  const found: string[] = [];
  for (const file of sources(join(root, folder)))
    for (const { line, target } of importsOf(file))
      if (forbidden.some((f) => target === f || target.startsWith(f + '/'))) found.push(`${relative(root, file)}:${line} imports ${target}`);
  return found;
}

t.test('the checker sees every kind of import statement', async (t) => {
  const probe = join(root, 'test', 'layout', 'fixtures', 'imports-sample.ts');
  t.same(
    importsOf(probe).map((i) => i.target),
    ['lib/agent/daemon', 'lib/agent/config', 'lib/agent/logger', 'lib/agent/metrics', 'lib/agent/capability'],
  );
});

for (const capability of capabilities)
  t.test(`lib/${capability} does not import lib/agent`, async (t) => {
    t.same(offending(`lib/${capability}`, ['lib/agent']), [], 'the daemon uses the capabilities, not the other way round');
  });

t.test('lib imports neither platform/ nor tools/', async (t) => {
  t.same(offending('lib', ['platform', 'tools']), [], 'backends reach lib from the composition root (tools/platform.ts)');
});
