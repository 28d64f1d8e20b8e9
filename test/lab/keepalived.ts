// Debian's keepalived as a lab peer, inside one host namespace.
//
// keepalived runs in the foreground (-n) with only its VRRP child (-P), logging to stderr (-l -D)
// and not to syslog (-G). Its config and pid files live in a fresh temp dir that is removed when it
// exits. Checked with keepalived 2.2.7: started like this it creates nothing under /run (no
// /run/keepalived needed) and writes nothing outside that dir; it changes addresses and sysctls only
// inside its own network namespace.
//
// State is learned from its log lines "(<instance>) Entering <STATE> STATE". keepalived stamps its
// lines with whole seconds only, so each line is stamped on arrival with Date.now() (CLOCK_REALTIME,
// milliseconds): the same clock as client-watch.ts.
//
// VRRPv3 IPv4 checksum: keepalived's default includes the IPv4 pseudo-header (RFC 5798 as most
// read it). keepalived >= 2.2.8 has the vrrp_instance keyword `v3_checksum_as_v2`, which leaves the
// pseudo-header out: the RFC 9568 "message-only" form. keepalived 2.2.7 (Debian 12) does not know
// the keyword; keepalivedKnowsKeyword() tells, and startKeepalived refuses checksumForm
// 'message-only' when it is missing rather than silently sending the other form.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { stopGroup, Waiters } from "./child-wait.js";
import type { LabHost } from "./netns.js";

export type KeepalivedState = "INIT" | "BACKUP" | "MASTER" | "FAULT" | "STOP";

export interface KeepalivedInstance {
  /** vrrp_instance name, e.g. VI_1 (letters, digits, _ and -). */
  name: string;
  vrid: number;
  priority: number;
  /** v3: a multiple of 10 ms (10..40950); v2: whole seconds (1000..255000). */
  advertIntMs: number;
  version: 2 | 3;
  /** Addresses with or without a prefix length (keepalived defaults to /32 or /128); one family only. */
  virtualIps: string[];
  /** Initial state keyword; keepalived's default is BACKUP. */
  state?: "MASTER" | "BACKUP";
  nopreempt?: boolean;
  preemptDelayMs?: number;
  /** Unicast mode: adverts go to these addresses instead of the multicast group. */
  unicastPeers?: string[];
  unicastSrcIp?: string;
  /** v3 IPv4 only. 'message-only' needs keepalived >= 2.2.8 (v3_checksum_as_v2). Default pseudo-header. */
  checksumForm?: "pseudo-header" | "message-only";
  accept?: boolean;
  /** Extra lines copied into the vrrp_instance block (e.g. 'garp_master_repeat 1'). */
  extraLines?: string[];
}

export interface KeepalivedOptions {
  instances: KeepalivedInstance[];
  /** Extra lines for global_defs (e.g. 'vrrp_garp_master_delay 5'). */
  globalDefs?: string[];
}

export interface KeepalivedTransition {
  instance: string;
  state: KeepalivedState;
  /** Date.now() when the log line arrived. */
  atMs: number;
  line: string;
}

export interface Keepalived {
  host: LabHost;
  dir: string;
  configText: string;
  child: ChildProcess;
  /** Last state seen in the log for this instance (undefined before the first transition). */
  state(instance: string): KeepalivedState | undefined;
  transitions(): readonly KeepalivedTransition[];
  /** Resolves at the first transition of instance to state at or after sinceMs (default: any time). */
  waitForState(
    instance: string,
    state: KeepalivedState,
    o?: { timeoutMs?: number; sinceMs?: number },
  ): Promise<KeepalivedTransition>;
  log(): readonly string[];
  /** Graceful stop (SIGTERM: keepalived sends priority 0 and removes its VIPs); SIGKILL after graceMs. */
  stop(o?: { graceMs?: number }): Promise<void>;
  /** Hard failure: SIGKILL to keepalived's whole process group (its VIPs stay on the interface). */
  kill(): Promise<void>;
  exited(): boolean;
}

const INSTANCE_NAME = /^[A-Za-z0-9_-]{1,32}$/;

function family(address: string): "ipv4" | "ipv6" {
  return address.includes(":") ? "ipv6" : "ipv4";
}

function formatSeconds(ms: number): string {
  // advert_int takes fractional seconds for v3 (keepalived rounds to centiseconds).
  return (ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2).replace(/(\.\d*?)0+$/, "$1");
}

