// Effective priority: the configured priority moved by tracker weights (issue 4).
import type { TrackerResult } from "./types.js";

/** The address owner's priority (RFC 9568 §6.1). */
export const OWNER_PRIORITY = 255;

/**
 * Base priority plus the sum of the trackers' weights, clamped to 1..254.
 *
 * Owner rule (our decision): an owner (base 255) stays 255 while the trackers' sum is >= 0, so a
 * positive weight never hides that it owns the addresses; a negative sum takes it to 255 + sum,
 * clamped to 1..254, and it then behaves (and preempts) like any other router.
 * Maintenance mode forces 0: the router only ever sends a priority-0 advert (resign).
 * Trackers that report `fault` add nothing here; they force Fault instead.
 */
export function effectivePriority(
  basePriority: number,
  trackers: Iterable<TrackerResult>,
  maintenance: boolean,
): number {
  if (maintenance) return 0;
  let sum = 0;
  for (const t of trackers) if (t.type === "weight") sum += t.weight;
  if (basePriority === OWNER_PRIORITY && sum >= 0) return OWNER_PRIORITY;
  return Math.min(254, Math.max(1, basePriority + sum));
}
