/**
 * An SVG chart of one target's memory: the samples, the fitted trough trend and a marker at the
 * moment of detection. A plain, self-contained SVG string (no scripts, no external references).
 */

export interface ChartInput {
  title: string;
  samples: { tMs: number; bytes: number }[];
  /** The fitted trend: bytes = intercept + slopeBytesPerHour * (t - windowStartMs) / 1h, drawn from windowStartMs. */
  trend?: { windowStartMs: number; intercept: number; slopeBytesPerHour: number };
  detectedAtMs?: number | null;
}

const W = 720;
const H = 320;
const PAD = { left: 70, right: 20, top: 30, bottom: 40 };

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
const f = (v: number): string => v.toFixed(1);

/** At most `max` points: keeps each stride's min and max so peaks and troughs survive. */
function thin(samples: { tMs: number; bytes: number }[], max: number): { tMs: number; bytes: number }[] {
  if (samples.length <= max) return samples;
  const stride = Math.ceil(samples.length / (max / 2));
  const out: { tMs: number; bytes: number }[] = [];
  for (let i = 0; i < samples.length; i += stride) {
    const part = samples.slice(i, i + stride);
    let lo = part[0];
    let hi = part[0];
    for (const s of part) {
      if (s.bytes < lo.bytes) lo = s;
      if (s.bytes > hi.bytes) hi = s;
    }
    out.push(...(lo.tMs <= hi.tMs ? [lo, hi] : [hi, lo]));
  }
  return out;
}

export function renderLeakChart(input: ChartInput): string {
  const pts = thin(input.samples, 1200);
  const t0 = pts.length ? pts[0].tMs : 0;
  const t1 = pts.length ? Math.max(pts[pts.length - 1].tMs, t0 + 1) : 1;
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of pts) {
    lo = Math.min(lo, p.bytes);
    hi = Math.max(hi, p.bytes);
  }
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (hi === lo) hi = lo + 1;
  const x = (t: number) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (b: number) => H - PAD.bottom - ((b - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<title>${escapeXml(input.title)}</title>`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${PAD.left}" y="18" font-family="sans-serif" font-size="13">${escapeXml(input.title)}</text>`,
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#444"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#444"/>`,
    `<text x="${PAD.left - 4}" y="${f(y(hi) + 4)}" font-family="sans-serif" font-size="10" text-anchor="end">${mib(hi)}</text>`,
    `<text x="${PAD.left - 4}" y="${f(y(lo))}" font-family="sans-serif" font-size="10" text-anchor="end">${mib(lo)}</text>`,
    `<text x="${W - PAD.right}" y="${H - 10}" font-family="sans-serif" font-size="10" text-anchor="end">${((t1 - t0) / 3_600_000).toFixed(2)} h</text>`,
  ];
  if (pts.length) parts.push(`<polyline class="memory" fill="none" stroke="#1f77b4" stroke-width="1" points="${pts.map((p) => `${f(x(p.tMs))},${f(y(p.bytes))}`).join(' ')}"/>`);
  if (input.trend) {
    const tr = input.trend;
    const from = Math.max(tr.windowStartMs, t0);
    const at = (t: number) => tr.intercept + (tr.slopeBytesPerHour * (t - tr.windowStartMs)) / 3_600_000;
    const clampY = (b: number) => Math.min(H - PAD.bottom, Math.max(PAD.top, y(b)));
    parts.push(`<line class="trend" x1="${f(x(from))}" y1="${f(clampY(at(from)))}" x2="${f(x(t1))}" y2="${f(clampY(at(t1)))}" stroke="#d62728" stroke-width="2" stroke-dasharray="6 3"/>`);
    parts.push(`<text x="${W - PAD.right}" y="${PAD.top - 4}" font-family="sans-serif" font-size="10" text-anchor="end" fill="#d62728">trend ${(tr.slopeBytesPerHour / 1048576).toFixed(2)} MiB/h</text>`);
  }
  if (input.detectedAtMs !== undefined && input.detectedAtMs !== null) {
    const dx = f(x(input.detectedAtMs));
    parts.push(`<line class="detection" x1="${dx}" y1="${PAD.top}" x2="${dx}" y2="${H - PAD.bottom}" stroke="#ff7f0e" stroke-width="2"/>`);
    parts.push(`<text x="${dx}" y="${H - PAD.bottom + 14}" font-family="sans-serif" font-size="10" text-anchor="middle" fill="#ff7f0e">detected</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
