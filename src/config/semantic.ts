// Cross-field rules and the final VipdConfig, built from the structurally valid raw config.
import { hostname } from "node:os";

import type { Family } from "../core/types.js";
import { formatDurationMs } from "./duration.js";
import { issueAt, type PathIssue } from "./issues.js";
import { type Cidr, formatCidr, parseAddress } from "./net.js";
import type { PathKey } from "./positions.js";
import type { RawConfig, RawInstance } from "./schema.js";
import { didYouMean } from "./suggest.js";
import type {
  AnnounceConfig,
  FenceConfig,
  GlobalConfig,
  InstanceConfig,
  InterfaceTrackRef,
  NotifyConfig,
  SyncGroupConfig,
  TrackFileConfig,
  TrackHttpConfig,
  TrackRef,
  TrackScriptConfig,
  TrackTcpConfig,
  VipdConfig,
  VirtualIpConfig,
  WitnessConfig,
} from "./types.js";

const TRACK_WHAT = {
  track_scripts: "track script",
  track_files: "track file",
  track_http: "HTTP check",
  track_tcp: "TCP check",
} as const;

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/;
const DEFAULT_CONTROL_SOCKET = "/run/vipd/vipd.sock";
const DEFAULT_METRICS = "127.0.0.1:9650";
// Scheduling defaults (docs/config.md): keepalived changes nothing unless told (vrrp_rt_priority,
// vrrp_priority, vrrp_no_swap); a Node.js event loop needs the help more, so vipd asks by default.
const DEFAULT_REALTIME_PRIORITY = 10;
const DEFAULT_NICE = -10;
const MAX_PREEMPT_DELAY_MS = 1000_000;

const familyName = (f: Family) => (f === "ipv4" ? "IPv4" : "IPv6");

type RawVip = RawInstance["virtual_ips"][number];
type RawNotify = {
  notify?: string | null | undefined;
  notify_master?: string | null | undefined;
  notify_backup?: string | null | undefined;
  notify_fault?: string | null | undefined;
  notify_stop?: string | null | undefined;
  notify_event?: string | null | undefined;
  notify_fence_started?: string | null | undefined;
  notify_fence_failed?: string | null | undefined;
  notify_split_brain?: string | null | undefined;
  notify_master_rx_lower_pri?: string | null | undefined;
};
type RawFence = NonNullable<RawInstance["fence"]>;
type RawWitness = NonNullable<RawInstance["witness"]>;

const FENCE_TIMEOUT_MS = 30_000;
const FENCE_RETRY_MS = 1000;
const FENCE_RETRY_MAX_MS = 60_000;

/** fence: -> FenceConfig (issue 4). */
function fenceOf(raw: RawFence, at: PathKey[], out: PathIssue[]): FenceConfig {
  const timeoutMs = raw.timeout ?? FENCE_TIMEOUT_MS;
  const retryMs = raw.retry ?? FENCE_RETRY_MS;
  const retryMaxMs = raw.retry_max ?? Math.max(FENCE_RETRY_MAX_MS, retryMs);
  if (timeoutMs < 10) out.push(issueAt([...at, "timeout"], "value", "must be at least 10ms"));
  if (retryMs < 10) out.push(issueAt([...at, "retry"], "value", "must be at least 10ms"));
  if (retryMaxMs < retryMs) out.push(issueAt([...at, "retry_max"], "value", "must be at least retry"));
  const nodes: Record<string, string> = {};
  for (const [address, node] of Object.entries(raw.nodes ?? {})) {
    const a = parseAddress(address);
    if (!a) out.push(issueAt([...at, "nodes", address], "key", `"${address}" is not an IP address`));
    else nodes[a.address] = node;
  }
  const levels = raw.levels.map((level, li) =>
    level.map((agent, ai) => {
      const args: Record<string, string> = {};
      for (const [k, v] of Object.entries(agent.args ?? {})) {
        if (!/^[a-z][a-z0-9_]*$/.test(k)) {
          out.push(
            issueAt(
              [...at, "levels", li, ai, "args", k],
              "key",
              "fence agent option names use a-z, 0-9 and _",
            ),
          );
        }
        const text = String(v);
        if (/[\n\r\0]/.test(text)) {
          out.push(
            issueAt([...at, "levels", li, ai, "args", k], "value", "must not contain a newline or NUL"),
          );
        }
        args[k] = text;
      }
      if (!agent.agent.startsWith("/")) {
        out.push(issueAt([...at, "levels", li, ai, "agent"], "value", "must be an absolute path"));
      }
      return { agent: agent.agent, args, timeoutMs: agent.timeout ?? timeoutMs };
    }),
  );
  return {
    levels,
    delayMs: raw.delay ?? 0,
    randomDelayMs: raw.random_delay ?? 0,
    retryMs,
    retryMaxMs,
    nodes,
  };
}

