import { ConfigError, loadConfigFile } from "../config/index.js";
import { ControlClientError, controlRequest } from "../runtime/control-client.js";
import type {
  DaemonStatus,
  FenceAttempt,
  HooksInstanceStatus,
  InstanceStatus,
  NotifyStats,
  TrackerState,
} from "../runtime/status.js";
import { EX_NOPERM, EX_SOFTWARE, EX_UNAVAILABLE, EXIT_OK } from "./exit-codes.js";
import type { CliIo } from "./io.js";

export const DEFAULT_CONTROL_SOCKET = "/run/vipd/vipd.sock";

/** --socket, else the config's control_socket, else the default (a broken config must not block status). */
export async function socketPath(o: { socket?: string | undefined; config: string }): Promise<string> {
  if (o.socket !== undefined) return o.socket;
  try {
    return (await loadConfigFile(o.config)).global.controlSocket;
  } catch (e) {
    if (e instanceof ConfigError) return DEFAULT_CONTROL_SOCKET;
    throw e;
  }
}

function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function formatStatus(s: DaemonStatus): string {
  const out = [`vipd pid ${s.pid}, started ${s.startedAt}, config ${s.configPath}`];
  const rows = [["INSTANCE", "STATE", "PRIO", "IFACE", "VRID", "FAMILY", "MODE", "MASTER", "VIPS"]];
  for (const i of (s.instances ?? []) as Partial<InstanceStatus>[]) {
    const prio =
      i.effectivePriority !== undefined && i.effectivePriority !== i.priority
        ? `${i.effectivePriority} (${i.priority})`
        : String(i.priority ?? "?");
    rows.push([
      String(i.name ?? "?"),
      String(i.state ?? "?").toUpperCase(),
      prio,
      String(i.interface ?? "?"),
      String(i.vrid ?? "?"),
      i.family === "ipv6" ? "IPv6" : i.family === "ipv4" ? "IPv4" : "?",
      String(i.mode ?? "?"),
      i.master ?? "-",
      (i.vips ?? []).join(",") + (i.holdsVips ? " (held)" : ""),
    ]);
  }
  out.push(table(rows));
  // Per instance: maintenance, the peers heard, and the last takeover's timeline.
  const nowWall = Date.now();
  for (const i of (s.instances ?? []) as (Partial<InstanceStatus & HooksInstanceStatus> & {
    maintenance?: boolean;
  })[]) {
    const peers = i.peers ?? [];
    const trackers = i.trackers ?? [];
    const fences = i.fenceHistory ?? [];
    const notes: string[] = [];
    if (i.maintenance) notes.push("maintenance on (priority 0)");
    const t = i.lastTimeline;
    if (t?.complete) {
      const d = t.durations;
      const ms = (v: number | null) => (v === null ? "-" : `${v} ms`);
      notes.push(
        `last takeover ${t.startedAt} (${t.reason}): detect ${ms(d.lastAdvertToTransition)}, VIP ${ms(d.transitionToVipAdded)}, announce ${ms(d.vipAddedToFirstAnnounce)}, total ${ms(d.lastAdvertToFirstAnnounce)}`,
      );
    }
    const hooks = [...trackerLines(trackers, nowWall), ...fenceLines(fences), ...notifyLines(i.notify)];
    if (peers.length === 0 && notes.length === 0 && hooks.length === 0) continue;
    out.push("", `${i.name ?? "?"}:${notes.length > 0 ? ` ${notes.join("; ")}` : ""}`);
    out.push(...hooks);
    if (peers.length === 0) continue;
    const prow = [["  PEER", "PRIO", "INTERVAL", "VERSION", "CHECKSUM", "LAST SEEN", "ADVERTS"]];
    for (const p of peers) {
      const seen = Date.parse(p.lastSeenAt);
      prow.push([
        `  ${p.address}`,
        String(p.priority),
        `${p.adverIntervalMs} ms`,
        `v${p.version}`,
        p.checksumForm,
        Number.isNaN(seen) ? "?" : `${(Math.max(0, nowWall - seen) / 1000).toFixed(1)} s ago`,
        String(p.advertsReceived),
      ]);
    }
    out.push(table(prow));
  }
  return `${out.join("\n")}\n`;
}

function agoText(iso: string, nowWall: number): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "?" : `${(Math.max(0, nowWall - t) / 1000).toFixed(1)} s ago`;
}

/** One table of the instance's trackers (nothing when it has none). */
function trackerLines(trackers: TrackerState[], nowWall: number): string[] {
  if (trackers.length === 0) return [];
  const rows = [["  TRACKER", "STATUS", "WEIGHT", "EFFECT", "LAST CHECK", "IN A ROW"]];
  for (const t of trackers) {
    const status = t.status === "value" ? `value ${t.value}` : t.status;
    const effect =
      t.effect.type === "fault" ? "FAULT" : `${t.effect.weight >= 0 ? "+" : ""}${t.effect.weight}`;
    const last = t.lastCheck
      ? `${t.lastCheck.ok ? "ok" : "failed"} ${agoText(t.lastCheck.at, nowWall)}`
      : t.lastChangeAt
        ? `changed ${agoText(t.lastChangeAt, nowWall)}`
        : "-";
    const row =
      t.successesInRow !== null && t.failuresInRow !== null
        ? t.failuresInRow > 0
          ? `${t.failuresInRow} failed (fall ${t.fall})`
          : `${t.successesInRow} ok (rise ${t.rise})`
        : "-";
    rows.push([`  ${t.id}`, status, t.weight === null ? "-" : String(t.weight), effect, last, row]);
  }
  return [table(rows)];
}

/** The last fence attempts, newest first, at most three. */
function fenceLines(fences: FenceAttempt[]): string[] {
  return fences
    .slice(-3)
    .reverse()
    .map((f) => {
      const who = `${f.peer}${f.peerMac ? ` (${f.peerMac})` : ""}${f.node && f.node !== f.peer ? ` node ${f.node}` : ""}`;
      const level = f.level === null ? "" : ` level ${f.level}`;
      return `  fence ${f.startedAt} ${who}: ${f.outcome}${level} in ${f.durationMs} ms${f.outcome === "ok" || f.outcome === "cancelled" ? "" : ` (${f.detail})`}`;
    });
}

function notifyLines(n: NotifyStats | undefined): string[] {
  if (!n || n.lastEventSeq === 0) return [];
  return [
    `  notify: event #${n.lastEventSeq}, ${n.delivered} delivered, ${n.failed} failed, ${n.timedOut} timed out, ${n.retried} retried, ${n.dropped} dropped, ${n.pending} pending`,
  ];
}

export async function statusCommand(
  o: { socket?: string | undefined; config: string; json: boolean; timeout: number },
  io: CliIo,
): Promise<number> {
  const path = await socketPath(o);
  let result: unknown;
  try {
    result = await controlRequest(path, { cmd: "status" }, { timeoutMs: o.timeout });
  } catch (e) {
    if (!(e instanceof ControlClientError)) throw e;
    io.stderr(`vipd status: ${e.message}\n`);
    switch (e.code) {
      case "DAEMON_NOT_RUNNING":
      case "TIMEOUT":
        return EX_UNAVAILABLE;
      case "PERMISSION_DENIED":
        return EX_NOPERM;
      case "REMOTE":
        return e.remoteCode === "FORBIDDEN" ? EX_NOPERM : EX_SOFTWARE;
      case "PROTOCOL":
        return EX_SOFTWARE;
    }
  }
  if (o.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  else io.stdout(formatStatus(result as DaemonStatus));
  return EXIT_OK;
}
