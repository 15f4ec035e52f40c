import { SingleBar } from 'cli-progress';

export interface Progress {
  update(done: number, total?: number): void;
  stop(): void;
}

/**
 * Progress of long CLI work on stderr: a bar on a terminal, plain lines elsewhere (a log, a pipe,
 * journald) at most every `everyMs`, so scripts and logs are not flooded with redraws.
 */
export function progress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr, everyMs = 1000): Progress {
  if (stream.isTTY) {
    const bar = new SingleBar({ format: `${label} [{bar}] {percentage}% {value}/{total}`, stream, hideCursor: true, clearOnComplete: false });
    bar.start(total, 0);
    return {
      update: (done, t) => {
        if (t !== undefined) bar.setTotal(t);
        bar.update(done);
      },
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  let current = 0;
  let of = total;
  const line = () => stream.write(`${label}: ${current}/${of} (${of ? Math.floor((current / of) * 100) : 100}%)\n`);
  return {
    update(done, t) {
      current = done;
      if (t !== undefined) of = t;
      if (Date.now() - last >= everyMs) {
        last = Date.now();
        line();
      }
    },
    stop: () => line(),
  };
}