/** witness: -> WitnessConfig (issue 4). */
function witnessOf(raw: RawWitness, at: PathKey[], out: PathIssue[]): WitnessConfig | null {
  const common = {
    intervalMs: raw.interval ?? 1000,
    timeoutMs: raw.timeout ?? 1000,
    mode: raw.mode ?? ("takeover" as const),
  };
  const need = (key: string, what: string): void => {
    out.push(issueAt(at, "key", `a ${raw.type} witness needs ${key} (${what})`));
  };
  const unused = (keys: (keyof RawWitness)[]): void => {
    for (const k of keys) {
      if (raw[k] !== undefined)
        out.push(issueAt([...at, k], "key", `does not apply to a ${raw.type} witness`));
    }
  };
  switch (raw.type) {
    case "tcp":
      unused(["url", "status"]);
      if (!raw.host) need("host", "an IP address");
      if (raw.port === undefined) need("port", "1..65535");
      return raw.host && raw.port !== undefined
        ? { type: "tcp", host: raw.host.address, port: raw.port, ...common }
        : null;
    case "http":
      unused(["host", "port"]);
      if (!raw.url) {
        need("url", "like http://192.0.2.1/health");
        return null;
      }
      if (!validHttpUrl(raw.url)) {
        out.push(issueAt([...at, "url"], "value", "must be an http:// or https:// URL"));
      }
      return { type: "http", url: raw.url, status: raw.status ?? 200, ...common };
    case "ping":
      unused(["url", "status", "port"]);
      if (!raw.host) {
        need("host", "an IP address");
        return null;
      }
      return { type: "ping", host: raw.host.address, ...common };
    default: {
      const never: never = raw.type;
      return never;
    }
  }
}

function validHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return u.protocol === "http:" || u.protocol === "https:";
  } catch {
    return false;
  }
}

function vipParts(v: RawVip): { cidr: Cidr; dev: string | null; label: string | null } {
  if ("address" in v) return { cidr: v.address, dev: v.dev ?? null, label: v.label ?? null };
  return v;
}

function parseListen(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  const a = parseAddress(host);
  if (!a) return null;
  return { host: a.address, port };
}

function notifyOf(raw: RawNotify): NotifyConfig {
  return {
    any: raw.notify ?? null,
    master: raw.notify_master ?? null,
    backup: raw.notify_backup ?? null,
    fault: raw.notify_fault ?? null,
    stop: raw.notify_stop ?? null,
    event: raw.notify_event ?? null,
    fenceStarted: raw.notify_fence_started ?? null,
    fenceFailed: raw.notify_fence_failed ?? null,
    splitBrain: raw.notify_split_brain ?? null,
    masterRxLowerPri: raw.notify_master_rx_lower_pri ?? null,
  };
}

function checkNames(
  map: Record<string, unknown> | null | undefined,
  section: string,
  out: PathIssue[],
): void {
  for (const name of Object.keys(map ?? {})) {
    if (!NAME_RE.test(name)) {
      out.push(
        issueAt(
          [section, name],
          "key",
          'names must start with a letter, digit or "_" and use only letters, digits and _ . : - (at most 64)',
        ),
      );
    }
  }
}

