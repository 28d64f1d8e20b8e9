// Durations in vipd.yaml: "10ms", "1s", "1.5s", "2m", "1h", or a plain number of seconds (keepalived's unit).

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export type DurationResult = { type: "ok"; ms: number } | { type: "error"; message: string };

/** Parses a duration to whole milliseconds, exactly (no floating-point rounding). */
export function parseDurationMs(value: unknown): DurationResult {
  let text: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return { type: "error", message: "must be a duration like 1s or 10ms" };
    text = String(value);
  } else if (typeof value === "string") {
    text = value.trim();
  } else {
    return { type: "error", message: "must be a duration like 1s or 10ms" };
  }
  const m = /^(-?)(\d+)(?:\.(\d+))?\s*(ms|s|m|h)?$/.exec(text);
  if (!m) return { type: "error", message: "must be a duration like 1s, 1.5s, 10ms or 2m" };
  if (m[1] === "-") return { type: "error", message: "must not be negative" };
  const whole = m[2] ?? "0";
  const frac = m[3] ?? "";
  const unitMs = UNIT_MS[m[4] ?? "s"] ?? 1000;
  // value = (whole.frac) * unitMs = digits * unitMs / 10^frac.length, computed on integers.
  const digits = BigInt(whole + frac) * BigInt(unitMs);
  const scale = 10n ** BigInt(frac.length);
  if (digits % scale !== 0n) return { type: "error", message: "must be a whole number of milliseconds" };
  const ms = digits / scale;
  if (ms > BigInt(Number.MAX_SAFE_INTEGER)) return { type: "error", message: "is too large" };
  return { type: "ok", ms: Number(ms) };
}

/** Human text for a duration in ms ("1s", "1.5s", "10ms"), for summaries and messages. */
export function formatDurationMs(ms: number): string {
  if (ms !== 0 && ms % 1000 !== 0 && ms < 1000) return `${ms}ms`;
  return `${ms / 1000}s`;
}
