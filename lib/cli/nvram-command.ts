import type { Command } from 'commander';
import type { CliPlatform } from './platform';

export function registerNvram(_program: Command, _platform: CliPlatform): void {}
