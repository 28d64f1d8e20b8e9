// `vipd run`: the engine on the real Linux ports, the config loader and the control socket.

import type { Socket } from "node:net";
import type { Logger } from "pino";
// Straight from load.js, not the index: dist/bundle/run.cjs replaces this one module (scripts/bundle.mjs).
import { loadConfigFile } from "../config/load.js";
import type { NotifyConfig, VipdConfig } from "../config/types.js";
import { Hooks } from "../hooks/index.js";
import { loadChildProcess } from "../hooks/process.js";
import { memoryReducer, peerCredentials, setScheduling } from "../linux/native.js";
import { configToSpecs } from "./config-view.js";
import { type ControlServer, type PeerCredentials, startControlServer } from "./control.js";
import type { RunDaemon } from "./daemon-api.js";
import { Engine, EX_OSERR } from "./engine.js";
import { LagGuard, smallestBudgetMs } from "./lag-guard.js";
import { linuxPorts } from "./linux-ports.js";
import { type MetricsServer, serveMetrics, VipdMetrics } from "./metrics.js";
import { masterDownMs, OperationError, Operations } from "./operations.js";
import type { RuntimePorts } from "./ports.js";
import { TakeoverRehearsal } from "./rehearsal.js";
import { pickCollector, type StartupCollector, scheduleStartupGc } from "./startup-gc.js";
import type { DaemonStatus } from "./status.js";

/** Reported in vipd_info; kept in step with package.json by the release. */
export const VIPD_VERSION = "0.1.0";

export interface DaemonHandle {
  /** Resolves with the process exit code once the daemon has stopped (and the control socket closed). */
  stopped: Promise<number>;
  stop(): Promise<number>;
  reload(): Promise<boolean>;
  status(): DaemonStatus;
  /** The engine, for hooks (events, inputs) and metrics; null when vipd could not start at all. */
  engine: Engine<VipdConfig> | null;
  /** The takeover rehearsal (rehearsal.ts): after READY and every minute; null when not started. */
  rehearsal: TakeoverRehearsal | null;
}

export interface RunDaemonOptions {
  configPath: string;
  logger: Logger;
  /** Tests and the simulator pass their own ports; default: the Linux ports. */
  ports?: RuntimePorts & { timerKind?: string };
  loadConfig?: (path: string) => Promise<VipdConfig>;
  /** false: no control socket (tests). Default: global.control_socket. */
  control?: boolean;
  /**
   * The start-up collection's collector (src/runtime/startup-gc.ts). Default: the addon's
   * reduceMemory with the Linux ports, else globalThis.gc.
   */
  collector?: StartupCollector | undefined;
}

/**
 * Starts vipd for an already-validated config. Never rejects: a startup failure is logged and
 * `stopped` resolves with a non-zero exit code. The control socket comes first: when another vipd
 * owns it, this one stops before touching any address.
 */
