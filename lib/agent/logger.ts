import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs: one JSON object per line on stdout (journald keeps each line as one entry), with
 * `time` in ISO form and the level as a word; capabilities log through children carrying `capability`.
 */
export function createLogger(level: string, destination: NodeJS.WritableStream | number = 1): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        // `pid` is the daemon's, once a line: a record naming another process calls it subjectPid
        log: (record) => {
          if (!('pid' in record)) return record;
          const { pid, ...rest } = record;
          return { ...rest, subjectPid: pid };
        },
      },
    },
    typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination,
  );
}
