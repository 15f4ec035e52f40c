#!/usr/bin/env node
import { runCli } from '../lib/cli/run-cli';
import { machinePlatform } from './platform';

/** The shipping binary: the CLI of lib/cli/run-cli.ts on this process's argv, streams and environment. */
runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }, machinePlatform()).then((code) => {
  if (typeof process.exitCode !== 'number' || process.exitCode === 0) process.exitCode = code;
});
