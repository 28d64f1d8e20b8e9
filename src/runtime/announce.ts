// When gratuitous ARP / unsolicited NA go out: the burst at takeover (keepalived's
// garp_master_repeat frames spaced garp_interval, a second burst garp_master_delay later), the
// optional periodic refresh, and the single burst the core asks for after a split brain.

import type { Action } from "../core/types.js";

export interface AnnounceSettings {
  /** Announcements per burst (keepalived garp_master_repeat, default 5). */
  repeat: number;
  /** Spacing inside a burst (keepalived garp_interval, default 0). */
  intervalMs: number;
  /** Delay of the second burst after takeover; 0 = no second burst (default 5 s). */
  secondBurstDelayMs: number;
  /** Periodic re-announce while master; 0 = off. */
  refreshMs: number;
}

export const DEFAULT_ANNOUNCE: AnnounceSettings = {
  repeat: 5,
  intervalMs: 0,
  secondBurstDelayMs: 5000,
  refreshMs: 0,
};

export type AnnounceReason = Extract<Action, { type: "announce" }>["reason"];

/**
 * Offsets (ms after the first announcement) at which one announcement (one frame per VIP) is sent.
 * Offsets are non-decreasing; several equal offsets mean back-to-back frames.
 */
export function announceOffsets(settings: AnnounceSettings, reason: AnnounceReason): number[] {
  const repeat = Math.max(1, Math.floor(settings.repeat));
  const spacing = Math.max(0, settings.intervalMs);
  const burst = (start: number): number[] => Array.from({ length: repeat }, (_, i) => start + i * spacing);
  const offsets = burst(0);
  if (reason === "takeover" && settings.secondBurstDelayMs > 0) {
    offsets.push(...burst(settings.secondBurstDelayMs));
  }
  return offsets;
}
