// Owns every tracker and turns their statuses into `trackerChanged` inputs for the instances that
// reference them. A tracker is shared: one script run feeds every instance that lists it, each with
// its own weight. On reload unchanged trackers keep running (and their state); every instance gets
// all its current results again (a replaced router starts with none); results an instance no longer
// references are cleared with weight 0.

import type { Logger } from "pino";

import type { VipdConfig } from "../../config/types.js";
import type { Input, TrackerResult } from "../../core/types.js";
import type { TrackerKind, TrackerState } from "../../runtime/status.js";
import { HOOK_PATH } from "../process.js";
import { resolveProgram, type ScriptUser } from "../script-security.js";
import { httpCheck, programCheck, tcpCheck } from "./checks.js";
import { FileTracker } from "./file.js";
import { InterfaceTracker } from "./interface.js";
import { PeriodicTracker } from "./periodic.js";
import { type CheckStatus, sameResult, type Tracker, toTrackerResult } from "./status.js";

export interface TrackerSink {
  /** engine.input: false when the instance is not running (the result is kept and resent later). */
  input(instance: string, input: Input): boolean;
}

export interface TrackerHubDeps {
  sink: TrackerSink;
  logger: Logger;
  /** Link facts and events for track_interfaces (the runtime's rtnetlink). */
  getLink(ifname: string): Promise<{ up: boolean }>;
  onLinkChange(cb: (e: { ifname: string; up: boolean }) => void): void;
  /** The user scripts run as; undefined = the daemon's own. */
  scriptUser?: ScriptUser;
  filePollMs?: number;
}

interface Ref {
  instance: string;
  /** The core's tracker name for this instance (unique within the instance). */
  coreName: string;
  weight: number | null;
}

interface Entry {
  key: string;
  tracker: Tracker;
  refs: Ref[];
}

export class TrackerHub {
  readonly #d: TrackerHubDeps;
  readonly #entries = new Map<string, Entry>();
  /** instance -> core tracker name -> last result we sent. */
  readonly #sent = new Map<string, Map<string, TrackerResult>>();
  /** instance -> core tracker name -> result set from outside (sync groups, witness). */
  readonly #external = new Map<string, Map<string, TrackerResult>>();
  #linkSubscribed = false;
  #stopped = false;

  constructor(deps: TrackerHubDeps) {
    this.#d = deps;
  }

