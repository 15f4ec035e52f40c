import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces a file whole: writes a temporary beside it (flushed when `durable`), then renames it over
 * the old one, so a reader or a crash sees the old contents or the new, never a part. When `durable`,
 * the directory is flushed too, so the rename itself survives a power cut. A failed write removes its
 * temporary and leaves the old file as it was. Every state file salvor keeps goes through here.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, options: { durable?: boolean; mode?: number } = {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fh = await open(tmp, 'w', options.mode ?? 0o600);
    try {
      await fh.writeFile(data);
      if (options.durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  if (options.durable) await syncDirectory(dirname(path));
}

async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
