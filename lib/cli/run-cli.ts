import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { CliExit, configureExits } from './command';
import { registerDaemon } from './daemon-command';
import { registerDoctor } from './doctor-command';
import { Exit } from './exit-codes';
import { registerLeak } from './leak-command';
import { registerNvram } from './nvram-command';
import { reportError, withCliStreams, type CliStreams } from './output';
import type { CliPlatform } from './platform';
import { registerReplicate } from './replicate-command';
import { registerTee } from './tee-command';

/** The package's version, from the package.json above this file (the same from lib/ and from dist/lib/). */
function packageVersion(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return '0.0.0';
}

/** The salvor CLI: `salvor <capability> <verb> [options]` (docs/cli.md). */
export function buildProgram(platform: CliPlatform): Command {
  const program = configureExits(new Command('salvor'));
  program
    .description('Recovery and redundancy agent for Linux edge appliances')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for a command (works on every level)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok/clean, 1 problems corrected, 4 problems left uncorrected, 8 operational error, 16 usage or bad input.\n' +
        'State directory: $SALVOR_STATE_DIR, else ./var. Docs: docs/cli.md.',
    );
  registerDoctor(program, platform);
  registerNvram(program, platform);
  registerReplicate(program, platform);
  registerDaemon(program, platform);
  registerLeak(program, platform);
  registerTee(program, platform);
  return program;
}

/**
 * Runs one CLI command (argv without the node and script names) and resolves to its exit code.
 * What the command prints through its Output, its error line and commander's help and usage text go
 * to `streams`; several runs may be in flight in one process. tools/salvor.ts runs the shipping
 * binary through this with the process's own streams.
 */
export async function runCli(argv: string[], streams: Pick<CliStreams, 'stdout' | 'stderr'>, platform: CliPlatform): Promise<number> {
  const run: CliStreams = { stdout: streams.stdout, stderr: streams.stderr };
  return withCliStreams(run, async () => {
    try {
      await buildProgram(platform).parseAsync(argv, { from: 'user' });
    } catch (err) {
      if (err instanceof CliExit) return err.code;
      // a failure outside any verb's own reporting (a verb reports its errors itself): still one line, and JSON
      return reportError(err, argv.includes('--json'));
    }
    return run.exitCode ?? Exit.ok;
  });
}
