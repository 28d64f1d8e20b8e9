// VRRP timer arithmetic in milliseconds. Pure functions, shared by the router and the tests.
//
// Rounding: none. Every value is an integer number of milliseconds times (256 - priority) / 256,
// and a division by 256 is exact in binary floating point, so the results are exact fractional
// milliseconds (e.g. 9.9609375 ms). The runtime rounds a deadline up to its timer's resolution.

/**
 * Skew_Time (RFC 9568 §6.1): ((256 - Priority) * Master_Adver_Interval) / 256 in v3.
 * RFC 3768 §6.1 (v2): (256 - Priority) / 256 seconds, independent of the interval.
 */
export function skewTimeMs(version: 2 | 3, priority: number, masterAdverIntervalMs: number): number {
  if (version === 2) return ((256 - priority) * 1000) / 256;
  return ((256 - priority) * masterAdverIntervalMs) / 256;
}

/** Master_Down_Interval (RFC 9568 §6.1, RFC 3768 §6.1): 3 * Master_Adver_Interval + Skew_Time. */
export function masterDownIntervalMs(
  version: 2 | 3,
  priority: number,
  masterAdverIntervalMs: number,
): number {
  return 3 * masterAdverIntervalMs + skewTimeMs(version, priority, masterAdverIntervalMs);
}
