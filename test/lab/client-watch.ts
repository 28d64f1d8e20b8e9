// What the client namespace sees of a takeover: gratuitous ARPs / unsolicited NAs on the wire, and
// its own neighbour table.
//
// Watching: tcpdump on the client's eth0 ('arp or icmp6', -e for MACs, -tt, --immediate-mode). Times
// are tcpdump's packet timestamps: the kernel's receive time on CLOCK_REALTIME, as milliseconds
// since the epoch with microsecond fraction — comparable with Date.now() in the test process and with
// KeepalivedTransition.atMs, not with a monotonic clock.
//   - gratuitous ARP: an ARP request whose sender and target IP are both the address
//     ("who-has X tell X"), or an ARP reply sent to the broadcast MAC;
//   - unsolicited NA: a neighbour advertisement sent to a multicast destination (a solicited NA is
//     unicast to the node that asked).
// The announcer's MAC is the Ethernet source.
//
// Neighbour table: Linux (net/ipv4/arp.c) updates an EXISTING entry from a gratuitous ARP, with
// override, whatever the lock time, unless drop_gratuitous_arp=1; it CREATES an entry from one only
// when arp_accept is 1 (or 2 and same subnet). For IPv6, an unsolicited NA with the Override flag
// updates an existing entry unless drop_unsolicited_na=1, and accept_untracked_na decides creation.
// createLab() sets the client to the defaults that matter here (drop_* = 0, arp_accept = 0,
// accept_untracked_na = 0): so the test must seed the entry first (seedNeighbour), and a changed
// MAC afterwards was written by the announcement, as long as the client sent nothing to the VIP in
// between (its own resolution would also refresh the entry; keep the client quiet during a takeover).
import { type LabHost, labPing } from "./netns.js";
import { startTcpdump } from "./tcpdump.js";

export interface Announcement {
  type: "garp" | "na";
  ip: string;
  srcMac: string;
  /** Kernel receive time, CLOCK_REALTIME, ms since the epoch (µs fraction). */
  atMs: number;
  line: string;
}

export interface ClientWatch {
  announcements(): readonly Announcement[];
  /** First announcement of ip from srcMac (at or after sinceMs when given). */
  first(ip: string, srcMac: string, sinceMs?: number): Announcement | undefined;
  waitFor(ip: string, srcMac: string, o?: { timeoutMs?: number; sinceMs?: number }): Promise<Announcement>;
  stop(): Promise<void>;
}

const FRAME =
  /^(\d+\.\d+) ([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype (\S+) \(0x[0-9a-f]+\), length \d+: (.*)$/;
const ARP_REQUEST = /^Request who-has (\S+)(?: \([0-9a-f:]+\))? tell (\S+),/;
const ARP_REPLY = /^Reply (\S+) is-at ([0-9a-f:]{17}),/;
const NA = /^(\S+) > (\S+): ICMP6, neighbor advertisement, tgt is (\S+),/;

/** Parses one tcpdump -e -n -tt line; undefined when it is not an announcement. Exported for unit tests. */
export function parseAnnouncement(line: string): Announcement | undefined {
  const f = FRAME.exec(line);
  if (!f) return undefined;
  const [, ts, src, dst, ethertype, rest] = f as unknown as [string, string, string, string, string, string];
  const atMs = Number(ts) * 1000;
  if (ethertype === "ARP") {
    const req = ARP_REQUEST.exec(rest);
    if (req && req[1] === req[2]) return { type: "garp", ip: req[1]!, srcMac: src, atMs, line };
    const rep = ARP_REPLY.exec(rest);
    if (rep && dst === "ff:ff:ff:ff:ff:ff") return { type: "garp", ip: rep[1]!, srcMac: src, atMs, line };
    return undefined;
  }
  if (ethertype === "IPv6") {
    const na = NA.exec(rest);
    if (na && (na[2]!.startsWith("ff") || dst.startsWith("33:33:")))
      return { type: "na", ip: na[3]!, srcMac: src, atMs, line };
  }
  return undefined;
}

/** Starts tcpdump in the client; resolves once it is capturing (within 10 s). */
export async function startClientWatch(client: LabHost): Promise<ClientWatch> {
  const seen: Announcement[] = [];
  const tcpdump = await startTcpdump(client, {
    args: ["-l", "-n", "-e", "-tt", "--immediate-mode", "-Z", "root", "arp or icmp6"],
    onLine: (line) => {
      const a = parseAnnouncement(line);
      if (a) seen.push(a);
      return a !== undefined;
    },
    seenWhere: "by the client",
  });
  const first = (ip: string, srcMac: string, sinceMs = 0) =>
    seen.find((a) => a.ip === ip && a.srcMac === srcMac.toLowerCase() && a.atMs >= sinceMs);
  return {
    announcements: () => seen,
    first,
    waitFor: (ip, srcMac, o) =>
      tcpdump.waitUntil(`announcement of ${ip} from ${srcMac}`, o?.timeoutMs ?? 10_000, () =>
        first(ip, srcMac, o?.sinceMs),
      ),
    stop: tcpdump.stop,
  };
}

/** The MAC in host's neighbour entry for ip, or null (no entry, or no link-layer address yet). */
export async function neighbourMac(host: LabHost, ip: string): Promise<string | null> {
  const r = await host.exec(["ip", "-j", "neigh", "show", "to", ip, "dev", host.ifname]);
  if (r.code !== 0) throw new Error(`ip neigh in ${host.ns} failed: ${r.stderr.trim()}`);
  const entries = JSON.parse(r.stdout || "[]") as { dst?: string; lladdr?: string; state?: string[] }[];
  const e = entries.find((x) => x.lladdr !== undefined && !x.state?.includes("FAILED"));
  return e?.lladdr ?? null;
}

/**
 * Makes host resolve ip through its own kernel (UDP probe, see labPing) and returns the MAC it
 * learned. Throws when ip does not answer.
 */
export async function seedNeighbour(host: LabHost, ip: string, o?: { timeoutMs?: number }): Promise<string> {
  if (!(await labPing(host, ip, o?.timeoutMs === undefined ? undefined : { timeoutMs: o.timeoutMs })))
    throw new Error(`${ip} did not answer ${host.name}: cannot seed its neighbour entry`);
  const mac = await neighbourMac(host, ip);
  if (mac === null) throw new Error(`${host.name} answered by ${ip} but has no neighbour entry for it`);
  return mac;
}
