// A LAN made of Linux network namespaces, for lab tests (needs root).
//
// Layout of one lab (id = `vipd-<pid>-<6 hex>`):
//   <id>-switch   holds bridge `br0` (STP off, multicast snooping off, IPv6 off) and one veth port
//                 `p<n>` per node. Nothing but the namespaces themselves is created in the root
//                 namespace (veth pairs are created directly inside the switch and node namespaces).
//   <id>-<host>   one per host, veth `eth0` plugged into the bridge.
//   <id>-client   optional, same as a host.
//
// Addressing (n = 11 for the first host, 12 for the second, ...; the client is n = 100):
//   IPv4 192.0.2.n/24, IPv6 2001:db8::n/64 (the decimal digits of n written as the last group, so
//   host .11 is 2001:db8::11), MAC 02:00:00:00:00:<n in hex>, IPv6 link-local from the MAC (EUI-64).
//   192.0.2.200-254 and 2001:db8::200-254 are never given to a node: use them for VIPs (labVip()).
// IPv6 DAD is off in every node namespace, so addresses are usable as soon as they are added.
//
// The client namespace accepts gratuitous ARP and unsolicited NA for entries it already has
// (drop_gratuitous_arp=0, drop_unsolicited_na=0) but never creates entries from them
// (arp_accept=0, accept_untracked_na=0): a test seeds the entry first (ping), then sees it change.
// See client-watch.ts for the details.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface LabHost {
  name: string;
  /** Network namespace name (for `ip netns exec` / `ip -n`). */
  ns: string;
  ifname: "eth0";
  mac: string;
  /** Plain addresses (no prefix length); the prefixes are in ipv4Cidr / ipv6Cidr. */
  ipv4: string;
  ipv6: string;
  ipv6LinkLocal: string;
  ipv4Cidr: string;
  ipv6Cidr: string;
  /** The bridge port of this node inside the switch namespace. */
  switchPort: string;
  /** Runs argv inside the namespace; resolves with the exit code (128+signal when killed). Rejects on timeout. */
  exec(argv: string[], o?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Starts argv inside the namespace in its own process group; destroy() kills the group. */
  spawn(
    argv: string[],
    o?: { env?: Record<string, string>; stdio?: "pipe" | "ignore" | "inherit" },
  ): ChildProcess;
  /**
   * eth0 administratively down/up inside the node: the node itself sees its link go down. The kernel
   * flushes IPv6 addresses (VIPs too) on link down; linkUp() restores the node's own addresses only.
   */
  linkDown(): Promise<void>;
  linkUp(): Promise<void>;
  /**
   * Silent partition: the node's switch port leaves the bridge (on) or rejoins it (off). The node's
   * eth0 keeps carrier and stays up, so the node does not notice; frames to and from it are lost.
   */
  cableCut(on: boolean): Promise<void>;
  /**
   * Switch-side veth administratively down (on) / up (off). A veth propagates this as carrier
   * loss: the node sees NO-CARRIER (like a pulled cable to a switch that is directly attached).
   */
  carrierDown(on: boolean): Promise<void>;
}

export interface Lab {
  id: string;
  host(name: string): LabHost;
  hosts(): LabHost[];
  switchNs: string;
  /** Idempotent; kills every process spawned in the lab (and any left in its namespaces), deletes the namespaces. */
  destroy(): Promise<void>;
}

export interface CreateLabOptions {
  hosts: string[];
  client?: boolean;
}

const FIRST_HOST_OCTET = 11;
const MAX_HOSTS = 89; // .11 .. .99
const CLIENT_OCTET = 100;
const GRACE_MS = 1500;
const KILL_WAIT_MS = 5000;
const DEFAULT_EXEC_TIMEOUT_MS = 15_000;
const HOST_NAME = /^[a-z][a-z0-9]{0,19}$/;

/** A VIP that no lab node uses: 192.0.2.(200+i) or 2001:db8::(200+i), i in 0..54. */
export function labVip(family: "ipv4" | "ipv6", i = 0): string {
  if (!Number.isInteger(i) || i < 0 || i > 54) throw new RangeError(`labVip index ${i} is not in 0..54`);
  return family === "ipv4" ? `192.0.2.${200 + i}` : `2001:db8::${200 + i}`;
}

