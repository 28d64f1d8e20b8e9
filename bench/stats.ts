// Summary statistics for benchmark samples: nearest-rank percentiles over the raw values.

export interface Summary {
  n: number;
  min: number | null;
  median: number | null;
  p95: number | null;
  max: number | null;
}

/** Nearest-rank percentile (p in 0..100) of values already sorted ascending; null when empty. */
export function percentileSorted(sorted: readonly number[], p: number): number | null {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is not in 0..100`);
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? null;
}

/** n, min, median (nearest rank 50), p95 and max of the finite values; NaN or infinite values are refused. */
export function summarize(values: readonly number[]): Summary {
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`sample ${v} is not a finite number`);
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    min: sorted[0] ?? null,
    median: percentileSorted(sorted, 50),
    p95: percentileSorted(sorted, 95),
    max: sorted[sorted.length - 1] ?? null,
  };
}

/** "+0.12" style text with a sign, two decimals; "n/a" for null. */
export function signedMs(v: number | null, digits = 2): string {
  if (v === null) return "n/a";
  const s = v.toFixed(digits);
  return v >= 0 ? `+${s}` : s;
}

/** "median / p95 / max" of a summary as signed milliseconds. */
export function triple(s: Summary, signed = true, digits = 2): string {
  if (s.n === 0) return "n/a";
  const f = (v: number | null) => (signed ? signedMs(v, digits) : v === null ? "n/a" : v.toFixed(digits));
  return `${f(s.median)} / ${f(s.p95)} / ${f(s.max)}`;
}

/** RFC 9568 Skew_Time for a backup of this priority. */
export function skewTimeMs(adverIntervalMs: number, priority: number): number {
  return ((256 - priority) * adverIntervalMs) / 256;
}

/** RFC 9568 Master_Down_Interval: 3 * Master_Adver_Interval + Skew_Time. */
export function masterDownIntervalMs(adverIntervalMs: number, priority: number): number {
  return 3 * adverIntervalMs + skewTimeMs(adverIntervalMs, priority);
}
