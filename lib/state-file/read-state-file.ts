import { readFile } from 'node:fs/promises';
import { SalvorError } from '../../bindings/salvor-error';

/** A state file's text, or undefined when it does not exist; any other failure is a SalvorError naming the file. */
export async function readStateFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw SalvorError.fromNode(e, path);
  }
}
