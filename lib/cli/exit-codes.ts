/** Exit codes scripts rely on (fsck's for check/recover verbs; docs/cli.md). */
export const Exit = {
  ok: 0,
  corrected: 1,
  uncorrected: 4,
  operational: 8,
  usage: 16,
} as const;

export type ExitCode = (typeof Exit)[keyof typeof Exit];
