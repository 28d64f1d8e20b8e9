// Keyed deadlines multiplexed onto the one protocol timer (router deadlines and announcement bursts
// alike). The timer is kept at or before the earliest deadline, and re-armed lazily: a deadline that
// moves later (a backup's Master_Down deadline on every advert) leaves the timer where it is; when it
// fires with nothing due, it is re-armed at the earliest deadline then. A deadline that moves earlier
// re-arms at once. With 255 backup instances at 100 ms this turns 2550 timerfd_settime calls a second
// into a few early wake-ups.
//
// The deadlines live in a binary min-heap (ties in the order the keys were first set), so setting,
// moving or clearing one costs O(log n) and finding the earliest O(1). With 255 instances a backup
// moves one deadline per advert received (2550 a second at 100 ms); a scan of every key on each
// change made that the largest part of the runtime's own work.
//
// A key may ask to be woken a little early (wakeEarlyMs, at most MAX_WAKE_EARLY_MS): the timer is
// armed that much before its deadline and the last fraction of a millisecond is waited out awake,
// then it runs on time. A backup's down timer uses it: the takeover's first advert then leaves
// about 0.15 ms sooner than after a wake-up from idle (measured in the netns lab). It costs that
// fraction of a millisecond of CPU only when the deadline really comes, i.e. on a takeover.

import type { ClockPort, TimerPort } from "./ports.js";

interface Entry {
  key: string;
  at: number;
  run: (now: number) => void;
  /** Order of first insertion: breaks ties between equal deadlines. */
  seq: number;
  /** Position in the heap; -1 once removed. */
  index: number;
  /** Arm the timer this long before `at` and wait the rest out awake (0: arm at `at`). */
  wakeEarlyMs: number;
}

/** Runs per fire at most, per key present when it started (a callback re-arming itself "now"). */
const MAX_RUNS_PER_KEY = 64;
/** Upper bound of wakeEarlyMs: a busy wait longer than this would be a stall of its own. */
export const MAX_WAKE_EARLY_MS = 1;
/** Clock reads per busy wait at most (a clock that does not move must not hang the loop). */
const MAX_WAIT_READS = 100_000;

export class Scheduler {
  readonly #clock: ClockPort;
  readonly #timer: TimerPort;
  readonly #entries = new Map<string, Entry>();
  readonly #heap: Entry[] = [];
  #seq = 0;
  #armedAt: number | null = null;
  #firing = false;
  /** The last early wake-up ran out of clock reads: the next arming is at the deadline itself. */
  #noEarly = false;
  #closed = false;
  /** Largest observed lateness (fire time minus earliest due deadline), in ms. */
  worstLatenessMs = 0;
  /** Fires that ran at least one deadline. */
  fires = 0;
  /** Fires with nothing due (the earliest deadline had moved later): the cost of lazy re-arming. */
  earlyWakeups = 0;

  constructor(clock: ClockPort) {
    this.#clock = clock;
    this.#timer = clock.createTimer(() => this.#fire());
  }

