// Prometheus metrics for vipd (prom-client, a registry of its own so nothing global leaks in).
//
// Two sources: the engine's status, read at scrape time (state, priorities, packet counters), and
// the engine's events, counted as they happen (transitions, failover timelines). The event-loop lag
// guard and fencing report through the methods below. Served over plain HTTP on
// global.metrics_listen (127.0.0.1:9650 by default); GET /metrics only.

import type { EventEmitter } from "node:events";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";

import type * as PromClient from "prom-client";

import type { RouterState } from "../core/types.js";
import type { DaemonEvents } from "./engine.js";
import type { DaemonStatus, FailoverTimeline, FenceAttempt, HooksStatus, NotifyStats } from "./status.js";

// prom-client's index also loads its push gateway (http, https, zlib), cluster aggregation and
// default process metrics: ~60 ms of start-up. vipd needs four classes, loaded from their own
// modules (the same objects as the index exports; test/unit/ops-metrics.test.ts checks it).
const require = createRequire(import.meta.url);
const Registry = require("prom-client/lib/registry") as typeof PromClient.Registry;
const Counter = require("prom-client/lib/counter") as typeof PromClient.Counter;
const Gauge = require("prom-client/lib/gauge") as typeof PromClient.Gauge;
const Histogram = require("prom-client/lib/histogram") as typeof PromClient.Histogram;
type Counter<T extends string> = PromClient.Counter<T>;
type Histogram<T extends string> = PromClient.Histogram<T>;

const STATES: RouterState[] = ["initialize", "backup", "fencing", "master", "fault"];
/** Seconds; VRRP failovers range from tens of milliseconds (v3 at 10 ms) to several seconds (v2). */
const FAILOVER_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2, 3, 4, 5, 10, 20];

/**
 * A transition reason as a label: the core's reasons carry addresses, priorities and error texts
 * ("higher priority heard: 192.0.2.12 prio 200, ours 100"); the label keeps the kind only, so the
 * series stay few ("higher priority heard", "master <addr> silent").
 */
