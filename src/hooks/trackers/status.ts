// What a tracker reports, and how an instance turns it into the core's TrackerResult with its weight.

import type { TrackerResult } from "../../core/types.js";

export type CheckStatus =
  | { type: "up" }
  | { type: "down"; reason: string }
  /** track_files: the integer in the file. */
  | { type: "value"; value: number; reason: string };

/** The last finished check of a polled tracker (wall-clock ms). */
export interface LastCheck {
  ok: boolean;
  detail: string;
  atMs: number;
}

export interface Tracker {
  /** The core's tracker name, e.g. "script:chk_haproxy". */
  readonly name: string;
  readonly status: CheckStatus;
  /** Wall-clock ms of the last status change, null before the first. */
  readonly lastChangeMs: number | null;
  /** Called on every status change (not on repeats). */
  onChange(cb: (status: CheckStatus) => void): void;
  start(): void;
  stop(): void;
}

export function sameStatus(a: CheckStatus, b: CheckStatus): boolean {
  if (a.type !== b.type) return false;
  if (a.type === "value" && b.type === "value") return a.value === b.value;
  return true;
}

/**
 * keepalived's weight semantics. Up/down checks: a positive weight is added while up, a negative one
 * while down, and weight 0 (or null for interfaces) means down = Fault. Files: value × weight, Fault at
 * -254 or below; with weight 0 any non-zero value is a Fault.
 */
export function toTrackerResult(status: CheckStatus, weight: number | null): TrackerResult {
  switch (status.type) {
    case "up":
      return { type: "weight", weight: weight !== null && weight > 0 ? weight : 0 };
    case "down":
      if (weight === null || weight === 0) return { type: "fault", reason: status.reason };
      return { type: "weight", weight: weight < 0 ? weight : 0 };
    case "value": {
      const w = weight ?? 1;
      if (w === 0) {
        return status.value === 0
          ? { type: "weight", weight: 0 }
          : { type: "fault", reason: `${status.reason}: value ${status.value}` };
      }
      const total = status.value * w;
      if (total <= -254) return { type: "fault", reason: `${status.reason}: value ${status.value} × ${w}` };
      return { type: "weight", weight: Math.min(253, total) };
    }
    default: {
      const never: never = status;
      return never;
    }
  }
}

export function sameResult(a: TrackerResult, b: TrackerResult): boolean {
  if (a.type === "weight" && b.type === "weight") return a.weight === b.weight;
  if (a.type === "fault" && b.type === "fault") return a.reason === b.reason;
  return false;
}

/** Base for trackers: holds the status, notifies listeners on change. */
export abstract class BaseTracker implements Tracker {
  readonly name: string;
  #status: CheckStatus;
  readonly #listeners: ((s: CheckStatus) => void)[] = [];
  /** Wall-clock ms of the last status change (null before the first). */
  lastChangeMs: number | null = null;

  constructor(name: string, initial: CheckStatus) {
    this.name = name;
    this.#status = initial;
  }

  get status(): CheckStatus {
    return this.#status;
  }

  onChange(cb: (status: CheckStatus) => void): void {
    this.#listeners.push(cb);
  }

  protected set(status: CheckStatus): void {
    if (sameStatus(status, this.#status)) {
      this.#status = status;
      return;
    }
    this.#status = status;
    this.lastChangeMs = Date.now();
    for (const l of this.#listeners) l(status);
  }

  abstract start(): void;
  abstract stop(): void;
}
