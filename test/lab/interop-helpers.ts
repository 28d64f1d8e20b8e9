// Shared pieces of the keepalived interoperability matrix (test/lab/interop-*.test.ts): the matrix
// rows, instance builders for both daemons, vipd's status over its control socket (and through
// `vipd status --json`), and the check that every advert vipd sent decodes in tshark.
//
// Peer addresses: VRRPv3 IPv6 adverts come from the link-local address, IPv4 ones from the primary
// (or unicast source) address, for keepalived and vipd alike.
import { fileURLToPath } from "node:url";
import { controlRequest } from "../../src/runtime/control-client.js";
import type { DaemonStatus, InstanceStatus, PeerEntry } from "../../src/runtime/status.js";
import { startVrrpCapture, type VrrpCapture, type VrrpPacket, vrrpProblems } from "./capture.js";
import type { KeepalivedInstance } from "./keepalived.js";
import { type LabHost, labVip } from "./netns.js";
import { masterDownIntervalMs, pollUntil, type VipdAgent, type VipdInstance } from "./vipd-agent.js";

// test/lab/ -> the repo is ../../; compiled (dist/test/lab/) -> ../../../.
const REPO = fileURLToPath(
  new URL(import.meta.url.endsWith(".ts") ? "../../" : "../../../", import.meta.url),
);

export type ChecksumForm = "pseudo-header" | "message-only";

export interface Row {
  id: "v3-ipv4" | "v3-ipv4-message-only" | "v2-ipv4" | "v3-ipv6" | "unicast";
  title: string;
  version: 2 | 3;
  family: "ipv4" | "ipv6";
  /** v3 rows 100 ms; v2 carries whole seconds only, so 1 s. */
  advertMs: number;
  unicast: boolean;
  /** The form vipd sends (v3 IPv4 only; v3 IPv6 is always pseudo-header). */
  vipdChecksum: ChecksumForm;
  /** The tshark preference to check vipd's packets with. */
  tsharkChecksum: ChecksumForm;
}

export const ROWS: Record<Row["id"], Row> = {
  "v3-ipv4": {
    id: "v3-ipv4",
    title: "VRRPv3 IPv4, pseudo-header checksum, multicast",
    version: 3,
    family: "ipv4",
    advertMs: 100,
    unicast: false,
    vipdChecksum: "pseudo-header",
    tsharkChecksum: "pseudo-header",
  },
  "v3-ipv4-message-only": {
    id: "v3-ipv4-message-only",
    title: "VRRPv3 IPv4, RFC 9568 message-only checksum on vipd's side, multicast",
    version: 3,
    family: "ipv4",
    advertMs: 100,
    unicast: false,
    vipdChecksum: "message-only",
    tsharkChecksum: "message-only",
  },
  "v2-ipv4": {
    id: "v2-ipv4",
    title: "VRRPv2 IPv4, multicast (1 s: v2 has whole seconds only)",
    version: 2,
    family: "ipv4",
    advertMs: 1000,
    unicast: false,
    vipdChecksum: "pseudo-header",
    tsharkChecksum: "pseudo-header",
  },
  "v3-ipv6": {
    id: "v3-ipv6",
    title: "VRRPv3 IPv6, multicast",
    version: 3,
    family: "ipv6",
    advertMs: 100,
    unicast: false,
    vipdChecksum: "pseudo-header",
    tsharkChecksum: "pseudo-header",
  },
  unicast: {
    id: "unicast",
    title: "VRRPv3 IPv4, unicast peers",
    version: 3,
    family: "ipv4",
    advertMs: 100,
    unicast: true,
    vipdChecksum: "pseudo-header",
    tsharkChecksum: "pseudo-header",
  },
};

export const INSTANCE = "VI_1";
export const VRID = 51;

/** The row's VIP with its prefix length. */
export function rowVip(row: Row, i = 0): string {
  return row.family === "ipv4" ? `${labVip("ipv4", i)}/24` : `${labVip("ipv6", i)}/64`;
}

/** The address a host's adverts come from in this row. */
export function advertSource(row: Row, host: LabHost): string {
  return row.family === "ipv6" ? host.ipv6LinkLocal : host.ipv4;
}

/** The checksum form vipd's peer table should show for keepalived's adverts in this row. */
export function keepalivedChecksumForm(
  row: Row,
  kaForm: ChecksumForm = "pseudo-header",
): PeerEntry["checksumForm"] {
  if (row.version === 2) return "v2";
  return row.family === "ipv6" ? "pseudo-header" : kaForm;
}

export function vipdInstance(
  row: Row,
  host: LabHost,
  priority: number,
  peers: readonly LabHost[],
  over: Partial<VipdInstance> = {},
): VipdInstance {
  const inst: VipdInstance = {
    name: INSTANCE,
    vrid: VRID,
    priority,
    advertIntervalMs: row.advertMs,
    version: row.version,
    virtualIps: [rowVip(row)],
  };
  if (row.version === 3 && row.family === "ipv4") inst.checksum = row.vipdChecksum;
  if (row.unicast) {
    inst.unicastSrcIp = host.ipv4;
    inst.unicastPeers = peers.map((p) => p.ipv4);
  }
  return { ...inst, ...over };
}

export function keepalivedInstance(
  row: Row,
  host: LabHost,
  priority: number,
  peers: readonly LabHost[],
  over: Partial<KeepalivedInstance> = {},
): KeepalivedInstance {
  const inst: KeepalivedInstance = {
    name: INSTANCE,
    vrid: VRID,
    priority,
    advertIntMs: row.advertMs,
    version: row.version,
    virtualIps: [rowVip(row)],
  };
  if (row.unicast) {
    inst.unicastSrcIp = host.ipv4;
    inst.unicastPeers = peers.map((p) => p.ipv4);
  }
  return { ...inst, ...over };
}

