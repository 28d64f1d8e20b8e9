// One tcpdump in a lab namespace, shared by the watchers that read its lines (client-watch.ts,
// bench/wire.ts) and the pcap capture (capture.ts): started in its own process group, ready once it
// printed "listening on" (within 10 s), stopped by SIGTERM and SIGKILL 2 s later.
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { stopGroup, Waiters } from "./child-wait.js";
import type { LabHost } from "./netns.js";

export interface Tcpdump {
  child: ChildProcess;
  /**
   * Resolves with check()'s first defined value, checked again after each line onLine recorded;
   * rejects when tcpdump ends or after timeoutMs.
   */
  waitUntil<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T>;
  stop(): Promise<void>;
}

export interface TcpdumpOptions {
  /** Arguments after `-i <host's interface>`. */
  args: readonly string[];
  /** Takes each stdout line; returns true when it recorded something a wait may be looking for. */
  onLine?: (line: string) => boolean;
  /** Where the packets are seen, for timeout messages ("in a1", "by the client"). */
  seenWhere: string;
}

/** Starts tcpdump on host's interface; resolves once it listens, or stops it and rejects. */
export async function startTcpdump(host: LabHost, o: TcpdumpOptions): Promise<Tcpdump> {
  const child = host.spawn(["tcpdump", "-i", host.ifname, ...o.args]);
  const waiters = new Waiters();
  const stderr: string[] = [];
  let closed = false;
  const onLine = o.onLine;
  if (child.stdout && onLine)
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (onLine(line)) waiters.notify();
    });
  if (child.stderr)
    createInterface({ input: child.stderr }).on("line", (line) => {
      stderr.push(line);
      waiters.notify();
    });
  const closedPromise = new Promise<void>((resolve) =>
    child.once("close", () => {
      closed = true;
      waiters.notify();
      resolve();
    }),
  );
  const waitUntil = <T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> =>
    waiters.until(timeoutMs, check, {
      ended: () => (closed ? `tcpdump in ${host.ns} ended before ${what}: ${stderr.join(" | ")}` : undefined),
      timedOut: () => `no ${what} seen ${o.seenWhere} within ${timeoutMs} ms`,
    });
  const stop = () => stopGroup(child, { closed: closedPromise, isClosed: closed, killAfterMs: 2000 });
  try {
    await waitUntil("'listening on' from tcpdump", 10_000, () =>
      stderr.some((l) => l.includes("listening on")) ? true : undefined,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { child, waitUntil, stop };
}