function runIp(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`ip ${args.join(" ")} failed (exit ${code}): ${err.trim()}`));
    });
    if (input !== undefined && child.stdin) {
      // An early exit of `ip` shows up as its exit code; the broken pipe itself says nothing more.
      child.stdin.on("error", () => undefined);
      child.stdin.end(input);
    }
  });
}

/** Runs several `ip` commands (one per line) inside a namespace in one process. */
function ipBatch(ns: string, lines: string[]): Promise<string> {
  return runIp(["-n", ns, "-batch", "-"], `${lines.join("\n")}\n`);
}

function listNamespaces(): string[] {
  const out = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  return out
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n !== "");
}

/** Names of the network namespaces that start with prefix (to prove a lab was cleaned up). */
export function labNamespacesLeft(prefix: string): string[] {
  return listNamespaces().filter((n) => n.startsWith(prefix));
}

function nsPids(ns: string): number[] {
  let out: string;
  try {
    out = execFileSync("ip", ["netns", "pids", ns], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
  } catch {
    return []; // namespace already gone
  }
  return out
    .split("\n")
    .map((l) => Number.parseInt(l, 10))
    .filter((p) => Number.isInteger(p) && p > 0);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child) || child.pid === undefined) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return table[sig] ?? 0;
}

class LabImpl implements Lab {
  readonly id: string;
  readonly switchNs: string;
  private readonly nodes = new Map<string, LabHost>();
  private readonly children = new Set<ChildProcess>();
  private readonly namespaces: string[] = [];
  private destroying: Promise<void> | undefined;

  constructor(id: string) {
    this.id = id;
    this.switchNs = `${id}-switch`;
  }

  host(name: string): LabHost {
    const h = this.nodes.get(name);
    if (!h)
      throw new Error(`lab ${this.id} has no host '${name}' (hosts: ${[...this.nodes.keys()].join(", ")})`);
    return h;
  }

  hosts(): LabHost[] {
    return [...this.nodes.values()];
  }

  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  // --- building ---------------------------------------------------------------------------------

  async addNamespace(ns: string): Promise<void> {
    // Recorded first: if we die while `ip` runs, the exit hook still deletes it.
    this.namespaces.push(ns);
    await runIp(["netns", "add", ns]);
  }

  async build(names: string[], client: boolean): Promise<void> {
    await this.addNamespace(this.switchNs);
    await this.sysctl(this.switchNs, [
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
      // Only present when br_netfilter is loaded (per namespace since Linux 5.3): keep the
      // bridge out of the root namespace's firewall.
      "net.bridge.bridge-nf-call-iptables=0",
      "net.bridge.bridge-nf-call-ip6tables=0",
      "net.bridge.bridge-nf-call-arptables=0",
    ]);
    await ipBatch(this.switchNs, [
      "link add br0 type bridge stp_state 0 mcast_snooping 0",
      "link set lo up",
      "link set br0 up",
    ]);
    const all: { name: string; octet: number; isClient: boolean }[] = names.map((name, i) => ({
      name,
      octet: FIRST_HOST_OCTET + i,
      isClient: false,
    }));
    if (client) all.push({ name: "client", octet: CLIENT_OCTET, isClient: true });
    for (const [i, node] of all.entries()) {
      this.nodes.set(node.name, await this.addNode(node.name, node.octet, i, node.isClient));
    }
  }