/** Applies the cross-field rules; returns the issues, or the config when there are none. */
export function buildConfig(
  raw: RawConfig,
  file: string,
): { type: "ok"; config: VipdConfig } | { type: "error"; issues: PathIssue[] } {
  const issues: PathIssue[] = [];
  const g = raw.global ?? {};

  checkNames(raw.instances, "instances", issues);
  checkNames(raw.track_scripts, "track_scripts", issues);
  checkNames(raw.track_files, "track_files", issues);
  checkNames(raw.track_http, "track_http", issues);
  checkNames(raw.track_tcp, "track_tcp", issues);
  checkNames(raw.sync_groups, "sync_groups", issues);

  let metricsListen: GlobalConfig["metricsListen"] = null;
  if (g.metrics_listen !== false) {
    const text = g.metrics_listen ?? DEFAULT_METRICS;
    metricsListen = parseListen(text);
    if (!metricsListen) {
      issues.push(
        issueAt(
          ["global", "metrics_listen"],
          "value",
          `must be address:port like 127.0.0.1:9650 or [::1]:9650, or false`,
        ),
      );
    }
  }

  const globalAnnounce: AnnounceConfig = {
    garpMasterDelayMs: g.garp_master_delay ?? 5000,
    garpMasterRepeat: g.garp_master_repeat ?? 5,
    garpIntervalMs: g.garp_interval ?? 0,
    garpMasterRefreshMs: g.garp_master_refresh ?? 0,
  };
  const global: GlobalConfig = {
    routerId: g.router_id ?? hostname(),
    vrrpVersion: g.vrrp_version ?? 3,
    checksum: g.checksum ?? "pseudo-header",
    controlSocket: g.control_socket ?? DEFAULT_CONTROL_SOCKET,
    controlGroup: g.control_group === undefined || g.control_group === null ? null : String(g.control_group),
    metricsListen,
    scriptUser: g.script_user ?? "root",
    enableScriptSecurity: g.enable_script_security ?? true,
    ...globalAnnounce,
    fence: g.fence ? fenceOf(g.fence, ["global", "fence"], issues) : null,
    witness: g.witness ? witnessOf(g.witness, ["global", "witness"], issues) : null,
    notifyTimeoutMs: g.notify_timeout ?? 10_000,
    notifyRetries: g.notify_retries ?? 1,
    realtimePriority: g.realtime_priority ?? DEFAULT_REALTIME_PRIORITY,
    nice: g.nice === undefined ? DEFAULT_NICE : g.nice,
  };
  if (global.notifyTimeoutMs < 10) {
    issues.push(issueAt(["global", "notify_timeout"], "value", "must be at least 10ms"));
  }

  const trackScripts: Record<string, TrackScriptConfig> = {};
  for (const [name, s] of Object.entries(raw.track_scripts ?? {})) {
    const argv = typeof s.script === "string" ? s.script.trim().split(/\s+/) : s.script;
    const intervalMs = s.interval ?? 1000;
    if (intervalMs < 10) {
      issues.push(issueAt(["track_scripts", name, "interval"], "value", "must be at least 10ms"));
    }
    trackScripts[name] = {
      name,
      argv,
      intervalMs,
      timeoutMs: s.timeout ?? intervalMs,
      rise: s.rise ?? 1,
      fall: s.fall ?? 1,
      weight: s.weight ?? 0,
    };
  }
  const trackFiles: Record<string, TrackFileConfig> = {};
  for (const [name, f] of Object.entries(raw.track_files ?? {})) {
    trackFiles[name] = { name, file: f.file, weight: f.weight ?? 1 };
  }

  // Built-in checks (issue 4).
  const checkTimes = (
    section: string,
    name: string,
    c: { interval?: number | undefined; timeout?: number | undefined },
  ): { intervalMs: number; timeoutMs: number } => {
    const intervalMs = c.interval ?? 1000;
    const timeoutMs = c.timeout ?? intervalMs;
    if (intervalMs < 10) issues.push(issueAt([section, name, "interval"], "value", "must be at least 10ms"));
    if (timeoutMs < 1) issues.push(issueAt([section, name, "timeout"], "value", "must be at least 1ms"));
    return { intervalMs, timeoutMs };
  };
  const trackHttp: Record<string, TrackHttpConfig> = {};
  for (const [name, h] of Object.entries(raw.track_http ?? {})) {
    if (!validHttpUrl(h.url)) {
      issues.push(
        issueAt(["track_http", name, "url"], "value", "must be an http:// or https:// URL with a host"),
      );
    }
    trackHttp[name] = {
      name,
      url: h.url,
      statuses: h.status === undefined ? [200] : Array.isArray(h.status) ? h.status : [h.status],
      ...checkTimes("track_http", name, h),
      rise: h.rise ?? 1,
      fall: h.fall ?? 1,
      weight: h.weight ?? 0,
    };
  }
  const trackTcp: Record<string, TrackTcpConfig> = {};
  for (const [name, t] of Object.entries(raw.track_tcp ?? {})) {
    trackTcp[name] = {
      name,
      host: t.host.address,
      port: t.port,
      ...checkTimes("track_tcp", name, t),
      rise: t.rise ?? 1,
      fall: t.fall ?? 1,
      weight: t.weight ?? 0,
    };
  }

  const instances: Record<string, InstanceConfig> = {};
  const vridOwner = new Map<string, string>(); // "eth0/ipv4/51" -> instance
  const vipOwner = new Map<string, string>(); // address -> instance

  for (const [name, inst] of Object.entries(raw.instances)) {
    const at = (...rest: PathKey[]): PathKey[] => ["instances", name, ...rest];
    const version = inst.version ?? global.vrrpVersion;

    // Addresses and family.
    const vips: VirtualIpConfig[] = [];
    const excluded: VirtualIpConfig[] = [];
    if (inst.virtual_ips.length === 0) {
      issues.push(issueAt(at("virtual_ips"), "value", "must list at least one address"));
    }
    const first = inst.virtual_ips[0];
    const family: Family = first ? vipParts(first).cidr.family : "ipv4";
    const seen = new Set<string>();
    const collect = (list: readonly RawVip[], key: string, into: VirtualIpConfig[]) => {
      list.forEach((raw, i) => {
        const v = vipParts(raw);
        const path = at(key, i);
        if (v.cidr.family !== family) {
          issues.push(
            issueAt(
              path,
              "value",
              `${formatCidr(v.cidr)} is ${familyName(v.cidr.family)} but this instance is ${familyName(family)} ` +
                "(from virtual_ips[0]); use one instance per address family",
            ),
          );
          return;
        }
        if (seen.has(v.cidr.address)) {
          issues.push(issueAt(path, "value", `${v.cidr.address} is listed twice`));
          return;
        }
        seen.add(v.cidr.address);
        const other = vipOwner.get(v.cidr.address);
        if (other !== undefined) {
          issues.push(
            issueAt(path, "value", `${v.cidr.address} is also a virtual IP of instance "${other}"`),
          );
        } else {
          vipOwner.set(v.cidr.address, name);
        }
        into.push({
          cidr: formatCidr(v.cidr),
          address: v.cidr.address,
          prefixLength: v.cidr.prefixLength,
          dev: v.dev ?? inst.interface,
          label: v.label,
        });
      });
    };
    collect(inst.virtual_ips, "virtual_ips", vips);
    collect(inst.virtual_ips_excluded ?? [], "virtual_ips_excluded", excluded);

    if (version === 2 && family === "ipv6" && first) {
      issues.push(
        issueAt(
          inst.version === undefined ? at("virtual_ips", 0) : at("version"),
          "value",
          "VRRPv2 is IPv4 only (RFC 3768); use version 3 for IPv6",
        ),
      );
    }

    // Advertisement interval.
    const adverIntervalMs = inst.advert_interval ?? 1000;
    if (inst.advert_interval !== undefined) {
      if (version === 3 && (adverIntervalMs < 10 || adverIntervalMs > 40950 || adverIntervalMs % 10 !== 0)) {
        issues.push(
          issueAt(
            at("advert_interval"),
            "value",
            `VRRPv3 needs 10ms..40.95s in steps of 10ms (got ${formatDurationMs(adverIntervalMs)})`,
          ),
        );
      } else if (
        version === 2 &&
        (adverIntervalMs < 1000 || adverIntervalMs > 255_000 || adverIntervalMs % 1000)
      ) {
        issues.push(
          issueAt(
            at("advert_interval"),
            "value",
            `VRRPv2 needs whole seconds from 1s to 255s (got ${formatDurationMs(adverIntervalMs)})`,
          ),
        );
      }
    }

    const preemptDelayMs = inst.preempt_delay ?? 0;
    if (preemptDelayMs > MAX_PREEMPT_DELAY_MS) {
      issues.push(issueAt(at("preempt_delay"), "value", "must be at most 1000s"));
    }

    // Checksum form only exists for VRRPv3 over IPv4.
    if (inst.checksum !== undefined) {
      if (version === 2) {
        issues.push(
          issueAt(at("checksum"), "value", "applies to VRRPv3 only (VRRPv2 has one checksum form)"),
        );
      } else if (family === "ipv6" && inst.checksum !== "pseudo-header") {
        issues.push(issueAt(at("checksum"), "value", "IPv6 adverts always use the pseudo-header checksum"));
      }
    }

    // Unicast.
    const src = inst.unicast_src_ip ?? null;
    if (src && src.family !== family) {
      issues.push(
        issueAt(
          at("unicast_src_ip"),
          "value",
          `${src.address} is ${familyName(src.family)} but this instance is ${familyName(family)}`,
        ),
      );
    }
    let unicastPeers: string[] | null = null;
    if (inst.unicast_peers !== undefined) {
      const peers = inst.unicast_peers ?? [];
      if (peers.length === 0) {
        issues.push(
          issueAt(
            at("unicast_peers"),
            "value",
            "is empty: list at least one peer address, or remove the key to use multicast",
          ),
        );
      }
      const seenPeers = new Set<string>();
      peers.forEach((p, i) => {
        if (p.family !== family) {
          issues.push(
            issueAt(
              at("unicast_peers", i),
              "value",
              `${p.address} is ${familyName(p.family)} but this instance is ${familyName(family)}`,
            ),
          );
        } else if (seenPeers.has(p.address)) {
          issues.push(issueAt(at("unicast_peers", i), "value", `${p.address} is listed twice`));
        } else if (src && p.address === src.address) {
          issues.push(issueAt(at("unicast_peers", i), "value", `${p.address} is this node's unicast_src_ip`));
        }
        seenPeers.add(p.address);
      });
      unicastPeers = peers.map((p) => p.address);
    }

    // vrid unique per (interface, family).
    const vridKey = `${inst.interface}/${family}/${inst.vrid}`;
    const vridOther = vridOwner.get(vridKey);
    if (vridOther !== undefined) {
      issues.push(
        issueAt(
          at("vrid"),
          "value",
          `vrid ${inst.vrid} on ${inst.interface} (${familyName(family)}) is already used by instance "${vridOther}"`,
        ),
      );
    } else {
      vridOwner.set(vridKey, name);
    }

    // Tracker references.
    const refs = (
      key: "track_scripts" | "track_files" | "track_http" | "track_tcp",
      list: readonly (string | { name: string; weight?: number | undefined })[] | undefined,
      defined: Record<string, unknown>,
    ): TrackRef[] =>
      (list ?? []).map((r, i) => {
        const ref: TrackRef =
          typeof r === "string" ? { name: r, weight: null } : { name: r.name, weight: r.weight ?? null };
        if (!(ref.name in defined)) {
          const where = Object.keys(defined).length === 0 ? ` (no top-level ${key} are defined)` : "";
          issues.push(
            issueAt(
              typeof r === "string" ? at(key, i) : at(key, i, "name"),
              "value",
              `unknown ${TRACK_WHAT[key]} "${ref.name}"${didYouMean(ref.name, Object.keys(defined))}${where}`,
            ),
          );
        }
        return ref;
      });
    const trackInterfaces: InterfaceTrackRef[] = (inst.track_interfaces ?? []).map((t) =>
      typeof t === "string"
        ? { name: t, weight: null, upDelayMs: 0, downDelayMs: 0 }
        : {
            name: t.name,
            weight: t.weight ?? null,
            upDelayMs: t.up_delay ?? 0,
            downDelayMs: t.down_delay ?? 0,
          },
    );

    instances[name] = {
      name,
      interface: inst.interface,
      vrid: inst.vrid,
      family,
      version,
      priority: inst.priority ?? 100,
      adverIntervalMs,
      initialState: inst.state ?? null,
      preempt: !(inst.nopreempt ?? false),
      preemptDelayMs,
      accept: inst.accept ?? false,
      checksum: inst.checksum ?? global.checksum,
      unicastSrcIp: src?.address ?? null,
      unicastPeers,
      virtualIps: vips,
      virtualIpsExcluded: excluded,
      trackInterfaces,
      trackScripts: refs("track_scripts", inst.track_scripts, trackScripts),
      trackFiles: refs("track_files", inst.track_files, trackFiles),
      trackHttp: refs("track_http", inst.track_http, trackHttp),
      trackTcp: refs("track_tcp", inst.track_tcp, trackTcp),
      fence:
        inst.fence === undefined
          ? global.fence
          : inst.fence === null
            ? null
            : fenceOf(inst.fence, at("fence"), issues),
      witness:
        inst.witness === undefined
          ? global.witness
          : inst.witness === null
            ? null
            : witnessOf(inst.witness, at("witness"), issues),
      notify: notifyOf(inst),
      syncGroup: null,
      garpMasterDelayMs: inst.garp_master_delay ?? globalAnnounce.garpMasterDelayMs,
      garpMasterRepeat: inst.garp_master_repeat ?? globalAnnounce.garpMasterRepeat,
      garpIntervalMs: inst.garp_interval ?? globalAnnounce.garpIntervalMs,
      garpMasterRefreshMs: inst.garp_master_refresh ?? globalAnnounce.garpMasterRefreshMs,
    };
  }

  // Sync groups.
  const syncGroups: Record<string, SyncGroupConfig> = {};
  for (const [name, group] of Object.entries(raw.sync_groups ?? {})) {
    if (group.instances.length === 0) {
      issues.push(issueAt(["sync_groups", name, "instances"], "value", "must list at least one instance"));
    }
    const members: string[] = [];
    group.instances.forEach((member, i) => {
      const path: PathKey[] = ["sync_groups", name, "instances", i];
      const inst = instances[member];
      if (!inst) {
        issues.push(
          issueAt(path, "value", `unknown instance "${member}"${didYouMean(member, Object.keys(instances))}`),
        );
      } else if (members.includes(member)) {
        issues.push(issueAt(path, "value", `"${member}" is listed twice`));
      } else if (inst.syncGroup !== null) {
        issues.push(
          issueAt(path, "value", `instance "${member}" is already in sync group "${inst.syncGroup}"`),
        );
      } else {
        inst.syncGroup = name;
        members.push(member);
      }
    });
    syncGroups[name] = { name, instances: members, notify: notifyOf(group) };
  }

  if (issues.length > 0) return { type: "error", issues };
  return {
    type: "ok",
    config: { file, global, trackScripts, trackFiles, trackHttp, trackTcp, instances, syncGroups },
  };
}
