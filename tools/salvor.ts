#!/usr/bin/env node
import type { Command } from 'commander';
import { buildProgram as buildCliProgram, runCli } from '../lib/cli/run-cli';
import { machinePlatform } from './platform';

/** The program the binary runs, on this machine's backends; a test may import it to walk its commands. */
export function buildProgram(): Command {
  return buildCliProgram(machinePlatform());
}

// The shipping binary: the CLI of lib/cli/run-cli.ts on this process's argv, streams and environment.
if (require.main === module)
  runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }, machinePlatform()).then((code) => {
    if (typeof process.exitCode !== 'number' || process.exitCode === 0) process.exitCode = code;
  });
