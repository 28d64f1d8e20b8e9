// The witness: a third party (gateway ping, TCP port, HTTP URL) that must answer before a takeover.
// mode takeover (default): checked in the fencing step, before any fence agent runs, so an isolated
// node never claims the VIPs. mode always: also a tracker that puts the instance in Fault while the
// witness does not answer, so an isolated master steps down too (and an isolated node that boots
// alone stays out of service).

import type { WitnessConfig } from "../config/types.js";
import { httpCheck, pingCheck, tcpCheck } from "./trackers/checks.js";
import { type CheckOutcome, PeriodicTracker } from "./trackers/periodic.js";

export function describeWitness(w: WitnessConfig): string {
  switch (w.type) {
    case "tcp":
      return `tcp ${w.host.includes(":") ? `[${w.host}]` : w.host}:${w.port}`;
    case "http":
      return `http ${w.url}`;
    case "ping":
      return `ping ${w.host}`;
    default: {
      const never: never = w;
      return never;
    }
  }
}

export function witnessCheck(w: WitnessConfig): (signal: AbortSignal) => Promise<CheckOutcome> {
  switch (w.type) {
    case "tcp":
      return (signal) => tcpCheck(w.host, w.port, w.timeoutMs, signal);
    case "http":
      return (signal) => httpCheck(w.url, [w.status], w.timeoutMs, signal);
    case "ping":
      return (signal) => pingCheck(w.host, w.timeoutMs, signal);
    default: {
      const never: never = w;
      return never;
    }
  }
}

/** mode always: a tracker named "witness" (Fault while down; fall 2 so one lost probe is not enough). */
export function witnessTracker(w: WitnessConfig): PeriodicTracker {
  return new PeriodicTracker({
    name: "witness",
    intervalMs: w.intervalMs,
    rise: 1,
    fall: 2,
    check: witnessCheck(w),
  });
}
