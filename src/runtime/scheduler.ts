// Keyed deadlines multiplexed onto the one protocol timer: the timer is always armed at the
// earliest deadline of all keys (router deadlines and announcement bursts alike).

import type { ClockPort, TimerPort } from "./ports.js";

interface Entry {
  at: number;
  run: (now: number) => void;
}

export class Scheduler {
  readonly #clock: ClockPort;
  readonly #timer: TimerPort;
  readonly #entries = new Map<string, Entry>();
  #armedAt: number | null = null;
  #firing = false;
  #closed = false;
  /** Largest observed lateness (fire time minus earliest due deadline), in ms. */
  worstLatenessMs = 0;
  fires = 0;

  constructor(clock: ClockPort) {
    this.#clock = clock;
    this.#timer = clock.createTimer(() => this.#fire());
  }

  /** Sets or replaces the deadline for `key`; `at === null` clears it. */
  set(key: string, at: number | null, run: (now: number) => void): void {
    if (this.#closed) return;
    if (at === null) this.#entries.delete(key);
    else this.#entries.set(key, { at, run });
    if (!this.#firing) this.#rearm();
  }

  clear(key: string): void {
    if (this.#entries.delete(key) && !this.#firing) this.#rearm();
  }

  /** Clears every key that starts with `prefix`. */
  clearPrefix(prefix: string): void {
    let changed = false;
    for (const key of this.#entries.keys()) {
      if (key.startsWith(prefix)) {
        this.#entries.delete(key);
        changed = true;
      }
    }
    if (changed && !this.#firing) this.#rearm();
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  deadline(key: string): number | null {
    return this.#entries.get(key)?.at ?? null;
  }

  /** The time the timer is armed at, or null (for tests and status). */
  get armedAt(): number | null {
    return this.#armedAt;
  }

  close(): void {
    this.#closed = true;
    this.#entries.clear();
    this.#armedAt = null;
    this.#timer.close();
  }

  #rearm(): void {
    if (this.#closed) return;
    let min: number | null = null;
    for (const e of this.#entries.values()) if (min === null || e.at < min) min = e.at;
    if (min === this.#armedAt) return;
    this.#armedAt = min;
    if (min === null) this.#timer.disarm();
    else this.#timer.armAt(min);
  }

  #fire(): void {
    if (this.#closed) return;
    this.fires++;
    this.#armedAt = null;
    this.#firing = true;
    try {
      // Entries may be added or moved by the callbacks; loop until nothing is due at `now`.
      const now = this.#clock.now();
      let earliestDue: number | null = null;
      for (let guard = 0; guard < 64; guard++) {
        const due: [string, Entry][] = [];
        for (const [key, e] of this.#entries) if (e.at <= now) due.push([key, e]);
        if (due.length === 0) break;
        due.sort((a, b) => a[1].at - b[1].at);
        for (const [key, e] of due) {
          if (earliestDue === null || e.at < earliestDue) earliestDue = e.at;
          // Still the same entry? A previous callback may have replaced or cleared it.
          if (this.#entries.get(key) !== e) continue;
          this.#entries.delete(key);
          e.run(now);
        }
      }
      if (earliestDue !== null) this.worstLatenessMs = Math.max(this.worstLatenessMs, now - earliestDue);
    } finally {
      this.#firing = false;
      this.#rearm();
    }
  }
}
