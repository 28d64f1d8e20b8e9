import { ConfigError, loadConfigFile } from "../config/index.js";
import { ControlClientError, controlRequest } from "../runtime/control-client.js";
import type { DaemonStatus, InstanceStatus } from "../runtime/status.js";
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
  for (const i of (s.instances ?? []) as (Partial<InstanceStatus> & { maintenance?: boolean })[]) {
    const peers = i.peers ?? [];
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
    if (peers.length === 0 && notes.length === 0) continue;
    out.push("", `${i.name ?? "?"}:${notes.length > 0 ? ` ${notes.join("; ")}` : ""}`);
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