  /** Sets or replaces the deadline for `key`; `at === null` clears it. */
  set(key: string, at: number | null, run: (now: number) => void, wakeEarlyMs = 0): void {
    if (this.#closed) return;
    if (!(wakeEarlyMs >= 0 && wakeEarlyMs <= MAX_WAKE_EARLY_MS))
      throw new Error(`scheduler: wakeEarlyMs ${wakeEarlyMs} is outside 0..${MAX_WAKE_EARLY_MS}`);
    if (at === null) {
      this.clear(key);
      return;
    }
    const e = this.#entries.get(key);
    if (e === undefined || e.index === -1) {
      // Not scheduled. An entry running now (index -1, see #fire) is set again in place: a master's
      // Adver_Timer re-arms itself every interval without a Map delete and insert each time (a Map
      // in old space rebuilt its table there at every such pair: about 170 KB/s of old-space growth
      // at 255 VRIDs, measured with V8's sampling heap profiler).
      let entry = e;
      if (entry === undefined) {
        entry = { key, at, run, seq: this.#seq++, index: -1, wakeEarlyMs };
        this.#entries.set(key, entry);
      } else {
        entry.at = at;
        entry.run = run;
        entry.seq = this.#seq++;
        entry.wakeEarlyMs = wakeEarlyMs;
      }
      entry.index = this.#heap.length;
      this.#heap.push(entry);
      this.#up(entry.index);
    } else {
      const earlier = at < e.at || (at === e.at && wakeEarlyMs > e.wakeEarlyMs);
      e.at = at;
      e.run = run;
      e.wakeEarlyMs = wakeEarlyMs;
      if (earlier) this.#up(e.index);
      else this.#down(e.index);
    }
    if (!this.#firing) this.#rearm();
  }

  clear(key: string): void {
    const e = this.#entries.get(key);
    if (e === undefined) return;
    if (e.index === -1) {
      this.#entries.delete(key); // running now: nothing in the heap
      return;
    }
    this.#remove(e);
    if (!this.#firing) this.#rearm();
  }

  /** Clears every key that starts with `prefix`. */
  clearPrefix(prefix: string): void {
    let changed = false;
    for (const e of [...this.#entries.values()]) {
      if (!e.key.startsWith(prefix)) continue;
      if (e.index === -1) this.#entries.delete(e.key);
      else {
        this.#remove(e);
        changed = true;
      }
    }
    if (changed && !this.#firing) this.#rearm();
  }

  has(key: string): boolean {
    const e = this.#entries.get(key);
    return e !== undefined && e.index !== -1;
  }

  deadline(key: string): number | null {
    const e = this.#entries.get(key);
    return e === undefined || e.index === -1 ? null : e.at;
  }

  /** The time the timer is armed at (at or before nextDeadline), or null (for tests and status). */
  get armedAt(): number | null {
    return this.#armedAt;
  }

  /** The earliest deadline of all keys, or null. */
  get nextDeadline(): number | null {
    return this.#heap[0]?.at ?? null;
  }

  close(): void {
    this.#closed = true;
    this.#entries.clear();
    this.#heap.length = 0;
    this.#armedAt = null;
    this.#timer.close();
  }

  #rearm(): void {
    if (this.#closed) return;
    const first = this.#heap[0];
    const early = this.#noEarly ? 0 : (first?.wakeEarlyMs ?? 0);
    this.#noEarly = false;
    const min = first === undefined ? null : first.at - early;
    const armed = this.#armedAt;
    if (min === armed) return;
    // Armed earlier than needed: leave it, the early fire re-arms (see the top of the file).
    if (min !== null && armed !== null && armed < min) return;
    this.#armedAt = min;
    if (min === null) this.#timer.disarm();
    else this.#timer.armAt(min);
  }

  #fire(): void {
    if (this.#closed) return;
    this.#armedAt = null;
    this.#firing = true;
    try {
      // Callbacks may add or move entries; everything due at `now` runs, earliest first.
      let now = this.#clock.now();
      const first = this.#heap[0];
      if (first !== undefined && first.at > now && now >= first.at - first.wakeEarlyMs) {
        // Woken early on purpose: wait the rest out awake (bounded in time by wakeEarlyMs, and
        // in reads; if the clock has not got there, the timer is re-armed below instead).
        for (let reads = 0; now < first.at && reads < MAX_WAIT_READS; reads++) now = this.#clock.now();
        if (now < first.at) this.#noEarly = true;
      }
      let earliestDue: number | null = null;
      let budget = MAX_RUNS_PER_KEY * (this.#heap.length + 1);
      for (let e = this.#heap[0]; e !== undefined && e.at <= now && budget > 0; e = this.#heap[0]) {
        budget--;
        if (earliestDue === null || e.at < earliestDue) earliestDue = e.at;
        // Out of the heap but kept in #entries while it runs: a callback that sets its own key
        // again reuses the entry (see set); one that does not is dropped from #entries after.
        this.#removeFromHeap(e);
        e.run(now);
        if (this.#closed) return;
        if (e.index === -1 && this.#entries.get(e.key) === e) this.#entries.delete(e.key);
      }
      if (earliestDue !== null) {
        this.fires++;
        this.worstLatenessMs = Math.max(this.worstLatenessMs, now - earliestDue);
      } else this.earlyWakeups++;
    } finally {
      this.#firing = false;
      this.#rearm();
    }
  }

  #remove(e: Entry): void {
    this.#entries.delete(e.key);
    this.#removeFromHeap(e);
  }

  #removeFromHeap(e: Entry): void {
    const i = e.index;
    e.index = -1;
    const last = this.#heap.pop();
    if (last === undefined || last === e) return;
    this.#heap[i] = last;
    last.index = i;
    this.#up(i);
    this.#down(last.index);
  }

  #before(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #up(i: number): void {
    const h = this.#heap;
    const e = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!this.#before(e, parent)) break;
      h[i] = parent;
      parent.index = i;
      i = p;
    }
    h[i] = e;
    e.index = i;
  }

  #down(i: number): void {
    const h = this.#heap;
    const n = h.length;
    const e = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#before(h[r]!, h[l]!) ? r : l;
      const child = h[c]!;
      if (!this.#before(child, e)) break;
      h[i] = child;
      child.index = i;
      i = c;
    }
    h[i] = e;
    e.index = i;
  }
}
