#!/usr/bin/env node
import { Command } from 'commander';
import { configureExits } from '../lib/cli/command';
import { registerDaemon } from '../lib/cli/daemon-command';
import { registerDoctor } from '../lib/cli/doctor-command';
import { registerLeak } from '../lib/cli/leak-command';
import { registerNvram } from '../lib/cli/nvram-command';
import { registerReplicate } from '../lib/cli/replicate-command';
import { reportError } from '../lib/cli/output';
import { cliPlatform } from './platform';

const { version } = require('../../package.json') as { version: string };

/** The salvor CLI: `salvor <capability> <verb> [options]` (docs/cli.md). */
export function buildProgram(): Command {
  const program = configureExits(new Command('salvor'));
  program
    .description('Recovery and redundancy agent for Linux edge appliances')
    .version(version, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help for a command (works on every level)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok/clean, 1 problems corrected, 4 problems left uncorrected, 8 operational error, 16 usage or bad input.\n' +
        'State directory: $SALVOR_STATE_DIR, else ./var. Docs: docs/cli.md.',
    );
  const platform = cliPlatform();
  registerDoctor(program, platform);
  registerNvram(program, platform);
  registerReplicate(program, platform);
  registerDaemon(program, platform);
  registerLeak(program, platform);
  return program;
}

// Run when started as the binary; a test may import the program to walk its commands.
if (require.main === module)
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      // a failure outside any verb's own reporting (a verb reports its errors itself): still one line, and JSON
      process.exitCode = reportError(err, process.argv.includes('--json'));
    });