export function reasonLabel(reason: string): string {
  const plain = reason
    .replace(/\b(?:\d{1,3}\.){3}\d{1,3}\b/g, "<addr>")
    .replace(/(?<![\w:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?![\w:])/gi, "<addr>");
  const head = plain.split(/[:;(]/, 1)[0] ?? "";
  return (
    head
      .replace(/\b\d+\b/g, "<n>")
      .trim()
      .slice(0, 60) || "unknown"
  );
}

/** Seconds; a fence runs from a few milliseconds (a local agent) to a minute (a slow PDU). */
const FENCE_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60];

/** What metrics need from the hooks (src/hooks' Hooks): read at scrape time, fence attempts as they end. */
export interface HooksSource {
  status(): HooksStatus;
  onFenceAttempt(cb: (instance: string, attempt: FenceAttempt) => void): () => void;
}

/** The outcome label of each notify counter (dropped counts events, the others script runs). */
const NOTIFY_OUTCOMES: [string, (n: NotifyStats) => number][] = [
  ["delivered", (n) => n.delivered],
  ["failed", (n) => n.failed],
  ["timeout", (n) => n.timedOut],
  ["retried", (n) => n.retried],
  ["dropped", (n) => n.dropped],
];

/** What metrics need from the engine. */
export interface MetricsSource {
  status(): DaemonStatus;
  readonly events: EventEmitter<DaemonEvents>;
}

export class VipdMetrics {
  readonly registry = new Registry();
  readonly #transitions: Counter<"instance" | "from" | "to" | "reason">;
  readonly #detect: Histogram<"instance">;
  readonly #failover: Histogram<"instance">;
  readonly #fence: Counter<"instance" | "result">;
  readonly #stalls: Counter<"level">;
  readonly #resigns: Counter<"instance" | "reason">;
  readonly #control: Counter<"cmd" | "result">;
  readonly #fenceAttempts: Counter<"instance" | "outcome">;
  readonly #fenceSeconds: Histogram<"instance" | "outcome">;
  readonly #fenceAgents: Counter<"instance" | "level" | "outcome">;
  readonly #listeners: (() => void)[] = [];
  #maxLagMs = 0;
  /** The last probe's lag: read at scrape time, not set on every probe (tens a second). */
  #lastLagMs = 0;

  constructor(source: MetricsSource, o: { version: string; hooks?: HooksSource }) {
    const registers = [this.registry];
    // A scrape reads the status once; the status-derived collectors below share it.
    let snapshot: DaemonStatus | null = null;
    const status = (): DaemonStatus => {
      snapshot ??= source.status();
      queueMicrotask(() => {
        snapshot = null;
      });
      return snapshot;
    };

    new Gauge({
      name: "vipd_info",
      help: "Always 1; the labels describe this vipd",
      labelNames: ["version"],
      registers,
    }).set({ version: o.version }, 1);

    new Gauge({
      name: "vipd_instance_state",
      help: "1 for the state each instance is in, 0 for the others",
      labelNames: ["instance", "state"],
      registers,
      collect() {
        this.reset();
        for (const i of status().instances) {
          for (const s of STATES) this.set({ instance: i.name, state: s }, i.state === s ? 1 : 0);
        }
      },
    });
    const perInstance = (
      name: string,
      help: string,
      value: (i: DaemonStatus["instances"][number]) => number,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames: ["instance"],
        registers,
        collect() {
          this.reset();
          for (const i of status().instances) this.set({ instance: i.name }, value(i));
        },
      });
    };
    perInstance("vipd_instance_priority", "Configured priority", (i) => i.priority);
    perInstance(
      "vipd_instance_effective_priority",
      "Priority after tracker weights (0 while in maintenance)",
      (i) => i.effectivePriority,
    );
    perInstance("vipd_instance_vips_held", "VIPs installed on the interfaces", (i) => i.installedVips.length);
    perInstance("vipd_instance_link_up", "1 when the instance's interface is up", (i) => (i.linkUp ? 1 : 0));

    // Counters kept by the engine: re-read at each scrape (they restart at 0 when a reload replaces
    // an instance, which Prometheus treats as a counter reset).
    const fromCounters = (
      name: string,
      help: string,
      value: (c: DaemonStatus["instances"][number]["counters"]) => number,
    ): void => {
      new Counter({
        name,
        help,
        labelNames: ["instance"],
        registers,
        collect() {
          this.reset();
          for (const i of status().instances) this.inc({ instance: i.name }, value(i.counters));
        },
      });
    };
    fromCounters("vipd_adverts_sent_total", "VRRP adverts sent", (c) => c.advertsSent);
    fromCounters("vipd_adverts_received_total", "Valid VRRP adverts received", (c) => c.advertsReceived);
    fromCounters(
      "vipd_advert_send_errors_total",
      "Adverts the OS refused to send",
      (c) => c.advertSendErrors,
    );
    fromCounters(
      "vipd_announcements_sent_total",
      "Gratuitous ARP / unsolicited NA frames sent",
      (c) => c.announcementsSent,
    );
    fromCounters("vipd_announce_errors_total", "Failed announcements", (c) => c.announceErrors);
    fromCounters("vipd_split_brains_total", "Split brains seen while master", (c) => c.splitBrains);
    fromCounters("vipd_vip_add_errors_total", "VIPs that could not be added", (c) => c.vipAddErrors);
    fromCounters("vipd_vip_remove_errors_total", "VIPs that could not be removed", (c) => c.vipRemoveErrors);

    new Counter({
      name: "vipd_packets_discarded_total",
      help: 'VRRP datagrams dropped, by reason; instance="" when no instance could be named',
      labelNames: ["instance", "socket", "reason"],
      registers,
      collect() {
        this.reset();
        const s = status();
        for (const i of s.instances) {
          for (const [reason, n] of Object.entries(i.counters.discarded))
            this.inc({ instance: i.name, socket: `${i.interface}/${i.family}`, reason }, n);
          for (const [field, n] of Object.entries(i.counters.mismatches))
            this.inc(
              { instance: i.name, socket: `${i.interface}/${i.family}`, reason: `mismatch-${field}` },
              n,
            );
        }
        for (const [socket, reasons] of Object.entries(s.unattributed)) {
          for (const [reason, n] of Object.entries(reasons)) this.inc({ instance: "", socket, reason }, n);
        }
      },
    });

    new Gauge({
      name: "vipd_peer_priority",
      help: "Priority in the last advert heard from each peer",
      labelNames: ["instance", "peer"],
      registers,
      collect() {
        this.reset();
        for (const i of status().instances)
          for (const p of i.peers) this.set({ instance: i.name, peer: p.address }, p.priority);
      },
    });
    new Gauge({
      name: "vipd_timer_worst_lateness_seconds",
      help: "Worst lateness of the protocol timer since start",
      registers,
      collect() {
        this.set(status().timer.worstLatenessMs / 1000);
      },
    });

    this.#transitions = new Counter({
      name: "vipd_transitions_total",
      help: "State changes, by reason",
      labelNames: ["instance", "from", "to", "reason"],
      registers,
    });
    this.#detect = new Histogram({
      name: "vipd_failover_detect_seconds",
      help: "Time to detect: last advert heard from the old master to this node's takeover decision",
      labelNames: ["instance"],
      buckets: FAILOVER_BUCKETS,
      registers,
    });
    this.#failover = new Histogram({
      name: "vipd_failover_seconds",
      help: "Time to failover: last advert heard from the old master to the first GARP/NA sent",
      labelNames: ["instance"],
      buckets: FAILOVER_BUCKETS,
      registers,
    });
    this.#fence = new Counter({
      name: "vipd_fence_results_total",
      help: "Fence attempts by result (ok / failed)",
      labelNames: ["instance", "result"],
      registers,
    });
    const self = this;
    new Gauge({
      name: "vipd_event_loop_lag_seconds",
      help: "Event-loop lag measured by the last probe",
      registers,
      collect() {
        this.set(self.#lastLagMs / 1000);
      },
    });
    new Gauge({
      name: "vipd_event_loop_lag_max_seconds",
      help: "Worst event-loop lag since the previous scrape",
      registers,
      collect() {
        this.set(self.#maxLagMs / 1000);
        self.#maxLagMs = 0;
      },
    });
    this.#stalls = new Counter({
      name: "vipd_event_loop_stalls_total",
      help: "Event-loop stalls: warning = near the point where peers would fail over, critical = beyond it",
      labelNames: ["level"],
      registers,
    });
    this.#resigns = new Counter({
      name: "vipd_resigns_total",
      help: "Priority-0 resigns vipd made on its own or on request (handover, maintenance, stall)",
      labelNames: ["instance", "reason"],
      registers,
    });
    this.#control = new Counter({
      name: "vipd_control_commands_total",
      help: "Control socket commands by result",
      labelNames: ["cmd", "result"],
      registers,
    });
    this.#fenceAttempts = new Counter({
      name: "vipd_fence_attempts_total",
      help: "Fence attempts by outcome (ok, failed, timeout, witness-down, cancelled)",
      labelNames: ["instance", "outcome"],
      registers,
    });
    this.#fenceSeconds = new Histogram({
      name: "vipd_fence_attempt_seconds",
      help: "Duration of fence attempts (delay, witness and agents), by outcome",
      labelNames: ["instance", "outcome"],
      buckets: FENCE_BUCKETS,
      registers,
    });
    this.#fenceAgents = new Counter({
      name: "vipd_fence_agent_runs_total",
      help: "Fence agent runs by level and outcome (ok, failed, timeout, spawn-error)",
      labelNames: ["instance", "level", "outcome"],
      registers,
    });
    const hooks = o.hooks;
    if (hooks) this.#hooksMetrics(hooks, registers);

    // Both levels exist from the start so alerts can use rate() without absent().
    this.#stalls.inc({ level: "warning" }, 0);
    this.#stalls.inc({ level: "critical" }, 0);

    const onState = (e: DaemonEvents["stateChanged"][0]) =>
      this.#transitions.inc({ instance: e.instance, from: e.from, to: e.to, reason: reasonLabel(e.reason) });
    const onTimeline = (t: FailoverTimeline) => this.#onTimeline(t);
    const onFence = (e: DaemonEvents["fenceResult"][0]) => this.fenceResult(e.instance, e.ok);
    source.events.on("stateChanged", onState);
    source.events.on("timeline", onTimeline);
    source.events.on("fenceResult", onFence);
    this.#listeners.push(
      () => source.events.off("stateChanged", onState),
      () => source.events.off("timeline", onTimeline),
      () => source.events.off("fenceResult", onFence),
    );
    if (hooks) this.#listeners.push(hooks.onFenceAttempt((instance, a) => this.fenceAttempt(instance, a)));
  }

  /** Trackers and notify delivery, read from the hooks at scrape time. */
  #hooksMetrics(hooks: HooksSource, registers: PromClient.Registry[]): void {
    let snapshot: HooksStatus | null = null;
    const status = (): HooksStatus => {
      snapshot ??= hooks.status();
      queueMicrotask(() => {
        snapshot = null;
      });
      return snapshot;
    };
    const perTracker = (
      name: string,
      help: string,
      value: (t: HooksStatus["instances"][string]["trackers"][number]) => number | null,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames: ["instance", "tracker"],
        registers,
        collect() {
          this.reset();
          for (const [instance, h] of Object.entries(status().instances)) {
            for (const t of h.trackers) {
              const v = value(t);
              if (v !== null) this.set({ instance, tracker: t.id }, v);
            }
          }
        },
      });
    };
    perTracker("vipd_tracker_up", "1 while a tracker is up (track_files: always 1), 0 while down", (t) =>
      t.status === "down" ? 0 : 1,
    );
    perTracker("vipd_tracker_value", "The integer a track_files tracker reads", (t) => t.value);
    perTracker(
      "vipd_tracker_priority_delta",
      "What the tracker adds to the instance's priority now (0 when it forces Fault)",
      (t) => (t.effect.type === "weight" ? t.effect.weight : 0),
    );
    perTracker("vipd_tracker_fault", "1 while the tracker forces the instance into Fault", (t) =>
      t.effect.type === "fault" ? 1 : 0,
    );
    perTracker(
      "vipd_tracker_successes_in_row",
      "Periodic checks: successes in a row (rise counts against it)",
      (t) => t.successesInRow,
    );
    perTracker(
      "vipd_tracker_failures_in_row",
      "Periodic checks: failures in a row (fall counts against it)",
      (t) => t.failuresInRow,
    );
    perTracker(
      "vipd_tracker_last_check_timestamp_seconds",
      "When the last check finished (Unix time)",
      (t) => (t.lastCheck === null ? null : Date.parse(t.lastCheck.at) / 1000),
    );
    new Counter({
      name: "vipd_tracker_checks_total",
      help: "Checks run by polled trackers (scripts, HTTP, TCP, files, the witness)",
      labelNames: ["instance", "tracker"],
      registers,
      collect() {
        this.reset();
        for (const [instance, h] of Object.entries(status().instances))
          for (const t of h.trackers)
            if (t.lastCheck !== null) this.inc({ instance, tracker: t.id }, t.checks);
      },
    });
    const notifyCounter = (name: string, help: string, label: "instance" | "group"): void => {
      new Counter({
        name,
        help,
        labelNames: [label, "outcome"],
        registers,
        collect() {
          this.reset();
          const s = status();
          const queues =
            label === "instance"
              ? Object.entries(s.instances).map(([n, h]) => [n, h.notify] as const)
              : Object.entries(s.syncGroups).map(([n, g]) => [n, g.notify] as const);
          for (const [n, stats] of queues)
            for (const [outcome, get] of NOTIFY_OUTCOMES) this.inc({ [label]: n, outcome }, get(stats));
        },
      });
    };
    notifyCounter(
      "vipd_notify_total",
      "Notify script runs by outcome (delivered, failed after retries, timeout and retried per attempt; dropped counts events)",
      "instance",
    );
    notifyCounter("vipd_sync_group_notify_total", "The same for sync groups' notify scripts", "group");
    const notifyGauge = (name: string, help: string, value: (n: NotifyStats) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ["instance"],
        registers,
        collect() {
          this.reset();
          for (const [instance, h] of Object.entries(status().instances))
            this.set({ instance }, value(h.notify));
        },
      });
    };
    notifyGauge("vipd_notify_pending", "Notify events queued or running", (n) => n.pending);
    notifyGauge(
      "vipd_notify_last_event_seq",
      "Number of the last notify event (VIPD_EVENT_SEQ)",
      (n) => n.lastEventSeq,
    );
  }

  /** A fence attempt ended (from the hooks): outcome, duration and each agent run. */
  fenceAttempt(instance: string, a: FenceAttempt): void {
    this.#fenceAttempts.inc({ instance, outcome: a.outcome });
    this.#fenceSeconds.observe({ instance, outcome: a.outcome }, a.durationMs / 1000);
    for (const r of a.agents) this.#fenceAgents.inc({ instance, level: String(r.level), outcome: r.outcome });
  }

  #onTimeline(t: FailoverTimeline): void {
    if (!t.complete) return;
    const d = t.durations;
    // Only takeovers from a master that went silent have a time to detect.
    if (t.downTimerMs !== null && d.lastAdvertToTransition !== null)
      this.#detect.observe({ instance: t.instance }, d.lastAdvertToTransition / 1000);
    if (d.lastAdvertToFirstAnnounce !== null)
      this.#failover.observe({ instance: t.instance }, d.lastAdvertToFirstAnnounce / 1000);
  }

  /** A fence attempt finished (counted from the engine's fenceResult event). */
  fenceResult(instance: string, ok: boolean): void {
    this.#fence.inc({ instance, result: ok ? "ok" : "failed" });
  }

  /** The lag guard's probe. */
  lag(ms: number): void {
    this.#lastLagMs = ms;
    if (ms > this.#maxLagMs) this.#maxLagMs = ms;
  }

  stall(level: "warning" | "critical"): void {
    this.#stalls.inc({ level });
  }

  resign(instance: string, reason: "handover" | "maintenance" | "stall"): void {
    this.#resigns.inc({ instance, reason });
  }

  control(cmd: string, result: "ok" | "failed" | "refused"): void {
    this.#control.inc({ cmd, result });
  }

  /** The exposition text (what GET /metrics answers). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    for (const off of this.#listeners.splice(0)) off();
  }
}

export interface MetricsServer {
  /** The bound address (port 0 in the config picks a free port). */
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

export class MetricsListenError extends Error {
  readonly code = "METRICS_LISTEN_FAILED";
  constructor(message: string) {
    super(message);
    this.name = "MetricsListenError";
  }
}

/**
 * Serves GET /metrics on host:port; anything else is 404, other methods 405. node:http is loaded
 * here, not with the module: the daemon serves metrics after READY (or not at all), and the HTTP
 * stack costs start-up time and ~1 MiB of RSS. Loaded with require, not import(): `vipd run` runs
 * as a classic script (dist/bundle/run.cjs, see src/cli/code-cache.ts), where import() needs a loader.
 */
export async function serveMetrics(
  metrics: VipdMetrics,
  listen: { host: string; port: number },
): Promise<MetricsServer> {
  const { createServer } = require("node:http") as typeof import("node:http");
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("vipd: try /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    metrics.text().then(
      (body) => {
        res.writeHead(200, { "content-type": metrics.registry.contentType });
        res.end(req.method === "HEAD" ? undefined : body);
      },
      (err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(`vipd: metrics failed: ${String(err)}\n`);
      },
    );
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) =>
      reject(new MetricsListenError(`cannot serve metrics on ${listen.host}:${listen.port}: ${e.message}`));
    server.once("error", onError);
    server.listen(listen.port, listen.host, () => {
      server.off("error", onError);
      const a = server.address() as AddressInfo;
      resolve({
        address: { host: a.address, port: a.port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