export function validateInstance(i: KeepalivedInstance): void {
  const fail = (m: string) => {
    throw new Error(`keepalived instance ${i.name}: ${m}`);
  };
  if (!INSTANCE_NAME.test(i.name)) fail(`name must match ${INSTANCE_NAME}`);
  if (!Number.isInteger(i.vrid) || i.vrid < 1 || i.vrid > 255) fail(`vrid ${i.vrid} is not in 1..255`);
  if (!Number.isInteger(i.priority) || i.priority < 1 || i.priority > 255)
    fail(`priority ${i.priority} is not in 1..255`);
  if (i.version === 3) {
    if (!Number.isInteger(i.advertIntMs / 10) || i.advertIntMs < 10 || i.advertIntMs > 40950)
      fail(`v3 advertIntMs ${i.advertIntMs} is not a multiple of 10 in 10..40950`);
  } else if (!Number.isInteger(i.advertIntMs / 1000) || i.advertIntMs < 1000 || i.advertIntMs > 255000) {
    fail(`v2 advertIntMs ${i.advertIntMs} is not whole seconds in 1..255 s`);
  }
  if (i.virtualIps.length === 0) fail("needs at least one virtual IP");
  const fam = family(i.virtualIps[0]!);
  if (i.virtualIps.some((v) => family(v) !== fam)) fail("mixes IPv4 and IPv6 virtual IPs");
  if (fam === "ipv6" && i.version !== 3) fail("IPv6 needs VRRP version 3");
  if (i.unicastPeers !== undefined) {
    if (i.unicastPeers.length === 0) fail("unicastPeers is empty (keepalived would fall back to multicast)");
    if (i.unicastPeers.some((p) => family(p) !== fam)) fail("unicast peer of the wrong family");
  }
  if (i.checksumForm === "message-only" && (i.version !== 3 || fam !== "ipv4"))
    fail("checksumForm applies to VRRPv3 IPv4 only");
  if (i.preemptDelayMs !== undefined && (i.preemptDelayMs < 0 || i.preemptDelayMs > 1_000_000))
    fail("preemptDelayMs out of range");
  for (const line of i.extraLines ?? [])
    if (/[{}\n]/.test(line)) fail(`extra line '${line}' has braces or newlines`);
}

/** The keepalived.conf text for these options (exported for tests and for import-keepalived comparisons). */
export function renderKeepalivedConfig(host: LabHost, o: KeepalivedOptions): string {
  const out: string[] = ["global_defs {", `  router_id ${host.name}`];
  for (const g of o.globalDefs ?? []) {
    if (/[{}\n]/.test(g)) throw new Error(`global_defs line '${g}' has braces or newlines`);
    out.push(`  ${g}`);
  }
  out.push("}", "");
  const names = new Set<string>();
  for (const i of o.instances) {
    validateInstance(i);
    if (names.has(i.name)) throw new Error(`keepalived instance name ${i.name} is used twice`);
    names.add(i.name);
    out.push(`vrrp_instance ${i.name} {`);
    out.push(`  state ${i.state ?? "BACKUP"}`, `  interface ${host.ifname}`);
    out.push(`  virtual_router_id ${i.vrid}`, `  priority ${i.priority}`);
    out.push(`  advert_int ${formatSeconds(i.advertIntMs)}`, `  version ${i.version}`);
    if (i.nopreempt) out.push("  nopreempt");
    if (i.preemptDelayMs !== undefined) out.push(`  preempt_delay ${formatSeconds(i.preemptDelayMs)}`);
    if (i.accept !== undefined) out.push(i.accept ? "  accept" : "  no_accept");
    if (i.checksumForm === "message-only") out.push("  v3_checksum_as_v2");
    if (i.unicastPeers) {
      if (i.unicastSrcIp) out.push(`  unicast_src_ip ${i.unicastSrcIp}`);
      out.push("  unicast_peer {", ...i.unicastPeers.map((p) => `    ${p}`), "  }");
    }
    for (const line of i.extraLines ?? []) out.push(`  ${line}`);
    out.push("  virtual_ipaddress {", ...i.virtualIps.map((v) => `    ${v} dev ${host.ifname}`), "  }");
    out.push("}", "");
  }
  return out.join("\n");
}

const ENTERING = /\(([^)]+)\) Entering (INIT|BACKUP|MASTER|FAULT|STOP) STATE/;
const UNKNOWN_KEYWORD = /Unknown keyword '([^']+)'/;

/**
 * Whether this keepalived accepts a vrrp_instance keyword (e.g. 'v3_checksum_as_v2'), by a
 * config test (-t) run inside the host's namespace.
 */