  /** The trackers by key (tests, status). */
  get trackers(): Tracker[] {
    return [...this.#entries.values()].map((e) => e.tracker);
  }

  /** Builds, keeps or stops trackers for this config and (re)sends every instance's results. */
  async apply(config: VipdConfig): Promise<void> {
    if (!this.#linkSubscribed) {
      this.#linkSubscribed = true;
      this.#d.onLinkChange((e) => this.#onLink(e.ifname, e.up));
    }
    const wanted = new Map<string, { make: () => Promise<Tracker>; refs: Ref[] }>();
    const want = (key: string, make: () => Promise<Tracker>, ref: Ref): void => {
      const w = wanted.get(key);
      if (w) w.refs.push(ref);
      else wanted.set(key, { make, refs: [ref] });
    };
    for (const inst of Object.values(config.instances)) {
      const used = new Set<string>();
      const coreName = (base: string): string => {
        let name = base;
        for (let i = 2; used.has(name); i++) name = `${base}#${i}`;
        used.add(name);
        return name;
      };
      for (const r of inst.trackScripts) {
        const s = config.trackScripts[r.name];
        if (!s) continue;
        want(`script:${JSON.stringify(s)}`, async () => this.#script(s), {
          instance: inst.name,
          coreName: coreName(`script:${r.name}`),
          weight: r.weight ?? s.weight,
        });
      }
      for (const r of inst.trackFiles) {
        const f = config.trackFiles[r.name];
        if (!f) continue;
        want(
          `file:${f.name}:${f.file}`,
          async () => new FileTracker(`file:${f.name}`, f.file, this.#d.filePollMs),
          {
            instance: inst.name,
            coreName: coreName(`file:${r.name}`),
            weight: r.weight ?? f.weight,
          },
        );
      }
      for (const r of inst.trackHttp) {
        const h = config.trackHttp[r.name];
        if (!h) continue;
        want(
          `http:${JSON.stringify(h)}`,
          async () =>
            new PeriodicTracker({
              name: `http:${h.name}`,
              intervalMs: h.intervalMs,
              rise: h.rise,
              fall: h.fall,
              check: (signal) => httpCheck(h.url, h.statuses, h.timeoutMs, signal),
            }),
          { instance: inst.name, coreName: coreName(`http:${r.name}`), weight: r.weight ?? h.weight },
        );
      }
      for (const r of inst.trackTcp) {
        const t = config.trackTcp[r.name];
        if (!t) continue;
        want(
          `tcp:${JSON.stringify(t)}`,
          async () =>
            new PeriodicTracker({
              name: `tcp:${t.name}`,
              intervalMs: t.intervalMs,
              rise: t.rise,
              fall: t.fall,
              check: (signal) => tcpCheck(t.host, t.port, t.timeoutMs, signal),
            }),
          { instance: inst.name, coreName: coreName(`tcp:${r.name}`), weight: r.weight ?? t.weight },
        );
      }
      for (const r of inst.trackInterfaces) {
        want(
          `interface:${r.name}:${r.upDelayMs}:${r.downDelayMs}`,
          async () => {
            let up = false;
            let reason = `${r.name} is down`;
            try {
              up = (await this.#d.getLink(r.name)).up;
            } catch (err) {
              reason = `${r.name}: ${(err as Error).message}`;
            }
            // The initial state applies at once (no debounce at startup).
            return new InterfaceTracker(`interface:${r.name}`, r.name, {
              up,
              reason,
              upDelayMs: r.upDelayMs,
              downDelayMs: r.downDelayMs,
            });
          },
          // Interfaces: no weight = Fault on down (as keepalived).
          { instance: inst.name, coreName: coreName(`interface:${r.name}`), weight: r.weight },
        );
      }
    }

    for (const [key, e] of this.#entries) {
      if (!wanted.has(key)) {
        e.tracker.stop();
        this.#entries.delete(key);
      }
    }
    for (const [key, w] of wanted) {
      const existing = this.#entries.get(key);
      if (existing) {
        existing.refs = w.refs;
        continue;
      }
      const tracker = await w.make();
      if (this.#stopped) return;
      const entry: Entry = { key, tracker, refs: w.refs };
      this.#entries.set(key, entry);
      tracker.onChange((status) => this.#onStatus(entry, status));
      tracker.start();
    }
    this.#resendAll(new Set(Object.keys(config.instances)));
  }

  /**
   * Every tracker of every instance as status shows it: the hub's own trackers with each instance's
   * weight, then the results set from outside (sync groups, the witness); `external` gives the
   * tracker behind such a result when there is one (the witness), for its check details.
   */
  snapshot(external?: (instance: string, id: string) => Tracker | undefined): Map<string, TrackerState[]> {
    const out = new Map<string, TrackerState[]>();
    const add = (instance: string, t: TrackerState): void => {
      const list = out.get(instance);
      if (list) list.push(t);
      else out.set(instance, [t]);
    };
    for (const e of this.#entries.values()) {
      for (const ref of e.refs) {
        const effect = toTrackerResult(e.tracker.status, ref.weight);
        add(ref.instance, describeTracker(ref.coreName, e.tracker.status, ref.weight, effect, e.tracker));
      }
    }
    for (const [instance, m] of this.#external) {
      for (const [id, r] of m) {
        // Sync groups and the witness have no weight: they put the instance in Fault or leave it be.
        const tracker = external?.(instance, id) ?? null;
        const status: CheckStatus =
          tracker?.status ??
          (r.type === "fault"
            ? { type: "down", reason: r.reason }
            : r.weight < 0
              ? { type: "down", reason: `priority lowered by ${-r.weight}` }
              : { type: "up" });
        add(instance, describeTracker(id, status, null, r, tracker));
      }
    }
    for (const list of out.values()) list.sort((a, b) => a.id.localeCompare(b.id));
    return out;
  }

  /** A result from outside the trackers (sync group, witness); null clears it (weight 0). */
  setExternal(instance: string, coreName: string, result: TrackerResult | null): void {
    let m = this.#external.get(instance);
    if (!m) {
      m = new Map();
      this.#external.set(instance, m);
    }
    if (result === null) {
      if (!m.delete(coreName)) return;
      this.#send(instance, coreName, { type: "weight", weight: 0 }, false);
      this.#sent.get(instance)?.delete(coreName);
      return;
    }
    m.set(coreName, result);
    this.#send(instance, coreName, result, false);
  }

  stop(): void {
    this.#stopped = true;
    for (const e of this.#entries.values()) e.tracker.stop();
    this.#entries.clear();
  }

  #script(s: VipdConfig["trackScripts"][string]): Tracker {
    const program = resolveProgram(s.argv[0] ?? "") ?? s.argv[0] ?? "";
    const argv = [program, ...s.argv.slice(1)];
    const user = this.#d.scriptUser;
    const log = this.#d.logger.child({ tracker: `script:${s.name}` });
    return new PeriodicTracker({
      name: `script:${s.name}`,
      intervalMs: s.intervalMs,
      rise: s.rise,
      fall: s.fall,
      check: (signal) =>
        programCheck(
          argv,
          {
            timeoutMs: s.timeoutMs,
            env: { PATH: HOOK_PATH },
            ...(user ? { uid: user.uid, gid: user.gid } : {}),
          },
          signal,
        ),
      onRun: (o) => {
        if (!o.ok) log.debug({ detail: o.detail }, "track script failed");
      },
    });
  }

  #onLink(ifname: string, up: boolean): void {
    for (const e of this.#entries.values()) {
      if (e.tracker instanceof InterfaceTracker && e.tracker.ifname === ifname) e.tracker.link(up);
    }
  }

  #onStatus(entry: Entry, status: CheckStatus): void {
    this.#d.logger.info(
      {
        tracker: entry.tracker.name,
        status: status.type,
        ...(status.type === "up" ? {} : { reason: status.reason }),
      },
      `tracker ${entry.tracker.name} ${status.type === "value" ? `reads ${status.value}` : status.type}`,
    );
    for (const ref of entry.refs) {
      this.#send(ref.instance, ref.coreName, toTrackerResult(status, ref.weight), false);
    }
  }

  #send(instance: string, coreName: string, result: TrackerResult, force: boolean): void {
    let sent = this.#sent.get(instance);
    if (!sent) {
      sent = new Map();
      this.#sent.set(instance, sent);
    }
    const last = sent.get(coreName);
    if (!force && last && sameResult(last, result)) return;
    sent.set(coreName, result);
    this.#d.sink.input(instance, { type: "trackerChanged", tracker: coreName, result });
  }