export async function runDaemon(config: VipdConfig, o: RunDaemonOptions): Promise<DaemonHandle> {
  const log = o.logger;
  let control: ControlServer | null = null;
  if (o.control !== false) {
    try {
      control = await startControlServer({
        path: config.global.controlSocket,
        group: config.global.controlGroup,
        logger: log,
        ...(o.ports === undefined ? { peerCredentials: (s: Socket) => socketPeer(s, log) } : {}),
      });
    } catch (err) {
      log.error({ err }, `cannot open the control socket: ${(err as Error).message}`);
      return failedHandle(EX_OSERR);
    }
  }
  let ports: RuntimePorts & { timerKind?: string };
  try {
    ports = o.ports ?? (await linuxPorts());
  } catch (err) {
    log.error({ err }, `cannot open the Linux interfaces: ${(err as Error).message}`);
    await control?.close();
    return failedHandle(EX_OSERR);
  }
  if (o.ports === undefined) applyScheduling(config, log);
  const engineLoad = o.loadConfig ?? loadConfigFile;
  // The running config: the engine loads the file itself on reload; the last good one is kept here
  // for reload plans, handover and explain.
  let running = config;
  let pending: VipdConfig | null = null;
  const engine = new Engine<VipdConfig>({
    configPath: o.configPath,
    logger: log,
    ports,
    loadConfig: async (path) => {
      const next = await engineLoad(path);
      pending = next;
      return next;
    },
    toSpecs: configToSpecs,
    ...(ports.timerKind === undefined ? {} : { timerKind: ports.timerKind }),
  });
  engine.events.on("reloaded", (r) => {
    if (r.ok && pending) running = pending;
    pending = null;
  });
  // Trackers, fencing, notifications and sync groups (src/hooks), attached before the engine starts
  // so that no event is missed; configured after start and after each applied reload.
  const hooks = new Hooks({
    engine,
    logger: log,
    links: {
      getLink: (ifname) => ports.addresses.getLink(ifname),
      onLinkChange: (cb) => ports.links.onLinkChange(cb),
    },
    ...(ports.addresses.lookupNeighbour
      ? { neighbours: { lookupNeighbour: ports.addresses.lookupNeighbour.bind(ports.addresses) } }
      : {}),
  });
  const applyHooks = (c: VipdConfig): void => {
    hooks.apply(c).catch((err: unknown) => log.error({ err }, `hooks: ${(err as Error).message}`));
  };
  engine.events.on("reloaded", (r) => {
    if (r.ok) applyHooks(running);
  });
  const metrics = new VipdMetrics(engine, { version: VIPD_VERSION, hooks });
  const ops = new Operations({
    engine,
    logger: log,
    now: () => ports.clock.now(),
    config: () => running,
    loadConfig: o.loadConfig ?? loadConfigFile,
    onResign: (instance, reason) => metrics.resign(instance, reason),
  });
  engine.events.on("reloaded", (r) => {
    if (r.ok) ops.reapplyMaintenance();
  });
  // When each instance became master, for the lag guard: a takeover at the end of a stall is not
  // a master whose adverts the stall held up.
  const masterSince = new Map<string, number>();
  engine.events.on("stateChanged", (c) => {
    if (c.to !== "master") masterSince.delete(c.instance);
    else if (c.from !== "master") masterSince.set(c.instance, ports.clock.now());
  });
  const lagGuard = new LagGuard({
    now: () => ports.clock.now(),
    instances: () =>
      engine.lagView().map((i) => {
        const own = running.instances[i.name]?.adverIntervalMs ?? 1000;
        const since = masterSince.get(i.name);
        return {
          name: i.name,
          state: i.state,
          adverIntervalMs: i.masterAdverIntervalMs === null ? own : Math.min(own, i.masterAdverIntervalMs),
          preempt: running.instances[i.name]?.preempt ?? false,
          ...(since === undefined ? {} : { masterSinceMs: since }),
        };
      }),
    onLag: (ms) => metrics.lag(ms),
    onStall: (e) => {
      metrics.stall(e.level);
      const fields = { lagMs: Math.round(e.lagMs), budgetMs: Math.round(e.budgetMs) };
      if (e.level === "warning")
        log.warn(
          fields,
          `event loop stalled ${fields.lagMs} ms: close to the ${fields.budgetMs} ms peers tolerate`,
        );
      else
        log.error(
          fields,
          `event loop stalled ${fields.lagMs} ms: beyond the ${fields.budgetMs} ms peers tolerate`,
        );
    },
    onResign: (e) => {
      for (const name of e.instances) {
        if (ops.inMaintenance(name)) continue;
        const cfg = running.instances[name];
        const rejoinMs = 2 * masterDownMs(cfg?.adverIntervalMs ?? 1000, 1);
        log.error({ instance: name, lagMs: Math.round(e.lagMs) }, "resigning after a stall (priority 0)");
        ops.resignAndRejoin(name, "stall", rejoinMs).then(
          (heard) =>
            log.info(
              { instance: name, newMaster: heard?.peer.address ?? null },
              heard
                ? "rejoined after the stall resign: another master is up"
                : "rejoined after the stall resign",
            ),
          (err: unknown) => log.warn({ err, instance: name }, "stall resign skipped"),
        );
      }
    },
  });
  // Keeps the takeover path warm (rehearsal.ts): a throwaway engine on in-memory ports.
  // The real VIP add's code too, through the kernel, changing nothing (rtnl.ts rehearseAdd).
  const rehearseAdd = ports.addresses.rehearseAdd?.bind(ports.addresses);
  const rehearsal = new TakeoverRehearsal({
    specs: () => configToSpecs(running),
    logger: log,
    ...(rehearseAdd ? { rehearseAdd } : {}),
  });
  let metricsServer: MetricsServer | null = null;
  if (control) {
    const guarded =
      (cmd: string, fn: (req: Record<string, unknown>) => unknown) =>
      async (req: Record<string, unknown>) => {
        try {
          const r = await fn(req);
          metrics.control(cmd, "ok");
          return r;
        } catch (err) {
          metrics.control(cmd, "failed");
          if (err instanceof OperationError) throw new Error(`${err.code}: ${err.message}`);
          throw err;
        }
      };
    const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);
    control.handle("status", "read", () => ({
      ...ops.decorate(engine.status(), hooks.status()),
      eventLoop: { worstLagMs: lagGuard.worstLagMs, stalls: lagGuard.counts },
    }));
    control.handle(
      "explain",
      "read",
      guarded("explain", (req) => ops.explain(String(req.instance ?? ""))),
    );
    control.handle(
      "reload",
      "admin",
      guarded("reload", async (req) =>
        req.plan === true ? { plan: await ops.reloadPlan(o.configPath) } : { applied: await engine.reload() },
      ),
    );
    control.handle(
      "maintenance",
      "admin",
      guarded("maintenance", (req) => ops.maintenance(req.on === true, str(req.instance))),
    );
    control.handle(
      "handover",
      "admin",
      guarded("handover", (req) =>
        ops.handover(String(req.instance ?? ""), {
          to: str(req.to),
          timeoutMs: typeof req.timeoutMs === "number" ? req.timeoutMs : null,
        }),
      ),
    );
  }
  const stopped = engine.stopped.then(async (code) => {
    rehearsal.stop();
    await hooks.stop();
    lagGuard.stop();
    metrics.close();
    try {
      await metricsServer?.close();
    } catch (err) {
      log.error({ err }, "closing the metrics endpoint failed");
    }
    try {
      await control?.close();
    } catch (err) {
      log.error({ err }, "closing the control socket failed");
    }
    return code;
  });
  hooks.configure(config);
  try {
    await engine.start(config);
  } catch {
    // Logged by the engine; `stopped` carries the exit code.
  }
  if (engine.phase === "running") {
    applyHooks(config);
    lagGuard.start();
    // The first one in the next turn: READY and the first adverts are not held up by it.
    rehearsal.start();
    const gcPlan = scheduleStartupGc({
      budgetMs: smallestBudgetMs(Object.values(config.instances)),
      collector:
        "collector" in o
          ? o.collector
          : pickCollector(
              o.ports === undefined ? memoryReducer() : null,
              (globalThis as { gc?: () => void }).gc,
            ),
      onCollected: (e) =>
        log.debug(
          {
            collector: e.collector,
            callMs: Math.round(e.callMs * 10) / 10,
            heapBeforeMiB: Math.round(e.heapBefore / 104857.6) / 10,
            heapAfterMiB: Math.round(e.heapAfter / 104857.6) / 10,
          },
          e.collector === "gc" ? "start-up garbage collected" : "start-up garbage collection started",
        ),
    });
    if (gcPlan.type === "skipped") log.debug(`no start-up garbage collection: ${gcPlan.reason}`);
    // Hook programs' node:child_process is loaded on first use (src/hooks/process.ts); with a config
    // that names programs, load it now, after READY, so that a first fence agent does not pay it.
    if (runsPrograms(config)) setImmediate(() => loadChildProcess());
    const listen = config.global.metricsListen;
    if (listen) {
      // A busy metrics port must not keep the VIPs down: log it and run without metrics.
      try {
        metricsServer = await serveMetrics(metrics, listen);
        log.info(metricsServer.address, "metrics endpoint listening");
      } catch (err) {
        log.error({ err }, (err as Error).message);
      }
    }
  }
  return {
    stopped,
    stop: async () => {
      await engine.stop();
      return stopped;
    },
    reload: () => engine.reload(),
    status: () => engine.status(),
    engine,
    rehearsal: engine.phase === "running" ? rehearsal : null,
  };
}

