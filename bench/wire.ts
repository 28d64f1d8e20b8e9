// What one namespace sees on the wire during a benchmark: VRRP adverts and gratuitous ARP /
// unsolicited NA, from ONE tcpdump (-tt: the kernel's receive timestamps, CLOCK_REALTIME ms with a
// µs fraction). Takeover gaps are differences between two packets of this one capture, so no clock of
// another process enters them.
import { spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { stopGroup, Waiters } from "../test/lab/child-wait.js";
import { type Announcement, parseAnnouncement } from "../test/lab/client-watch.js";
import type { LabHost } from "../test/lab/netns.js";
import { startTcpdump } from "../test/lab/tcpdump.js";

export interface AdvertSeen {
  atMs: number;
  src: string;
  vrid: number;
  priority: number;
  version: number;
}

export interface WireWatch {
  adverts(): readonly AdvertSeen[];
  announcements(): readonly Announcement[];
  /** Resolves with the first advert matching at or after sinceMs. */
  waitAdvert(
    what: string,
    match: (a: AdvertSeen) => boolean,
    o: { sinceMs: number; timeoutMs: number },
  ): Promise<AdvertSeen>;
  waitAnnouncement(
    ip: string,
    srcMac: string,
    o: { sinceMs: number; timeoutMs: number },
  ): Promise<Announcement>;
  /** Drops everything recorded before atMs (keeps long runs small). */
  forget(beforeMs: number): void;
  stop(): Promise<void>;
}

// "1700000000.123456 02:.. > 01:.., ethertype IPv4 (0x0800), length 54: 192.0.2.11 > 224.0.0.18: VRRPv3, Advertisement, vrid 51, prio 200, intvl 10cs, length 12"
const VRRP =
  /^(\d+\.\d+) \S+ > \S+, ethertype IPv[46] \(0x[0-9a-f]+\), length \d+: (\S+) > \S+: VRRPv(\d), Advertisement, vrid (\d+), prio (\d+)/;

/** Parses one tcpdump -e -n -tt line; undefined when it is not a VRRP advert. */
export function parseAdvertLine(line: string): AdvertSeen | undefined {
  const m = VRRP.exec(line);
  if (!m) return undefined;
  return {
    atMs: Number(m[1]) * 1000,
    src: m[2]!,
    version: Number(m[3]),
    vrid: Number(m[4]),
    priority: Number(m[5]),
  };
}

export async function startWireWatch(host: LabHost): Promise<WireWatch> {
  let adverts: AdvertSeen[] = [];
  let anns: Announcement[] = [];
  const tcpdump = await startTcpdump(host, {
    args: [
      "-l",
      "-n",
      "-e",
      "-tt",
      "--immediate-mode",
      "-B",
      "8192",
      "-Z",
      "root",
      "arp or icmp6 or ip proto 112 or ip6 proto 112",
    ],
    onLine: (line) => {
      const adv = parseAdvertLine(line);
      if (adv) adverts.push(adv);
      else {
        const a = parseAnnouncement(line);
        if (!a) return false;
        anns.push(a);
      }
      return true;
    },
    seenWhere: `in ${host.name}`,
  });
  return {
    adverts: () => adverts,
    announcements: () => anns,
    waitAdvert: (what, match, o) =>
      tcpdump.waitUntil(what, o.timeoutMs, () => adverts.find((a) => a.atMs >= o.sinceMs && match(a))),
    waitAnnouncement: (ip, srcMac, o) =>
      tcpdump.waitUntil(`announcement of ${ip} from ${srcMac}`, o.timeoutMs, () =>
        anns.find((a) => a.atMs >= o.sinceMs && a.ip === ip && a.srcMac === srcMac.toLowerCase()),
      ),
    forget: (beforeMs) => {
      adverts = adverts.filter((a) => a.atMs >= beforeMs);
      anns = anns.filter((a) => a.atMs >= beforeMs);
    },
    stop: tcpdump.stop,
  };
}

// --- addresses appearing on a host: `ip -ts -o monitor address` -----------------------------------

export interface AddrEvent {
  /** ip's own stamp when it read the netlink message (local time, µs), as CLOCK_REALTIME ms. */
  atMs: number;
  added: boolean;
  cidr: string;
}

export interface AddrWatch {
  events(): readonly AddrEvent[];
  waitEvent(ip: string, added: boolean, o: { sinceMs: number; timeoutMs: number }): Promise<AddrEvent>;
  stop(): Promise<void>;
}

// "[2026-01-01T12:00:00.123456] 2: eth0    inet 192.0.2.200/24 scope global ..." ("Deleted " before the index)
const ADDR = /^\[(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})\] (Deleted )?\d+: \S+\s+inet6? (\S+)/;

/** Parses one `ip -ts -o monitor address` line (its stamp is local time, like ip prints it). */
export function parseAddrLine(line: string): AddrEvent | undefined {
  const m = ADDR.exec(line);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s, us] = m.slice(1, 8).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const atMs = new Date(y, mo - 1, d, h, mi, s).getTime() + us / 1000;
  return { atMs, added: m[8] === undefined, cidr: m[9]! };
}

let chrt: boolean | undefined;
function hasChrt(): boolean {
  chrt ??= spawnSync("chrt", ["--version"], { stdio: "ignore" }).status === 0;
  return chrt;
}

export async function startAddrWatch(host: LabHost): Promise<AddrWatch> {
  // Real-time priority (when chrt exists): ip's stamp is taken in user space after a wake-up, so a
  // loaded machine would otherwise delay it by the scheduler's latency.
  const argv = ["ip", "-ts", "-o", "monitor", "address", "dev", host.ifname];
  const child = host.spawn(hasChrt() ? ["chrt", "-f", "50", ...argv] : argv);
  const events: AddrEvent[] = [];
  const waiters = new Waiters();
  let closed = false;
  if (child.stdout)
    createInterface({ input: child.stdout }).on("line", (line) => {
      const e = parseAddrLine(line);
      if (e) {
        events.push(e);
        waiters.notify();
      }
    });
  const closedPromise = new Promise<void>((resolve) =>
    child.once("close", () => {
      closed = true;
      waiters.notify();
      resolve();
    }),
  );
  // `ip monitor` prints nothing when it is ready: give it a moment to open its netlink socket.
  await new Promise((r) => setTimeout(r, 200));
  return {
    events: () => events,
    waitEvent: (ip, added, o) =>
      waiters.until(
        o.timeoutMs,
        () => events.find((x) => x.atMs >= o.sinceMs && x.added === added && x.cidr.split("/")[0] === ip),
        {
          ended: () => (closed ? `ip monitor in ${host.ns} ended` : undefined),
          timedOut: () =>
            `${ip} not ${added ? "added on" : "removed from"} ${host.name} within ${o.timeoutMs} ms`,
        },
      ),
    stop: () => stopGroup(child, { closed: closedPromise, isClosed: closed, killAfterMs: null }),
  };
}