export function rowMasterDownMs(row: Row, backupPriority: number): number {
  return masterDownIntervalMs(row.advertMs, backupPriority);
}

/** How long to wait for a takeover: Master_Down_Interval plus room for a loaded machine. */
export function takeoverTimeoutMs(row: Row, backupPriority: number): number {
  return rowMasterDownMs(row, backupPriority) + 5000;
}

/** vipd's status straight from its control socket (lives in the agent's temp dir). */
export async function vipdStatus(agent: VipdAgent): Promise<DaemonStatus> {
  return (await controlRequest(
    `${agent.dir}/vipd.sock`,
    { cmd: "status" },
    { timeoutMs: 5000 },
  )) as DaemonStatus;
}

/** The same status through the CLI, as an operator runs it: `vipd status --json` inside the host. */
export async function vipdStatusCli(agent: VipdAgent): Promise<DaemonStatus> {
  const r = await agent.host.exec(
    [
      "sh",
      "-c",
      'cd "$1" && shift && exec "$@"',
      "sh",
      REPO,
      process.execPath,
      "--import",
      "tsx",
      "src/cli/main.ts",
      "status",
      "--json",
      "--socket",
      `${agent.dir}/vipd.sock`,
    ],
    { timeoutMs: 60_000 },
  );
  if (r.code !== 0)
    throw new Error(`vipd status --json on ${agent.host.name} exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as DaemonStatus;
}

export function instanceOf(status: DaemonStatus, name = INSTANCE): InstanceStatus {
  const i = status.instances.find((x) => x.name === name);
  if (!i)
    throw new Error(
      `vipd status has no instance ${name} (has ${status.instances.map((x) => x.name).join(", ")})`,
    );
  return i;
}

/** Polls vipd's status until its peer table holds `address`; returns that entry. */
export function waitForPeer(
  agent: VipdAgent,
  address: string,
  o?: { timeoutMs?: number; name?: string },
): Promise<PeerEntry> {
  return pollUntil(
    `peer ${address} in the status of vipd on ${agent.host.name}`,
    async () => instanceOf(await vipdStatus(agent), o?.name).peers.find((p) => p.address === address),
    { timeoutMs: o?.timeoutMs ?? 5000, intervalMs: 100 },
  );
}

/** One capture per vipd host: tcpdump sees the host's own outgoing adverts on its eth0. */
export interface VipdCaptures {
  stopAndCheck(row: Row): Promise<{ sent: number; problems: string[]; byHost: Record<string, number> }>;
  remove(): void;
}

export async function captureVipdHosts(hosts: readonly LabHost[]): Promise<VipdCaptures> {
  const caps: { host: LabHost; cap: VrrpCapture }[] = [];
  try {
    for (const host of hosts) caps.push({ host, cap: await startVrrpCapture(host) });
  } catch (e) {
    for (const c of caps) {
      await c.cap.stop();
      c.cap.remove();
    }
    throw e;
  }
  return {
    stopAndCheck: async (row) => {
      let sent = 0;
      const problems: string[] = [];
      const byHost: Record<string, number> = {};
      for (const { host, cap } of caps) {
        await cap.stop();
        const packets: VrrpPacket[] = await cap.analyze({ checksumForm: row.tsharkChecksum });
        const own = packets.filter((p) => p.src === advertSource(row, host));
        byHost[host.name] = own.length;
        sent += own.length;
        for (const p of vrrpProblems(own)) problems.push(`${host.name}: ${p}`);
        // The dissector must also agree on what was sent.
        for (const p of own) {
          if (p.version !== row.version)
            problems.push(`${host.name}: frame ${p.frame} decoded as v${p.version}`);
          if (p.vrid === undefined) problems.push(`${host.name}: frame ${p.frame} has no VRID`);
        }
        if (problems.length > 0 && problems.length < 5) {
          problems.push(
            (await cap.decodeText({ checksumForm: row.tsharkChecksum, maxFrames: 1 })).slice(0, 3000),
          );
        }
      }
      return { sent, problems, byHost };
    },
    remove: () => {
      for (const c of caps) c.cap.remove();
    },
  };
}

/** Removes an address a SIGKILLed daemon left behind (as a reboot of that host would). */
export async function dropLeftoverVip(host: LabHost, cidr: string): Promise<void> {
  const r = await host.exec(["ip", "addr", "del", cidr, "dev", host.ifname]);
  if (r.code !== 0 && !/Cannot assign|not found/i.test(r.stderr))
    throw new Error(`ip addr del ${cidr} on ${host.name}: ${r.stderr.trim()}`);
}

/**
 * Runs fn with vipd's own adverts captured on each of hosts, then checks them in tshark: no problem,
 * and at least one advert when expectSent (a vipd that never became master sends nothing).
 */
export async function withVipdCapture<T>(
  hosts: readonly LabHost[],
  row: Row,
  o: { expectSent: boolean },
  fn: () => Promise<T>,
): Promise<T> {
  const caps = await captureVipdHosts(hosts);
  try {
    const result = await fn();
    const { sent, problems } = await caps.stopAndCheck(row);
    if (problems.length > 0) throw new Error(`vipd adverts that tshark rejects:\n${problems.join("\n")}`);
    if (o.expectSent && sent === 0) throw new Error("no vipd advert was captured");
    return result;
  } finally {
    caps.remove();
  }
}
