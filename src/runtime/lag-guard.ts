// Event-loop lag guard.
//
// vipd's protocol runs on one event loop: a stall delays our adverts (peers may think we died) and
// our timers (we may think a live master died once the stall ends). A timer-drift probe measures
// the stall: every `probeMs` it checks how late it woke up.
//
// The budget. A master's adverts normally leave every Adver_Interval; a backup declares it dead
// after Master_Down_Interval = 3 * interval + skew. A stall of S ms leaves a gap of interval + S
// between adverts, so peers take over once S > Master_Down_Interval - interval (about two
// intervals). The same stall on a backup makes its down timer and the queued adverts ready at the
// same moment, so it may take over from a live master. The budget is the smallest such margin over
// all instances (with the skew of the highest backup priority, 254, the worst case).
//
// What vipd does (decided, see docs/config.md, "Event-loop stalls"):
//   - lag above WARN_FRACTION of the budget: a warning log line and vipd_event_loop_stalls_total
//     {level="warning"}. Nothing changes on the wire; this is the early signal to find the cause
//     (swap, CPU starvation, a huge GC, a blocking hook).
//   - lag above the budget (peers have most likely already taken over): an error line, the
//     critical counter, and every nopreempt instance that was MASTER during the stall resigns
//     cleanly with a priority-0 advert (the core's maintenance input) instead of carrying on as if
//     nothing happened. A preempting master does not resign: rejoining as backup, it would take the
//     role back from the lower peer one Master_Down_Interval later, so a resign only adds two
//     transitions and two VIP moves (measured: 4 transitions per stall instead of 2 at 10 ms under
//     stress). It carries on; the RFC's own exchange settles the overlap in one advert (the peer
//     hears our higher advert and yields; we hear its lower advert and re-announce the VIPs, rule
//     master-rx-lower). An instance that became master only at the end of the stall (its down timer ran
//     late: the old master really is gone) had no adverts held up and stays master; resigning it
//     would take the VIPs away for two Master_Down_Intervals with nobody to take them. The
//     peer that took over during the stall stays master, the clients keep the MAC its GARPs taught
//     them, and this node rejoins as backup when that master is heard (or after two
//     Master_Down_Intervals when nobody is). A node that stalls that long is not a node that
//     should hold the VIPs; systemd's watchdog (WatchdogSec) restarts it if the stall lasts
//     longer still.
//   Instances already in maintenance (operator) are left alone.

export interface LagGuardInstance {
  name: string;
  state: string;
  /** The interval we advertise (master) or time out on (backup), in ms. */
  adverIntervalMs: number;
  /**
   * When it last became master (the `now()` clock), if known. A master that has been master for
   * less than the budget by the end of a stall is not resigned; unknown counts as master all along.
   */
  masterSinceMs?: number;
  /**
   * Whether this instance preempts (false for nopreempt). A preempting master is not resigned: it
   * would take the role back one Master_Down_Interval after rejoining, so the resign would only
   * move the VIPs twice more. Unknown counts as not preempting (resigned).
   */
  preempt?: boolean;
}

export interface LagGuardOptions {
  /** Monotonic ms. */
  now(): number;
  /** The instances right now (called at each critical stall and to compute the budget). */
  instances(): LagGuardInstance[];
  /** Called with every probe's lag (metrics). */
  onLag?(lagMs: number): void;
  onStall(e: { level: "warning" | "critical"; lagMs: number; budgetMs: number }): void;
  /** A critical stall: these instances were MASTER; resign them. */
  onResign(e: { instances: string[]; lagMs: number; budgetMs: number }): void;
  /** Probe period; default 50 ms (or an eighth of the budget when that is smaller, at least 5 ms). */
  probeMs?: number;
  /** Timers, for tests. */
  setInterval?: (cb: () => void, ms: number) => unknown;
  clearInterval?: (h: unknown) => void;
}

