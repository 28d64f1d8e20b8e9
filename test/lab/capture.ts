// VRRP packet capture in a lab namespace, checked afterwards with tshark's VRRP dissector.
//
// tcpdump writes every IP protocol 112 packet seen on the host's eth0 to a pcap in a temp dir
// (-U: each packet is flushed at once, so a stop by SIGTERM loses nothing). analyze() decodes the file
// with tshark (a file read, no network) and reports, per packet, the VRRP fields and tshark's
// vrrp.checksum.status: 1 = good, 0 = bad, 2 = unverified (Wireshark's proto_checksum_enum_e).
//
// tshark checks VRRPv3 IPv4 checksums with the IPv4 pseudo-header unless its preference
// vrrp.v3_checksum_as_in_v2 is TRUE (then message-only, the RFC 9568 form): pass checksumForm to
// choose. VRRPv3 IPv6 always uses the IPv6 pseudo-header; VRRPv2 never uses one.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LabHost } from "./netns.js";
import { startTcpdump, type Tcpdump } from "./tcpdump.js";

export type ChecksumStatus = "good" | "bad" | "unverified" | "absent";

export interface VrrpPacket {
  frame: number;
  /** Capture time, CLOCK_REALTIME ms since the epoch. */
  atMs: number;
  src: string;
  dst: string;
  /** IPv4 TTL or IPv6 hop limit. */
  ttl: number;
  /** undefined when tshark did not decode the payload as VRRP. */
  version: number | undefined;
  vrid: number | undefined;
  priority: number | undefined;
  checksumStatus: ChecksumStatus;
  malformed: boolean;
}

export interface VrrpCapture {
  file: string;
  /** Stops tcpdump (SIGTERM, SIGKILL after 2 s) and waits for it. */
  stop(): Promise<void>;
  /** Decodes the file with tshark; call after stop(). */
  analyze(o?: { checksumForm?: "pseudo-header" | "message-only" }): Promise<VrrpPacket[]>;
  /** tshark -V -Y vrrp text of the capture, for error messages. */
  decodeText(o?: { checksumForm?: "pseudo-header" | "message-only"; maxFrames?: number }): Promise<string>;
  /** Deletes the temp dir with the pcap. */
  remove(): void;
}

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

const FIELDS = [
  "frame.number",
  "frame.time_epoch",
  "ip.src",
  "ipv6.src",
  "ip.dst",
  "ipv6.dst",
  "ip.ttl",
  "ipv6.hlim",
  "vrrp.version",
  "vrrp.virt_rtr_id",
  "vrrp.prio",
  "vrrp.checksum.status",
  "_ws.malformed",
];

function statusOf(text: string): ChecksumStatus {
  switch (text) {
    case "1":
      return "good";
    case "0":
      return "bad";
    case "2":
      return "unverified";
    default:
      return "absent";
  }
}

function pref(form: "pseudo-header" | "message-only" | undefined): string[] {
  return ["-o", `vrrp.v3_checksum_as_in_v2:${form === "message-only" ? "TRUE" : "FALSE"}`];
}

const num = (s: string | undefined) => (s === undefined || s === "" ? undefined : Number(s));

/** Parses tshark -T fields output for FIELDS (tab separated). Exported for unit tests. */
export function parseTsharkFields(text: string): VrrpPacket[] {
  const out: VrrpPacket[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const c = line.split("\t");
    const [frame, time, src4, src6, dst4, dst6, ttl, hlim, version, vrid, prio, status, malformed] = c;
    out.push({
      frame: Number(frame),
      atMs: Number(time) * 1000,
      src: src4 || src6 || "",
      dst: dst4 || dst6 || "",
      ttl: num(ttl) ?? num(hlim) ?? -1,
      version: num(version),
      vrid: num(vrid),
      priority: num(prio),
      checksumStatus: statusOf(status ?? ""),
      malformed: (malformed ?? "") !== "",
    });
  }
  return out;
}

/** Problems with a set of decoded packets (empty when every packet is well-formed VRRP with a good checksum). */
export function vrrpProblems(packets: readonly VrrpPacket[]): string[] {
  const problems: string[] = [];
  for (const p of packets) {
    const id = `frame ${p.frame} (${p.src} > ${p.dst})`;
    if (p.version === undefined) problems.push(`${id}: not decoded as VRRP`);
    else if (p.malformed) problems.push(`${id}: malformed`);
    else if (p.checksumStatus !== "good") problems.push(`${id}: checksum ${p.checksumStatus}`);
    if (p.ttl !== 255) problems.push(`${id}: TTL/hop limit ${p.ttl}, not 255`);
  }
  return problems;
}

/** Starts capturing VRRP (IPv4 and IPv6) on host's eth0; resolves once tcpdump listens. */
export async function startVrrpCapture(host: LabHost): Promise<VrrpCapture> {
  const dir = mkdtempSync(join(tmpdir(), "vipd-capture-"));
  const file = join(dir, "vrrp.pcap");
  let tcpdump: Tcpdump;
  try {
    tcpdump = await startTcpdump(host, {
      args: ["-n", "-U", "--immediate-mode", "-Z", "root", "-w", file, "ip proto 112 or ip6 proto 112"],
      seenWhere: `in ${host.name}`,
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    file,
    stop: tcpdump.stop,
    analyze: async (o) => {
      const args = ["-r", file, "-n", ...pref(o?.checksumForm), "-Y", "ip.proto == 112 || ipv6.nxt == 112"];
      const text = await run("tshark", [
        ...args,
        "-T",
        "fields",
        "-E",
        "separator=/t",
        ...FIELDS.flatMap((f) => ["-e", f]),
      ]);
      return parseTsharkFields(text);
    },
    decodeText: (o) =>
      run("tshark", [
        "-r",
        file,
        "-n",
        ...pref(o?.checksumForm),
        "-V",
        "-Y",
        "vrrp",
        ...(o?.maxFrames ? ["-c", String(o.maxFrames)] : []),
      ]),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
