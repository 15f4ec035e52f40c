import { performance } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** A timer is due this often: ten wakeups a second on an idle daemon. */
export const LAG_INTERVAL_MS = 100;
/** The figures cover the last minute of samples. */
export const LAG_WINDOW_SAMPLES = 600;

/**
 * Event loop lag measured as timer drift: how late a timer due every LAG_INTERVAL_MS fires. (Node's
 * delay histogram records the whole interval between its timer's callbacks, so its min on an idle
 * loop is the sampling interval, not lag; and its reset drops the sample after each scrape.) The
 * last minute's p50, p99 and max are exported in seconds.
 */
export function registerEventLoopLag(registry: Registry): { close(): void } {
  const samples = new Float64Array(LAG_WINDOW_SAMPLES);
  let count = 0;
  let due = performance.now() + LAG_INTERVAL_MS;
  let timer: NodeJS.Timeout;
  const tick = () => {
    const now = performance.now();
    samples[count++ % LAG_WINDOW_SAMPLES] = Math.max(0, now - due);
    due = now + LAG_INTERVAL_MS;
    timer = setTimeout(tick, LAG_INTERVAL_MS).unref();
  };
  timer = setTimeout(tick, LAG_INTERVAL_MS).unref();

  const help = (what: string) => `${what} event loop lag over the last minute: how late a timer due every ${LAG_INTERVAL_MS} ms fired`;
  const p99 = new Gauge({ name: 'salvor_nodejs_eventloop_lag_p99_seconds', help: help('99th percentile of the'), registers: [] });
  const max = new Gauge({ name: 'salvor_nodejs_eventloop_lag_max_seconds', help: help('largest'), registers: [] });
  // One collect sets all three from the same samples.
  const p50 = new Gauge({
    name: 'salvor_nodejs_eventloop_lag_p50_seconds',
    help: help('median'),
    registers: [],
    collect() {
      const window = Float64Array.from(samples.subarray(0, Math.min(count, LAG_WINDOW_SAMPLES))).sort();
      const at = (q: number) => (window.length ? window[Math.min(window.length - 1, Math.floor(q * window.length))]! / 1000 : 0);
      this.set(at(0.5));
      p99.set(at(0.99));
      max.set(window.length ? window[window.length - 1]! / 1000 : 0);
    },
  });
  for (const g of [p50, p99, max]) registry.registerMetric(g);
  return { close: () => clearTimeout(timer) };
}
