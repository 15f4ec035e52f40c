/** Crash-loop protection: crashes counted in a sliding window; past the limit, give up. */
export interface CrashLoopOptions {
  maxCrashes: number;
  windowMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

export class CrashLoopGuard {
  private crashes: number[] = [];

  constructor(
    private readonly o: CrashLoopOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one crash; returns how long to wait before recovering, or 'give-up' once more than maxCrashes fall in windowMs. */
  record(): number | 'give-up' {
    const t = this.now();
    this.crashes = this.crashes.filter((c) => t - c < this.o.windowMs);
    this.crashes.push(t);
    const n = this.crashes.length;
    if (n > this.o.maxCrashes) return 'give-up';
    // The first crash in a window recovers at once; later ones back off, doubling up to the cap.
    return n === 1 ? 0 : Math.min(this.o.backoffMaxMs, this.o.backoffInitialMs * 2 ** (n - 2));
  }

  get inWindow(): number {
    const t = this.now();
    return this.crashes.filter((c) => t - c < this.o.windowMs).length;
  }

  reset(): void {
    this.crashes = [];
  }
}
