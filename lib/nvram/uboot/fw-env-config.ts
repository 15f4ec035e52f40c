import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { SalvorError } from '../../../bindings/salvor-error';

/**
 * fw_env.config, read the way fw_printenv/fw_setenv read it (docs/formats/uboot-env.md), so one file
 * means the same bytes to both tools: `device offset envsize [sectorsize [numsectors]]` per copy.
 * The offset is a C integer (decimal, 0x hex, leading-0 octal); the sizes are always hexadecimal,
 * with or without 0x, because that is how the U-Boot tools scan them ("4000" is 0x4000).
 */
export interface UbootCopyLocation {
  /** Device or image path, resolved against the working directory as fw_printenv does. */
  device: string;
  offset: number;
  envSize: number;
  /** Erase-sector size and count: carried for completeness; file and block I/O does not use them. */
  sectorSize: number | undefined;
  sectorCount: number | undefined;
  /** 1-based line of the config file this copy came from. */
  line: number;
}

export interface UbootConfig {
  path: string;
  /** One copy: a single environment; two: a redundant pair (copy 0 first). */
  copies: UbootCopyLocation[];
}

/** Smallest useful environment: the redundant header (CRC + flags) plus an empty list ("\0\0"). */
const minEnvSize = 4 + 1 + 2;

function badConfig(path: string, line: number, what: string): SalvorError {
  return new SalvorError('SALVOR_BAD_INPUT', `${path}:${line}: ${what}`, { path });
}

/** A C integer as `%lli` takes it, but whole-field only and never negative. */
function parseOffset(field: string): number | undefined {
  let n: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(field)) n = parseInt(field.slice(2), 16);
  else if (/^0[0-7]*$/.test(field)) n = field.length > 1 ? parseInt(field.slice(1), 8) : 0;
  else if (/^[1-9][0-9]*$/.test(field)) n = parseInt(field, 10);
  else return undefined;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A size as `%lx` takes it: hexadecimal digits, optional 0x prefix. */
function parseHexSize(field: string): number | undefined {
  const m = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(field);
  if (!m) return undefined;
  const n = parseInt(m[1], 16);
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseLine(path: string, lineNo: number, fields: string[], cwd: string): UbootCopyLocation {
  if (fields.length < 3)
    throw badConfig(path, lineNo, `missing fields: expected 'device offset envsize [sectorsize [numsectors]]', got ${fields.length} field(s)`);
  if (fields.length > 5)
    throw badConfig(path, lineNo, `too many fields: expected 'device offset envsize [sectorsize [numsectors]]', got ${fields.length}`);
  const [device, offsetField, sizeField, sectorField, countField] = fields;
  if (offsetField.startsWith('-'))
    throw badConfig(path, lineNo, `offset '${offsetField}' is negative; offsets from the end of a device are not supported`);
  const offset = parseOffset(offsetField);
  if (offset === undefined)
    throw badConfig(path, lineNo, `offset '${offsetField}' is not a number (decimal, 0x hex or 0-prefixed octal)`);
  const envSize = parseHexSize(sizeField);
  if (envSize === undefined) throw badConfig(path, lineNo, `envsize '${sizeField}' is not a hexadecimal number`);
  if (envSize < minEnvSize) throw badConfig(path, lineNo, `envsize ${sizeField} is too small (at least ${minEnvSize} bytes)`);
  let sectorSize: number | undefined;
  let sectorCount: number | undefined;
  if (sectorField !== undefined) {
    sectorSize = parseHexSize(sectorField);
    if (sectorSize === undefined) throw badConfig(path, lineNo, `sectorsize '${sectorField}' is not a hexadecimal number`);
  }
  if (countField !== undefined) {
    sectorCount = parseHexSize(countField);
    if (sectorCount === undefined) throw badConfig(path, lineNo, `numsectors '${countField}' is not a hexadecimal number`);
  }
  return { device: resolve(cwd, device), offset, envSize, sectorSize, sectorCount, line: lineNo };
}

/** Parses config text; `path` only names the file in errors. Relative devices resolve against `cwd`. */
export function parseUbootConfig(text: string, path: string, cwd: string = process.cwd()): UbootConfig {
  const copies: UbootCopyLocation[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const words = lines[i].trim().split(/[ \t\r\f\v]+/).filter((w) => w !== '');
    const commentAt = words.findIndex((w) => w.startsWith('#'));
    const fields = commentAt < 0 ? words : words.slice(0, commentAt);
    if (fields.length === 0) continue;
    if (copies.length === 2) throw badConfig(path, lineNo, 'too many environment lines: at most two (a redundant pair) are allowed');
    copies.push(parseLine(path, lineNo, fields, cwd));
  }
  if (copies.length === 0) throw badConfig(path, lines.length, 'no environment line found');
  if (copies.length === 2) {
    const [first, second] = copies;
    if (first.envSize !== second.envSize)
      throw badConfig(
        path,
        second.line,
        `envsize 0x${second.envSize.toString(16)} differs from line ${first.line}'s 0x${first.envSize.toString(16)}; both copies must be the same size`,
      );
    if (first.device === second.device && first.offset < second.offset + second.envSize && second.offset < first.offset + first.envSize)
      throw badConfig(path, second.line, `copy overlaps line ${first.line}'s copy on ${first.device}`);
  }
  return { path, copies };
}

/** Reads and parses the config file (a missing file is ENOENT naming it). */
export async function readUbootConfig(path: string, cwd: string = process.cwd()): Promise<UbootConfig> {
  const text = await readFile(path, 'utf8').catch((e) => {
    throw SalvorError.fromNode(e, path);
  });
  return parseUbootConfig(text, path, cwd);
}