/** The caller of a control connection (SO_PEERCRED through the native addon), or null. */
function socketPeer(socket: Socket, log: Logger): PeerCredentials | null {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return null;
  try {
    return peerCredentials(fd);
  } catch (err) {
    log.warn({ err }, "cannot read the control caller's credentials");
    return null;
  }
}

/** Whether the config names programs to run: track scripts, notify scripts, fence agents, a witness. */
export function runsPrograms(c: VipdConfig): boolean {
  const notifies = (n: NotifyConfig): boolean => Object.values(n).some((v) => v !== null);
  return (
    Object.keys(c.trackScripts).length > 0 ||
    c.global.fence !== null ||
    c.global.witness !== null ||
    Object.values(c.instances).some((i) => i.fence !== null || notifies(i.notify)) ||
    Object.values(c.syncGroups).some((g) => notifies(g.notify))
  );
}

function failedHandle(code: number): DaemonHandle {
  return {
    stopped: Promise.resolve(code),
    stop: () => Promise.resolve(code),
    reload: () => Promise.resolve(false),
    status: () => {
      throw new Error("vipd did not start");
    },
    engine: null,
    rehearsal: null,
  };
}

// The CLI loads this module dynamically and calls runDaemon as a RunDaemon.
runDaemon satisfies RunDaemon;

/** RLIMIT_RTTIME with realtime on: a thread that spins 5 s without sleeping is killed (SIGKILL). */
const RTTIME_LIMIT_US = 5_000_000;

/**
 * global.realtime_priority and global.nice, once at start (a reload does not change them). A
 * refusal (no CAP_SYS_NICE, RestrictRealtime=yes) is a warning: vipd runs on, with
 * its timers at the mercy of the machine's load.
 */
function applyScheduling(config: VipdConfig, log: Logger): void {
  const g = config.global;
  if (g.realtimePriority === 0 && g.nice === null) return;
  const r = setScheduling({
    realtimePriority: g.realtimePriority,
    nice: g.nice,
    rttimeUs: RTTIME_LIMIT_US,
  });
  if (r === null) {
    log.warn("scheduling options ignored: the native addon predates them (npm run build:native)");
    return;
  }
  const failed = (["realtime", "nice"] as const).filter((k) => r[k] !== "ok" && r[k] !== "skipped");
  const fields = {
    realtimePriority: g.realtimePriority,
    nice: g.nice,
    result: { realtime: r.realtime, nice: r.nice },
  };
  if (failed.length > 0) log.warn(fields, `scheduling: ${failed.map((k) => `${k} ${r[k]}`).join(", ")}`);
  else log.info(fields, "scheduling applied");
}
