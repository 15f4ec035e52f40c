import { open, rename } from 'node:fs/promises';

/**
 * Replaces a file whole: writes a temporary beside it (flushed when `durable`), then renames it over
 * the old one, so a reader or a crash sees the old contents or the new, never a part. Every state
 * file salvor keeps goes through here.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, options: { durable?: boolean; mode?: number } = {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', options.mode ?? 0o600);
  try {
    await fh.writeFile(data);
    if (options.durable) await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}