export async function keepalivedKnowsKeyword(host: LabHost, keyword: string): Promise<boolean> {
  const dir = mkdtempSync(join(tmpdir(), "vipd-keepalived-"));
  try {
    const conf = join(dir, "keepalived.conf");
    writeFileSync(
      conf,
      `vrrp_instance T {\n  interface ${host.ifname}\n  virtual_router_id 1\n  version 3\n  ${keyword}\n  virtual_ipaddress {\n    192.0.2.254\n  }\n}\n`,
    );
    const r = await host.exec(["keepalived", "-t", "-f", conf], { timeoutMs: 10_000 });
    const text = `${r.stdout}\n${r.stderr}`;
    return !text.split("\n").some((l) => UNKNOWN_KEYWORD.exec(l)?.[1] === keyword);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts keepalived in host's namespace; resolves once it logged "Startup complete" (within 10 s). */
export async function startKeepalived(host: LabHost, o: KeepalivedOptions): Promise<Keepalived> {
  if (o.instances.length === 0) throw new Error("startKeepalived needs at least one instance");
  const configText = renderKeepalivedConfig(host, o);
  if (o.instances.some((i) => i.checksumForm === "message-only")) {
    if (!(await keepalivedKnowsKeyword(host, "v3_checksum_as_v2")))
      throw new Error(
        "this keepalived has no v3_checksum_as_v2 (needs >= 2.2.8): no message-only checksum form",
      );
  }
  const dir = mkdtempSync(join(tmpdir(), "vipd-keepalived-"));
  const conf = join(dir, "keepalived.conf");
  writeFileSync(conf, configText);
  const child = host.spawn([
    "keepalived",
    "--dont-fork",
    "--log-console",
    "--log-detail",
    "--no-syslog",
    "--vrrp",
    "--dont-respawn",
    "--use-file",
    conf,
    "--pid",
    join(dir, "keepalived.pid"),
    "--vrrp_pid",
    join(dir, "vrrp.pid"),
  ]);
  const lines: string[] = [];
  const transitions: KeepalivedTransition[] = [];
  const states = new Map<string, KeepalivedState>();
  const waiters = new Waiters();
  let exitInfo: string | undefined;
  const onLine = (line: string) => {
    lines.push(line);
    const m = ENTERING.exec(line);
    if (m) {
      const t: KeepalivedTransition = {
        instance: m[1]!,
        state: m[2] as KeepalivedState,
        atMs: Date.now(),
        line,
      };
      transitions.push(t);
      states.set(t.instance, t.state);
    }
    waiters.notify();
  };
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", onLine);
  }
  const exitedPromise = new Promise<void>((resolve) => {
    child.once("close", (code, signal) => {
      exitInfo = `keepalived exited (code ${code}, signal ${signal})`;
      rmSync(dir, { recursive: true, force: true });
      waiters.notify();
      resolve();
    });
  });

  const tail = () => lines.slice(-15).join("\n");
  const waitFor = <T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> =>
    waiters.until(timeoutMs, check, {
      ended: () =>
        exitInfo === undefined
          ? undefined
          : `${exitInfo} before ${what} on ${host.name}; log tail:\n${tail()}`,
      timedOut: () =>
        `no ${what} from keepalived on ${host.name} within ${timeoutMs} ms; log tail:\n${tail()}`,
    });

  const stopWith = (graceMs: number, first: NodeJS.Signals) =>
    stopGroup(child, {
      closed: exitedPromise,
      isClosed: exitInfo !== undefined,
      first,
      killAfterMs: graceMs,
    });

  const ka: Keepalived = {
    host,
    dir,
    configText,
    child,
    state: (instance) => states.get(instance),
    transitions: () => transitions,
    log: () => lines,
    waitForState: (instance, state, w) =>
      waitFor(`${instance} ${state}`, w?.timeoutMs ?? 10_000, () =>
        transitions.find((t) => t.instance === instance && t.state === state && t.atMs >= (w?.sinceMs ?? 0)),
      ),
    stop: (s) => stopWith(s?.graceMs ?? 5000, "SIGTERM"),
    kill: () => stopWith(0, "SIGKILL"),
    exited: () => exitInfo !== undefined,
  };
  try {
    await waitFor("'Startup complete'", 10_000, () =>
      lines.some((l) => l.includes("Startup complete")) ? true : undefined,
    );
  } catch (e) {
    await ka.kill();
    throw e;
  }
  return ka;
}
