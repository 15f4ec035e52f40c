import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';

/** Stops a simulated writer: waits for the burst in flight, then closes the file. */
export type StopWriter = () => Promise<void>;

/**
 * A stand-in application for a replicated region file: writes a few random bytes into random pages
 * every interval, so a local pair has something to replicate on a machine without the real workload.
 */
export function simulatedApplicationWriter(path: string, size: number, intervalMs: number): StopWriter {
  const pages = size / 4096;
  const fhp = open(path, 'r+');
  let writing: Promise<void> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    // One burst at a time, and stop() waits for the one in flight before it closes the file.
    writing = writing.then(async () => {
      if (stopped) return;
      const fh = await fhp;
      for (let k = 0; k < 4; k++) await fh.write(randomBytes(64), 0, 64, Math.floor(Math.random() * pages) * 4096 + Math.floor(Math.random() * 4032));
    });
    writing = writing.catch(() => undefined);
  }, intervalMs);
  return async () => {
    stopped = true;
    clearInterval(timer);
    await writing;
    await (await fhp).close();
  };
}