  #resendAll(instances: Set<string>): void {
    const current = new Map<string, Map<string, TrackerResult>>();
    for (const e of this.#entries.values()) {
      for (const ref of e.refs) {
        let m = current.get(ref.instance);
        if (!m) {
          m = new Map();
          current.set(ref.instance, m);
        }
        m.set(ref.coreName, toTrackerResult(e.tracker.status, ref.weight));
      }
    }
    for (const [instance, ext] of this.#external) {
      if (!instances.has(instance)) continue;
      for (const [name, r] of ext) {
        let m = current.get(instance);
        if (!m) {
          m = new Map();
          current.set(instance, m);
        }
        m.set(name, r);
      }
    }
    for (const instance of instances) {
      const now = current.get(instance) ?? new Map<string, TrackerResult>();
      for (const name of this.#sent.get(instance)?.keys() ?? []) {
        if (!now.has(name)) {
          this.#send(instance, name, { type: "weight", weight: 0 }, true);
          this.#sent.get(instance)?.delete(name);
        }
      }
      for (const [name, r] of now) this.#send(instance, name, r, true);
    }
  }
}

const KINDS: readonly TrackerKind[] = ["script", "file", "http", "tcp", "interface", "witness", "sync_group"];

/** The status view of one tracker in one instance; `tracker` adds its check counters when it has them. */
export function describeTracker(
  id: string,
  status: CheckStatus,
  weight: number | null,
  effect: TrackerResult,
  tracker: Tracker | null,
): TrackerState {
  const colon = id.indexOf(":");
  const head = colon < 0 ? id : id.slice(0, colon);
  const kind = KINDS.find((k) => k === head);
  if (kind === undefined) throw new Error(`assertion: unknown tracker kind in ${JSON.stringify(id)}`);
  // "script:chk#2" (the same tracker listed twice) is still named "chk".
  const name = colon < 0 ? id : id.slice(colon + 1).replace(/#\d+$/, "");
  const periodic = tracker instanceof PeriodicTracker ? tracker : null;
  const polled = periodic ?? (tracker instanceof FileTracker ? tracker : null);
  const lastCheck = polled?.lastCheck ?? null;
  return {
    id,
    kind,
    name,
    status: status.type,
    value: status.type === "value" ? status.value : null,
    reason: status.type === "up" ? null : status.reason,
    weight,
    effect:
      effect.type === "fault"
        ? { type: "fault", reason: effect.reason }
        : { type: "weight", weight: effect.weight },
    lastChangeAt: tracker?.lastChangeMs == null ? null : new Date(tracker.lastChangeMs).toISOString(),
    lastCheck:
      lastCheck === null
        ? null
        : { ok: lastCheck.ok, detail: lastCheck.detail, at: new Date(lastCheck.atMs).toISOString() },
    checks: polled?.checks ?? 0,
    successesInRow: periodic?.successesInRow ?? null,
    failuresInRow: periodic?.failuresInRow ?? null,
    rise: periodic?.rise ?? null,
    fall: periodic?.fall ?? null,
  };
}