  private async sysctl(ns: string, settings: string[]): Promise<void> {
    // -e: ignore keys this kernel does not have (e.g. bridge-nf without br_netfilter).
    const r = await this.execIn(ns, ["sysctl", "-q", "-e", "-w", ...settings], DEFAULT_EXEC_TIMEOUT_MS);
    if (r.code !== 0) throw new Error(`sysctl in ${ns} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }

  private async addNode(name: string, octet: number, index: number, isClient: boolean): Promise<LabHost> {
    const ns = `${this.id}-${name}`;
    const hex = octet.toString(16).padStart(2, "0");
    const mac = `02:00:00:00:00:${hex}`;
    const port = `p${index}`;
    const ipv4 = `192.0.2.${octet}`;
    const ipv6 = `2001:db8::${octet}`;
    await this.addNamespace(ns);
    const settings = [
      // Set before eth0 arrives: a device moved into a namespace takes the "default" values.
      "net.ipv6.conf.all.accept_dad=0",
      "net.ipv6.conf.default.accept_dad=0",
      "net.ipv6.conf.default.dad_transmits=0",
      "net.ipv6.conf.all.accept_ra=0",
      "net.ipv6.conf.default.accept_ra=0",
      "net.ipv6.conf.default.router_solicitations=0",
      "net.ipv6.conf.all.forwarding=0",
    ];
    if (isClient) {
      settings.push(
        "net.ipv4.conf.all.drop_gratuitous_arp=0",
        "net.ipv4.conf.default.drop_gratuitous_arp=0",
        "net.ipv4.conf.all.arp_accept=0",
        "net.ipv4.conf.default.arp_accept=0",
        "net.ipv6.conf.all.drop_unsolicited_na=0",
        "net.ipv6.conf.default.drop_unsolicited_na=0",
        "net.ipv6.conf.all.accept_untracked_na=0",
        "net.ipv6.conf.default.accept_untracked_na=0",
      );
    }
    await this.sysctl(ns, settings);
    await ipBatch(this.switchNs, [
      `link add ${port} address 02:00:00:00:01:${hex} type veth peer name eth0 address ${mac} netns ${ns}`,
      `link set ${port} master br0`,
      `link set ${port} up`,
    ]);
    await ipBatch(ns, [
      "link set lo up",
      `addr add ${ipv4}/24 dev eth0`,
      `addr add ${ipv6}/64 dev eth0 nodad`,
      "link set eth0 up",
    ]);
    const ipv6LinkLocal = await this.waitLinkLocal(ns);
    const host: LabHost = {
      name,
      ns,
      ifname: "eth0",
      mac,
      ipv4,
      ipv6,
      ipv6LinkLocal,
      ipv4Cidr: `${ipv4}/24`,
      ipv6Cidr: `${ipv6}/64`,
      switchPort: port,
      exec: (argv, o) => this.execIn(ns, argv, o?.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS),
      spawn: (argv, o) => this.spawnIn(ns, argv, o?.env, o?.stdio ?? "pipe"),
      linkDown: async () => {
        await runIp(["-n", ns, "link", "set", "eth0", "down"]);
      },
      linkUp: async () => {
        await runIp(["-n", ns, "link", "set", "eth0", "up"]);
        // Linux drops IPv6 addresses on link down (keep_addr_on_down=0, left at its default so that
        // VIPs behave as on a real host); put the node's own address back as a network manager would.
        const out = await runIp(["-n", ns, "-j", "addr", "show", "dev", "eth0"]);
        const parsed = JSON.parse(out) as { addr_info?: { local?: string }[] }[];
        const have = new Set((parsed[0]?.addr_info ?? []).map((a) => a.local));
        if (!have.has(ipv6)) await runIp(["-n", ns, "addr", "add", `${ipv6}/64`, "dev", "eth0", "nodad"]);
        if (!have.has(ipv4)) await runIp(["-n", ns, "addr", "add", `${ipv4}/24`, "dev", "eth0"]);
        await this.waitLinkLocal(ns);
      },
      cableCut: async (on) => {
        await runIp(["-n", this.switchNs, "link", "set", port, ...(on ? ["nomaster"] : ["master", "br0"])]);
      },
      carrierDown: async (on) => {
        await runIp(["-n", this.switchNs, "link", "set", port, on ? "down" : "up"]);
      },
    };
    return host;
  }

  private async waitLinkLocal(ns: string): Promise<string> {
    // With DAD off the link-local address appears as soon as eth0 has carrier; bounded wait.
    for (let i = 0; i < 100; i++) {
      const out = await runIp(["-n", ns, "-j", "-6", "addr", "show", "dev", "eth0", "scope", "link"]);
      const parsed = JSON.parse(out) as { addr_info?: { local?: string; tentative?: boolean }[] }[];
      const info = parsed[0]?.addr_info?.find((a) => a.local?.startsWith("fe80:") && !a.tentative);
      if (info?.local) return info.local;
      await sleep(20);
    }
    throw new Error(`no IPv6 link-local address on eth0 in ${ns} after 2 s`);
  }

  // --- processes --------------------------------------------------------------------------------

  spawnIn(
    ns: string,
    argv: string[],
    env: Record<string, string> | undefined,
    stdio: "pipe" | "ignore" | "inherit",
  ): ChildProcess {
    if (this.destroying) throw new Error(`lab ${this.id} is being destroyed: cannot spawn ${argv.join(" ")}`);
    if (argv.length === 0) throw new Error("spawn needs a command");
    // detached: the child leads its own process group, so destroy() can signal the whole group.
    const child = spawn("ip", ["netns", "exec", ns, ...argv], {
      detached: true,
      stdio,
      env: env ? { ...process.env, ...env } : process.env,
    });
    this.children.add(child);
    // Once the leader is gone its group id may be reused, so stop signalling it; anything the child
    // left behind in the namespace is found by destroy() through `ip netns pids`.
    const forget = () => this.children.delete(child);
    child.once("exit", forget);
    child.once("error", forget);
    return child;
  }

  execIn(ns: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
    const child = this.spawnIn(ns, argv, undefined, "pipe");
    return new Promise((resolve, reject) => {
      let stdout = "";
      let stderr = "";
      child.stdout?.setEncoding("utf8").on("data", (d: string) => {
        stdout += d;
      });
      child.stderr?.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
      });
      const timer = setTimeout(() => {
        if (child.pid !== undefined) killQuietly(-child.pid, "SIGKILL");
        reject(new Error(`'${argv.join(" ")}' in ${ns} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code: code ?? 128 + (signal ? signalNumber(signal) : 0), stdout, stderr });
      });
    });
  }

  // --- teardown ---------------------------------------------------------------------------------

  private async doDestroy(): Promise<void> {
    const children = [...this.children].filter((c) => c.pid !== undefined);
    for (const c of children) killQuietly(-c.pid!, "SIGTERM");
    const clean = await Promise.all(children.map((c) => waitExit(c, GRACE_MS)));
    for (const c of children) killQuietly(-c.pid!, "SIGKILL"); // also any grandchild left in the group
    const stuck = children.filter((_, i) => !clean[i]);
    const reaped = await Promise.all(stuck.map((c) => waitExit(c, KILL_WAIT_MS)));
    const errors: string[] = [];
    stuck.forEach((c, i) => {
      if (!reaped[i]) errors.push(`process ${c.pid} (${c.spawnargs.join(" ")}) did not exit after SIGKILL`);
    });
    this.children.clear();
    // Anything else still inside our namespaces (a daemon that left its process group).
    for (const ns of this.namespaces) {
      const pids = nsPids(ns);
      for (const pid of pids) killQuietly(pid, "SIGKILL");
      for (const pid of pids) {
        for (let i = 0; i < 250 && alive(pid); i++) await sleep(20);
        if (alive(pid)) errors.push(`process ${pid} in ${ns} did not exit after SIGKILL`);
      }
    }
    // Node namespaces first, the switch last.
    for (const ns of [...this.namespaces].reverse()) {
      try {
        await runIp(["netns", "del", ns]);
      } catch (e) {
        if (labNamespacesLeft(ns).includes(ns)) errors.push((e as Error).message);
      }
    }
    this.namespaces.length = 0;
    liveLabs.delete(this);
    if (liveLabs.size === 0) uninstallExitHooks();
    if (errors.length > 0) throw new Error(`lab ${this.id} teardown: ${errors.join("; ")}`);
  }

  /** Last-resort synchronous cleanup for process exit and fatal signals. */
  destroySync(): void {
    for (const c of this.children) if (c.pid !== undefined) killQuietly(-c.pid, "SIGKILL");
    this.children.clear();
    for (const ns of [...this.namespaces].reverse()) {
      for (const pid of nsPids(ns)) killQuietly(pid, "SIGKILL");
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // best effort at exit: nothing left to report to
      }
    }
    this.namespaces.length = 0;
  }
}

