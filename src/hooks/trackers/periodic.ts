// A check run every interval (never overlapping itself) with rise/fall hysteresis: `fall` failures in
// a row take an up tracker down, `rise` successes in a row bring a down one up. Starts up, like
// keepalived's scripts without init_fail.

import { BaseTracker, type LastCheck } from "./status.js";

export interface CheckOutcome {
  ok: boolean;
  /** Why it failed (or a note on success), for logs and the Fault reason. */
  detail: string;
}

export interface PeriodicOptions {
  name: string;
  intervalMs: number;
  rise: number;
  fall: number;
  check: (signal: AbortSignal) => Promise<CheckOutcome>;
  /** Every finished run (tests, debug logs). */
  onRun?: (outcome: CheckOutcome) => void;
}

export class PeriodicTracker extends BaseTracker {
  readonly #o: PeriodicOptions;
  #timer: NodeJS.Timeout | null = null;
  #abort: AbortController | null = null;
  #running = false;
  #stopped = true;
  #successes = 0;
  #failures = 0;
  #checks = 0;
  #last: LastCheck | null = null;

  constructor(o: PeriodicOptions) {
    super(o.name, { type: "up" });
    this.#o = o;
  }

  get rise(): number {
    return this.#o.rise;
  }

  get fall(): number {
    return this.#o.fall;
  }

  /** Successes in a row (0 after a failure). */
  get successesInRow(): number {
    return this.#successes;
  }

  /** Failures in a row (0 after a success). */
  get failuresInRow(): number {
    return this.#failures;
  }

  /** Checks finished since construction. */
  get checks(): number {
    return this.#checks;
  }

  get lastCheck(): LastCheck | null {
    return this.#last;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#abort?.abort();
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#run().catch((err: unknown) => {
        // check() must not reject; treat it as a failed run so the tracker keeps going.
        this.#record({ ok: false, detail: `check crashed: ${(err as Error).message}` });
        this.#running = false;
        this.#schedule(this.#o.intervalMs);
      });
    }, delayMs);
  }

  async #run(): Promise<void> {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    const started = performance.now();
    this.#abort = new AbortController();
    const outcome = await this.#o.check(this.#abort.signal);
    this.#abort = null;
    this.#running = false;
    if (this.#stopped) return;
    this.#record(outcome);
    const elapsed = performance.now() - started;
    this.#schedule(Math.max(0, this.#o.intervalMs - elapsed));
  }

  #record(outcome: CheckOutcome): void {
    this.#checks++;
    this.#last = { ok: outcome.ok, detail: outcome.detail, atMs: Date.now() };
    this.#o.onRun?.(outcome);
    if (outcome.ok) {
      this.#failures = 0;
      this.#successes++;
      if (this.status.type !== "up" && this.#successes >= this.#o.rise) this.set({ type: "up" });
    } else {
      this.#successes = 0;
      this.#failures++;
      if (this.status.type === "up" && this.#failures >= this.#o.fall) {
        this.set({ type: "down", reason: outcome.detail });
      } else if (this.status.type === "down") {
        // Keep the latest reason without signalling a change.
        this.set({ type: "down", reason: outcome.detail });
      }
    }
  }
}