export const WARN_FRACTION = 0.5;

/** RFC 9568 Skew_Time for a given priority and interval. */
function skewMs(priority: number, intervalMs: number): number {
  return ((256 - priority) * intervalMs) / 256;
}

/** The stall (ms) peers tolerate for an instance advertising at `intervalMs`. */
export function stallBudgetMs(intervalMs: number): number {
  const masterDown = 3 * intervalMs + skewMs(254, intervalMs);
  return masterDown - intervalMs;
}

/** The smallest budget over instances, or null when there are none. */
export function smallestBudgetMs(instances: { adverIntervalMs: number }[]): number | null {
  let min: number | null = null;
  for (const i of instances) {
    const b = stallBudgetMs(i.adverIntervalMs);
    if (min === null || b < min) min = b;
  }
  return min;
}

export class LagGuard {
  readonly #o: LagGuardOptions;
  #handle: unknown = null;
  #last = 0;
  #probeMs = 50;
  #worstMs = 0;
  #budget: number | null | undefined = undefined;
  #budgetAt = 0;
  /** Once per stall: a long stall is reported when it ends, never again for the same stall. */
  #warnings = 0;
  #criticals = 0;

  constructor(o: LagGuardOptions) {
    this.#o = o;
  }

  get worstLagMs(): number {
    return this.#worstMs;
  }

  get counts(): { warning: number; critical: number } {
    return { warning: this.#warnings, critical: this.#criticals };
  }

  start(): void {
    if (this.#handle !== null) return;
    const budget = smallestBudgetMs(this.#o.instances()) ?? 2000;
    this.#probeMs = this.#o.probeMs ?? Math.max(5, Math.min(50, Math.floor(budget / 8)));
    this.#last = this.#o.now();
    const set = this.#o.setInterval ?? ((cb: () => void, ms: number) => setInterval(cb, ms).unref());
    this.#handle = set(() => this.probe(), this.#probeMs);
  }

  stop(): void {
    if (this.#handle === null) return;
    const clear = this.#o.clearInterval ?? ((h: unknown) => clearInterval(h as NodeJS.Timeout));
    clear(this.#handle);
    this.#handle = null;
  }

  /** One probe (the interval's callback; tests call it directly). */
  probe(): void {
    const now = this.#o.now();
    const prev = this.#last;
    const lagMs = Math.max(0, now - prev - this.#probeMs);
    this.#last = now;
    if (lagMs > this.#worstMs) this.#worstMs = lagMs;
    this.#o.onLag?.(lagMs);
    // The instance list (for the budget) is re-read once a second, and at once on a suspect lag
    // (to see which instances are master right now).
    if (
      this.#budget === undefined ||
      now - this.#budgetAt >= 1000 ||
      lagMs > WARN_FRACTION * (this.#budget ?? 0)
    ) {
      // Only the number is kept: a list held from one refresh to the next (255 objects a second)
      // outlived the young generation and grew the old one between major GCs.
      this.#budget = smallestBudgetMs(this.#o.instances());
      this.#budgetAt = now;
    }
    const budgetMs = this.#budget;
    if (budgetMs === null) return;
    if (lagMs > budgetMs) {
      this.#criticals++;
      this.#o.onStall({ level: "critical", lagMs, budgetMs });
      // Master for longer than the budget within the stall (which began after the previous probe).
      const masters = this.#o
        .instances()
        .filter(
          (i) =>
            i.state === "master" &&
            i.preempt !== true &&
            (i.masterSinceMs === undefined || now - Math.max(i.masterSinceMs, prev) > budgetMs),
        )
        .map((i) => i.name);
      if (masters.length > 0) this.#o.onResign({ instances: masters, lagMs, budgetMs });
    } else if (lagMs > WARN_FRACTION * budgetMs) {
      this.#warnings++;
      this.#o.onStall({ level: "warning", lagMs, budgetMs });
    }
  }
}
