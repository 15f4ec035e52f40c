import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { Exit, type ExitCode } from './exit-codes';
import { cliStreams, makeOutput, reportError, type Output } from './output';

/** A leaf verb's body: gets its parsed options and an Output, returns the exit code. */
export type VerbHandler<O> = (opts: O, out: Output, args: string[]) => Promise<ExitCode>;

/** Thrown instead of exiting when commander ends a run (help, version, a usage error): runCli turns it into the exit code. */
export class CliExit extends Error {
  constructor(readonly code: ExitCode) {
    super(`exit ${code}`);
  }
}

/**
 * Makes commander's parse errors follow docs/cli.md: one line `salvor: ...` on stderr, with --json also
 * `{"error":{code,message}}` on stdout, exit 16. --help and --version exit 0; help printed because a group
 * was called without a verb (bare `salvor`, `salvor nvram`) is a usage error, exit 16. Output goes where
 * the run's streams are (the process's, or an in-process run's). Set on the program before its commands
 * are added, so every command inherits it.
 */
export function configureExits(cmd: Command): Command {
  cmd.configureOutput({
    writeOut: (s) => void cliStreams().stdout.write(s),
    writeErr: (s) => void cliStreams().stderr.write(s),
    outputError: () => undefined,
  });
  return cmd.exitOverride((err: CommanderError) => {
    if (err.exitCode === 0) throw new CliExit(Exit.ok);
    if (err.code !== 'commander.help') {
      const message = err.message.replace(/^error: /, '');
      const streams = cliStreams();
      streams.stderr.write(`salvor: ${message} (run with --help for usage)\n`);
      if ((cmd as unknown as { rawArgs: string[] }).rawArgs.includes('--json')) streams.stdout.write(JSON.stringify({ error: { code: 'SALVOR_USAGE', message } }) + '\n');
    }
    throw new CliExit(Exit.usage);
  });
}

/** Adds --json to a leaf verb and runs its handler with uniform error reporting. */
export function verb<O extends { json?: boolean }>(cmd: Command, handler: VerbHandler<O>): Command {
  cmd.option('--json', 'print one JSON object on stdout (human text goes to stderr)');
  cmd.action(async (...argv: unknown[]) => {
    const self = argv[argv.length - 1] as Command;
    const opts = self.opts() as O;
    const args = self.args;
    const out = makeOutput(Boolean(opts.json));
    try {
      cliStreams().exitCode = await handler(opts, out, args);
    } catch (err) {
      cliStreams().exitCode = reportError(err, out.json);
    }
  });
  return cmd;
}

/** Parses an integer option (decimal, 0x hex, or with a K/M suffix of 1024 units). */
export function parseSize(value: string, name: string): number {
  const m = /^(0x[0-9a-f]+|\d+)([kKmM](?:i?B)?)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`'${value}' is not a size (bytes, 0x.., or with K/M)`);
  let n = Number(m[1]);
  if (m[2]) n *= /^[kK]/.test(m[2]) ? 1024 : 1024 * 1024;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} '${value}' is too large`);
  return n;
}

/** Parses a duration option given in whole milliseconds (`250`, or `250ms`). */
export function parseDuration(value: string, name: string): number {
  const m = /^(\d+)(ms)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`'${value}' is not a duration (whole milliseconds, for example 250)`);
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} '${value}' is too large`);
  return n;
}

/** Parses a count option: a whole number, at least 1. */
export function parseCount(value: string, name: string): number {
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`'${value}' is not a count (a whole number, at least 1) for ${name}`);
  return n;
}
