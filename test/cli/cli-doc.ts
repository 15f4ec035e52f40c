/**
 * Reads docs/cli.md the way an operator does: its sections per command, the synopsis lines, the flags each
 * section names, and the JSON shapes written as `{a, b:{c}, d:[{e}]}` or `{"a","b":[{"c"}]}`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './run-cli';

export const cliDoc = readFileSync(join(root, 'docs', 'cli.md'), 'utf8');

export interface DocSection {
  /** `## salvor nvram` -> [['nvram']]; `### get, set` under it -> [['nvram', 'get'], ['nvram', 'set']]. */
  paths: string[][];
  /** The section's own text, without its subsections. */
  text: string;
  /** The text of the enclosing `##` section before its first subsection (shared flags live there). */
  intro: string;
}

export function docSections(doc = cliDoc): DocSection[] {
  const out: DocSection[] = [];
  const parts = doc.split(/^(?=#{2,3} )/m);
  let parent: string[] = [];
  let intro = '';
  for (const part of parts) {
    const h2 = /^## salvor ([a-z-]+)/.exec(part);
    const h3 = /^### ([a-z-]+(?:, [a-z-]+)*)\n/.exec(part);
    if (h2) {
      parent = [h2[1]!];
      intro = part;
      out.push({ paths: [parent], text: part, intro: '' });
    } else if (h3 && parent.length) {
      out.push({ paths: h3[1]!.split(', ').map((verb) => [...parent, verb]), text: part, intro });
    } else if (/^## /.test(part)) {
      parent = [];
      intro = '';
    }
  }
  return out;
}

/** Every `salvor a b ...` synopsis line in code spans or blocks: the command path and its flags. */
export function synopses(doc = cliDoc): { path: string[]; line: string; flags: string[] }[] {
  const blocks = [...doc.matchAll(/^```[a-z]*\n([\s\S]*?)^```/gm)].flatMap((m) => m[1]!.split('\n'));
  const lines = [...doc.matchAll(/`(salvor [^`]+)`/g)].map((m) => m[1]!).concat(blocks.filter((l) => /^salvor [a-z]/.test(l)));
  return lines.map((line) => {
    const words = line.split(/\s+/).slice(1);
    const path: string[] = [];
    for (const w of words) {
      if (!/^[a-z][a-z-]*$/.test(w)) break;
      path.push(w);
    }
    return { path, line, flags: flagsIn(line) };
  });
}

export function flagsIn(text: string): string[] {
  return [...new Set([...text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]))];
}

/** A documented JSON shape: each key, with the shape of its value when the docs spell it out. */
export type Shape = Map<string, Shape | null>;

/** Parses `{a, b:{c,d}, e:[{f}]}` and `{"a":..,"b":[{"c"}]}` (values other than objects are skipped). */
export function parseShape(text: string): Shape {
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const object = (): Shape => {
    const shape: Shape = new Map();
    i++; // {
    for (;;) {
      ws();
      if (text[i] === '}') {
        i++;
        return shape;
      }
      if (text.startsWith('...', i)) {
        shape.set('...', null); // the docs name some keys and say there are more
        i += 3;
        continue;
      }
      const m = /^"?([A-Za-z_][A-Za-z0-9_]*)"?/.exec(text.slice(i));
      if (!m) throw new Error(`not a documented shape at ${i}: ${text}`);
      i += m[0].length;
      ws();
      let value: Shape | null = null;
      if (text[i] === ':') {
        i++;
        ws();
        if (text[i] === '{') value = object();
        else if (text[i] === '[' && text[i + 1] === '{') {
          i++;
          value = object();
          i++; // ]
        } else while (i < text.length && text[i] !== ',' && text[i] !== '}') i++;
      }
      shape.set(m[1]!, value);
      ws();
      if (text[i] === ',') i++;
    }
  };
  while (text[i] !== '{') i++;
  return object();
}

/** Differences between a documented shape and a real value: keys missing, keys undocumented (recursively). */
export function shapeDiff(shape: Shape, value: unknown, where = ''): string[] {
  const obj = Array.isArray(value) ? value[0] : value;
  if (obj === undefined) return [];
  if (typeof obj !== 'object' || obj === null) return [`${where || 'value'}: documented as an object, is ${JSON.stringify(obj)}`];
  const out: string[] = [];
  const keys = Object.keys(obj);
  for (const k of shape.keys()) if (k !== '...' && !keys.includes(k)) out.push(`${where}${k}: documented, not printed`);
  if (!shape.has('...')) for (const k of keys) if (!shape.has(k)) out.push(`${where}${k}: printed, not documented`);
  for (const [k, sub] of shape) if (sub && keys.includes(k)) out.push(...shapeDiff(sub, (obj as Record<string, unknown>)[k], `${where}${k}.`));
  return out;
}

/** The backticked `{...}` shape that follows `after` in the doc (balanced braces). */
export function shapeAfter(after: RegExp, doc = cliDoc): Shape {
  const m = after.exec(doc);
  if (!m) throw new Error(`docs/cli.md has no ${after}`);
  const start = doc.indexOf('{', m.index + m[0].length);
  let depth = 0;
  let end = start;
  for (; end < doc.length; end++) {
    if (doc[end] === '{') depth++;
    if (doc[end] === '}' && --depth === 0) break;
  }
  return parseShape(doc.slice(start, end + 1).replace(/\n/g, ' '));
}
