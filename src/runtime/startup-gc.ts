// One full garbage collection shortly after start-up, which also returns the emptied pages.
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
// The collector. Preferably the addon's reduceMemory (native/src/memory.cc): a moderate
// memory-pressure notification, which starts an incremental collection that also returns the heap
// pages it empties; a plain collection leaves them with V8 until it shrinks its young generation,
// about 8 s later. Measured at 255 VRIDs at 100 ms, the backup's peak RSS over 20 s was 60.4-60.8
// MiB in three runs, against 62.2-64.4 in four with gc(); its steps took about 0.2 ms and its final
// pause 7-9 ms, against one pause of 9-24 ms for gc(). Otherwise V8's gc(), which --expose-gc
// provides (the unit, the bin's shebang and the lab launcher pass it), for an addon built for
// another Node. Without either, nothing is done.
//
// It stops the event loop (the pauses above). It is skipped when the configured intervals leave
// less room than that: a stall's warning level is half the lag guard's budget
// (src/runtime/lag-guard.ts), and the collection runs only when that level is at least twice the
// longest pause measured (gc()'s, the fallback).

/** The smallest lag budget (ms) that allows the collection: a warning level of 50 ms. */
export const STARTUP_GC_MIN_BUDGET_MS = 100;
/** How long after READY: after the first rehearsal's chunks. */
export const STARTUP_GC_DELAY_MS = 250;

export type StartupGcPlan =
  | { type: "scheduled"; delayMs: number; collector: StartupCollector["kind"] }
  | {
      type: "skipped";
      reason:
        | "no collector (addon built for another Node, no --expose-gc)"
        | "intervals too short"
        | "no instances";
    };

/** What collects: the addon's memory-pressure collection, or V8's gc(). */
export interface StartupCollector {
  kind: "memory pressure" | "gc";
  collect(): void;
}

/** The addon's reduceMemory when it has one for this Node, else gc() when exposed, else none. */
export function pickCollector(
  reduceMemory: (() => void) | null,
  gc: (() => void) | undefined,
): StartupCollector | undefined {
  if (reduceMemory !== null) return { kind: "memory pressure", collect: reduceMemory };
  if (gc !== undefined) return { kind: "gc", collect: gc };
  return undefined;
}

export interface StartupGcOptions {
  /** The lag guard's budget for the configured instances (null: none). */
  budgetMs: number | null;
  /** See pickCollector; undefined: none. */
  collector: StartupCollector | undefined;
  /**
   * Called after the collector returned: which one, how long the call took and the heap before and
   * after it (bytes). gc() has collected by then; "memory pressure" has started a collection
   * that goes on in steps.
   */
  onCollected(e: {
    collector: StartupCollector["kind"];
    callMs: number;
    heapBefore: number;
    heapAfter: number;
  }): void;
  schedule?: (fn: () => void, ms: number) => void;
  now?: () => number;
  heapUsed?: () => number;
}

/** Plans the collection and, when it is due, schedules it. */
export function scheduleStartupGc(o: StartupGcOptions): StartupGcPlan {
  const collector = o.collector;
  if (collector === undefined)
    return { type: "skipped", reason: "no collector (addon built for another Node, no --expose-gc)" };
  if (o.budgetMs === null) return { type: "skipped", reason: "no instances" };
  if (o.budgetMs < STARTUP_GC_MIN_BUDGET_MS) return { type: "skipped", reason: "intervals too short" };
  const schedule = o.schedule ?? ((fn: () => void, ms: number) => setTimeout(fn, ms).unref());
  const now = o.now ?? (() => performance.now());
  const heapUsed = o.heapUsed ?? (() => process.memoryUsage().heapUsed);
  schedule(() => {
    const heapBefore = heapUsed();
    const started = now();
    collector.collect();
    const callMs = now() - started;
    o.onCollected({ collector: collector.kind, callMs, heapBefore, heapAfter: heapUsed() });
  }, STARTUP_GC_DELAY_MS);
  return { type: "scheduled", delayMs: STARTUP_GC_DELAY_MS, collector: collector.kind };
}
