// The real ports: src/linux's raw sockets, AF_PACKET sender, rtnetlink, sd_notify and the
// high-resolution timer on CLOCK_MONOTONIC. Falls back to setTimeout when the addon has no timer.

import {
  createHighResTimer,
  monotonicNowMs,
  openPacketSocket,
  openVrrpSocket,
  sdNotify,
} from "../linux/native.js";
import { openRtnl } from "../linux/rtnl.js";
import type { ClockPort, ProcessPort, RuntimePorts, TimerPort } from "./ports.js";

/** A one-shot timer on any monotonic clock, driven by setTimeout (millisecond resolution). */
export function timeoutTimer(now: () => number, onFire: () => void): TimerPort {
  let handle: NodeJS.Timeout | null = null;
  let target: number | null = null;
  const schedule = (): void => {
    if (target === null) return;
    const delay = Math.max(0, target - now());
    handle = setTimeout(() => {
      handle = null;
      // setTimeout may fire a little early against a finer clock: wait out the remainder.
      if (target !== null && now() < target) {
        schedule();
        return;
      }
      target = null;
      onFire();
    }, Math.ceil(delay));
  };
  return {
    armAt(at) {
      if (handle) clearTimeout(handle);
      handle = null;
      target = at;
      schedule();
    },
    disarm() {
      if (handle) clearTimeout(handle);
      handle = null;
      target = null;
    },
    close() {
      this.disarm();
    },
  };
}

/** The monotonic clock plus the best timer available; `kind` says which. */
export function linuxClock(): ClockPort & { kind: string } {
  let kind = "timerfd";
  try {
    const probe = createHighResTimer(() => {});
    probe.close();
  } catch {
    kind = "setTimeout";
  }
  return {
    kind,
    now: monotonicNowMs,
    createTimer(onFire) {
      if (kind === "timerfd") return createHighResTimer(onFire);
      return timeoutTimer(monotonicNowMs, onFire);
    },
  };
}

export const nodeProcessPort: ProcessPort = {
  sdNotify,
  watchdogUsec() {
    const raw = process.env.WATCHDOG_USEC;
    if (raw === undefined) return null;
    const pid = process.env.WATCHDOG_PID;
    if (pid !== undefined && Number(pid) !== process.pid) return null;
    const usec = Number(raw);
    return Number.isFinite(usec) && usec > 0 ? usec : null;
  },
  monotonicUsec() {
    // libuv's hrtime is CLOCK_MONOTONIC on Linux, the clock systemd expects.
    return process.hrtime.bigint() / 1000n;
  },
  onSignal(signal, cb) {
    process.on(signal, cb);
    return () => {
      process.off(signal, cb);
    };
  },
};

export async function linuxPorts(): Promise<RuntimePorts & { timerKind: string }> {
  const rtnl = await openRtnl();
  const clock = linuxClock();
  return {
    timerKind: clock.kind,
    clock,
    openVrrpSocket: (o) => openVrrpSocket(o),
    openPacketSender: (ifname) => openPacketSocket(ifname),
    addresses: rtnl,
    links: rtnl,
    process: nodeProcessPort,
  };
}
