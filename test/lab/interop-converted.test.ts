// Migration check: a keepalived pair where one node is replaced by vipd running the config that
// `vipd import-keepalived` made from that node's keepalived.conf. For each lab-shaped config pair,
// first keepalived on both nodes (the reference), then vipd (converted) in place of either node;
// every run must show the same master and the same failover:
//   node 1 (priority 150) is master, node 2 backup, the VIP on node 1 only;
//   SIGKILL node 1: node 2 becomes master and holds the VIP.
// The keepalived.conf text is exactly what keepalived runs on that node (renderKeepalivedConfig),
// and the vipd.yaml is the importer's output with only the lab's control socket and metrics added.
// Every advert vipd sends is checked in tshark.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfigText } from "../../src/config/index.js";
import { importKeepalived } from "../../src/config/keepalived/index.js";
import { INSTANCE, ROWS, withVipdCapture } from "./interop-helpers.js";
import {
  type Keepalived,
  type KeepalivedOptions,
  renderKeepalivedConfig,
  startKeepalived,
} from "./keepalived.js";
import { type LabHost, labAvailable, labVip, withLab } from "./netns.js";
import { pollUntil, sleep, startVipd, type VipdAgent, type VipdInstance, vipHolders } from "./vipd-agent.js";

interface ConfigPair {
  id: string;
  title: string;
  advertMs: number;
  /** keepalived.conf options for node 1 (priority 150) and node 2 (priority 100) on these hosts. */
  node(which: 1 | 2, self: LabHost, other: LabHost): KeepalivedOptions;
}

const VIP = `${labVip("ipv4")}/24`;

const PAIRS: ConfigPair[] = [
  {
    id: "multicast-v3",
    title: "VRRPv3 multicast pair, node 1 'state MASTER', 100 ms",
    advertMs: 100,
    node: (which) => ({
      instances: [
        {
          name: INSTANCE,
          vrid: 51,
          priority: which === 1 ? 150 : 100,
          advertIntMs: 100,
          version: 3,
          state: which === 1 ? "MASTER" : "BACKUP",
          virtualIps: [VIP],
          extraLines: ["garp_master_delay 1", "garp_master_repeat 2"],
        },
      ],
      globalDefs: ["vrrp_version 3", "vrrp_garp_master_refresh 0"],
    }),
  },
  {
    id: "unicast-v3",
    title: "VRRPv3 unicast pair with unicast_src_ip, 100 ms",
    advertMs: 100,
    node: (which, self, other) => ({
      instances: [
        {
          name: INSTANCE,
          vrid: 60,
          priority: which === 1 ? 150 : 100,
          advertIntMs: 100,
          version: 3,
          virtualIps: [VIP],
          unicastSrcIp: self.ipv4,
          unicastPeers: [other.ipv4],
        },
      ],
    }),
  },
];

