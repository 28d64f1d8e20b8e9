// One full garbage collection shortly after start-up.
//
// Start-up leaves garbage V8 may keep for a long time: the parsed config and its loader (dropped
// after the read, src/cli/config-bundle.ts), the first takeover rehearsal, the code cache's
// serialisation. A backup allocates so little afterwards that no major collection comes for many
// seconds, and a master's heap keeps the pages. One collection shortly after READY returns them:
// measured at 255 VRIDs at 100 ms (two runs each), the peak RSS of master / backup was 64.4-64.5 /
// 64.2-64.7 MiB without it and 63.5-63.7 / 61.9-62.3 with it.
//
// It runs 250 ms after READY, after the first takeover rehearsal's chunks, while this node is still
// settling into its role. A first version ran it a second after READY, which in the bench is about
// when the peer (on the same two cores, at the same realtime priority) takes over after a fault;
// that full run's 100 ms detection p95s were +1.69 / +2.82 ms with 2-5 ms outliers. Interleaved
// reruns at 100 ms (12 runs each, cable cut / SIGKILL, worst sample): at 1 s, +0.27 / +0.73 and
// +10.24 / +19.14 ms (the size of a collection's pause); at 250 ms, +0.40 / +0.35 and +0.40 / +0.24.
//
// It stops the event loop while it runs (9-24 ms measured, 1 to 255 VRIDs). It is skipped when the
// configured intervals leave less room than that: a stall's warning level is half the lag guard's
// budget (src/runtime/lag-guard.ts), and the collection runs only when that level is at least
// twice the longest pause measured. The collector is V8's gc(), which --expose-gc provides (the
// unit, the bin's shebang and the lab launcher pass it); without it, nothing is done.

/** The smallest lag budget (ms) that allows the collection: a warning level of 50 ms. */
export const STARTUP_GC_MIN_BUDGET_MS = 100;
/** How long after READY: after the first rehearsal's chunks. */
export const STARTUP_GC_DELAY_MS = 250;

export type StartupGcPlan =
  | { type: "scheduled"; delayMs: number }
  | { type: "skipped"; reason: "no gc (--expose-gc not given)" | "intervals too short" | "no instances" };

export interface StartupGcOptions {
  /** The lag guard's budget for the configured instances (null: none). */
  budgetMs: number | null;
  /** V8's collector (globalThis.gc), when exposed. */
  gc: (() => void) | undefined;
  /** Called after the collection with its pause and the heap before and after (bytes). */
  onCollected(e: { pauseMs: number; heapBefore: number; heapAfter: number }): void;
  schedule?: (fn: () => void, ms: number) => void;
  now?: () => number;
  heapUsed?: () => number;
}

/** Plans the collection and, when it is due, schedules it. */
export function scheduleStartupGc(o: StartupGcOptions): StartupGcPlan {
  const gc = o.gc;
  if (gc === undefined) return { type: "skipped", reason: "no gc (--expose-gc not given)" };
  if (o.budgetMs === null) return { type: "skipped", reason: "no instances" };
  if (o.budgetMs < STARTUP_GC_MIN_BUDGET_MS) return { type: "skipped", reason: "intervals too short" };
  const schedule = o.schedule ?? ((fn: () => void, ms: number) => setTimeout(fn, ms).unref());
  const now = o.now ?? (() => performance.now());
  const heapUsed = o.heapUsed ?? (() => process.memoryUsage().heapUsed);
  schedule(() => {
    const heapBefore = heapUsed();
    const started = now();
    gc();
    const pauseMs = now() - started;
    o.onCollected({ pauseMs, heapBefore, heapAfter: heapUsed() });
  }, STARTUP_GC_DELAY_MS);
  return { type: "scheduled", delayMs: STARTUP_GC_DELAY_MS };
}