// --- process-exit safety net -------------------------------------------------------------------

const liveLabs = new Set<LabImpl>();
const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
let hooksInstalled = false;

function onExit(): void {
  for (const lab of liveLabs) lab.destroySync();
  liveLabs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  onExit();
  uninstallExitHooks();
  // Die of the signal as we would have without our handler (unless someone else handles it).
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstallExitHooks(): void {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.off("exit", onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Builds the lab; on any failure while building, everything built so far is removed before rethrowing. */
export async function createLab(o: CreateLabOptions): Promise<Lab> {
  if (process.getuid?.() !== 0) throw new Error("createLab needs root (network namespaces)");
  if (o.hosts.length === 0) throw new Error("createLab needs at least one host");
  if (o.hosts.length > MAX_HOSTS) throw new Error(`createLab supports at most ${MAX_HOSTS} hosts`);
  const seen = new Set<string>();
  for (const h of o.hosts) {
    if (!HOST_NAME.test(h))
      throw new Error(`host name '${h}' must match ${HOST_NAME} (it is part of a netns name)`);
    if (h === "client" || h === "switch") throw new Error(`host name '${h}' is reserved`);
    if (seen.has(h)) throw new Error(`host name '${h}' is given twice`);
    seen.add(h);
  }
  const lab = new LabImpl(`vipd-${process.pid}-${randomBytes(3).toString("hex")}`);
  liveLabs.add(lab);
  installExitHooks();
  try {
    await lab.build(o.hosts, o.client ?? false);
  } catch (e) {
    await lab.destroy().catch(() => undefined); // the build error is the one worth reporting
    throw e;
  }
  return lab;
}

/** True when this machine can run lab tests (root and `ip netns`). For `describe.runIf`. */
export function labAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync("ip", ["netns", "list"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

// A round trip without iputils-ping (not installed everywhere): a UDP datagram to a closed port of
// `ip` (port 9, discard, never listened on in a lab) must come back as ICMP port unreachable, which
// Linux reports on a connected UDP socket as ECONNREFUSED. Prints "ok" on a reply.
const PROBE_SCRIPT = `
const dgram = require('node:dgram');
const [ip, timeoutMs] = process.argv.slice(1);
const s = dgram.createSocket(ip.includes(':') ? 'udp6' : 'udp4');
let last = 'timeout';
const done = (ok) => { console.log(ok ? 'ok' : 'no reply: ' + last); s.close(); process.exit(ok ? 0 : 1); };
const timer = setTimeout(() => done(false), Number(timeoutMs));
let n = 0;
const tick = () => { if (n++ < Number(timeoutMs) / 100 + 1) { s.send('vipd-lab-probe', () => {}); setTimeout(tick, 100).unref(); } };
// EHOSTUNREACH and the like come from a neighbour resolution still failing: keep trying until the deadline.
s.on('error', (e) => { if (e.code === 'ECONNREFUSED') { clearTimeout(timer); done(true); } else last = e.code; });
s.on('message', () => { clearTimeout(timer); done(true); });
s.connect(9, ip, tick);
`;

/**
 * Sends UDP probes from `from` to `ip` (port 9) until the ICMP port-unreachable reply arrives.
 * True on a round trip. As a side effect the kernel of `from` resolves `ip`'s neighbour entry.
 */
export async function labPing(from: LabHost, ip: string, o?: { timeoutMs?: number }): Promise<boolean> {
  const timeoutMs = o?.timeoutMs ?? 2000;
  const r = await from.exec([process.execPath, "-e", PROBE_SCRIPT, ip, String(timeoutMs)], {
    timeoutMs: timeoutMs + 5000,
  });
  return r.code === 0 && r.stdout.trim() === "ok";
}

/** Runs fn with a fresh lab and always destroys it, also when fn throws (fn's error wins). */
export async function withLab<T>(o: CreateLabOptions, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await createLab(o);
  let result: T;
  try {
    result = await fn(lab);
  } catch (e) {
    await lab.destroy().catch(() => undefined);
    throw e;
  }
  await lab.destroy();
  return result;
}