/** keepalived.conf as keepalived runs it on host -> `vipd import-keepalived` -> parsed vipd.yaml. */
async function convert(host: LabHost, options: KeepalivedOptions) {
  const dir = mkdtempSync(join(tmpdir(), "vipd-interop-convert-"));
  try {
    const path = join(dir, "keepalived.conf");
    writeFileSync(path, renderKeepalivedConfig(host, options));
    const { yaml, warnings } = await importKeepalived(path);
    loadConfigText(yaml, "converted.yaml"); // what `vipd check` runs; throws ConfigError
    const doc = parse(yaml) as {
      global?: Record<string, unknown>;
      instances?: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(doc).sort(), yaml).toEqual(["global", "instances"]);
    return { yaml, warnings, global: doc.global ?? {}, instances: doc.instances ?? {} };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Node = { host: LabHost; ka?: Keepalived; vipd?: VipdAgent };
const stateOf = (n: Node) => (n.vipd ? n.vipd.state(INSTANCE) : n.ka?.state(INSTANCE)?.toLowerCase());

async function startNode(
  kind: "keepalived" | "vipd",
  host: LabHost,
  options: KeepalivedOptions,
): Promise<Node> {
  if (kind === "keepalived") return { host, ka: await startKeepalived(host, options) };
  const c = await convert(host, options);
  const instances: VipdInstance[] = Object.entries(c.instances).map(([name, inst]) => ({
    // Placeholders: `extra` is the converted instance whole and overrides every key.
    name,
    vrid: 0,
    priority: 0,
    advertIntervalMs: 0,
    virtualIps: [],
    extra: inst,
  }));
  const agent = await startVipd(host, { instances, global: c.global });
  // vipd runs the importer's instances unchanged.
  expect((parse(agent.configText) as { instances: unknown }).instances).toEqual(c.instances);
  return { host, vipd: agent };
}

async function run(
  pair: ConfigPair,
  kinds: ["keepalived" | "vipd", "keepalived" | "vipd"],
  h1: LabHost,
  h2: LabHost,
) {
  const n1 = await startNode(kinds[0], h1, pair.node(1, h1, h2));
  const n2 = await startNode(kinds[1], h2, pair.node(2, h2, h1));
  const settled = (master: Node, backup: Node | null) =>
    pollUntil(
      `${master.host.name} master`,
      async () => {
        const holders = await vipHolders(backup ? [master.host, backup.host] : [master.host], VIP);
        const ok =
          stateOf(master) === "master" &&
          (backup === null || stateOf(backup) === "backup") &&
          holders.length === 1 &&
          holders[0] === master.host.name;
        return ok ? true : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    ).catch((e: Error) => {
      throw new Error(`${e.message} (${kinds.join("/")}: ${stateOf(n1)} / ${stateOf(n2)})`);
    });
  await settled(n1, n2);
  await sleep(10 * pair.advertMs);
  await settled(n1, n2);
  const killedAt = Date.now();
  if (n1.vipd) await n1.vipd.kill();
  else await n1.ka?.kill();
  await settled(n2, null);
  const took =
    (n2.vipd
      ? n2.vipd.transitions().find((t) => t.atMs >= killedAt && t.to === "master")?.atMs
      : n2.ka?.transitions().find((t) => t.atMs >= killedAt && t.state === "MASTER")?.atMs) ?? Number.NaN;
  if (n2.vipd) await n2.vipd.stop();
  else await n2.ka?.stop();
  return { master: h1.name, takeover: h2.name, takeoverMs: took - killedAt };
}

describe.runIf(labAvailable())("keepalived migration: converted config beside the original (root)", () => {
  for (const pair of PAIRS) {
    it(`${pair.title}: same master and failover with vipd on either node`, async () => {
      const results: string[] = [];
      for (const kinds of [
        ["keepalived", "keepalived"],
        ["keepalived", "vipd"],
        ["vipd", "keepalived"],
      ] as const) {
        const r = await withLab({ hosts: ["a", "b"] }, (lab) => {
          const [a, b] = [lab.host("a"), lab.host("b")];
          // vipd's adverts are checked in tshark too (VRRPv3 IPv4, pseudo-header form).
          const vipdHosts = [a, b].filter((_, i) => kinds[i] === "vipd");
          return withVipdCapture(vipdHosts, ROWS["v3-ipv4"], { expectSent: vipdHosts.length > 0 }, () =>
            run(pair, [kinds[0], kinds[1]], a, b),
          );
        });
        expect(r.master).toBe("a");
        expect(r.takeover).toBe("b");
        results.push(`${kinds.join("+")}: a master, b took over in ${r.takeoverMs} ms`);
      }
      console.log(`[interop converted ${pair.id}] ${results.join("; ")}`);
    }, 180_000);
  }

  it("the converted YAML carries every keyword of these configs (no warnings)", async () => {
    await withLab({ hosts: ["a", "b"] }, async (lab) => {
      const [a, b] = [lab.host("a"), lab.host("b")];
      for (const pair of PAIRS) {
        for (const [which, self, other] of [
          [1, a, b],
          [2, b, a],
        ] as const) {
          const c = await convert(self, pair.node(which, self, other));
          expect(c.warnings, c.yaml).toEqual([]);
          const inst = c.instances[INSTANCE];
          expect(inst, c.yaml).toMatchObject({
            interface: "eth0",
            priority: which === 1 ? 150 : 100,
            version: 3,
          });
          expect(inst?.advert_interval).toBe("100ms");
        }
      }
    });
  }, 60_000);
});
