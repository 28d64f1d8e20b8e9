// Valid configs: defaults, unit conversion, canonical addresses, the shipped examples and the doc.
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import {
  ConfigError,
  loadConfigFile,
  loadConfigText,
  parseDurationMs,
  toRouterOptions,
} from "../../src/config/index.js";

const repo = new URL("../../", import.meta.url);

describe("durations", () => {
  it.each([
    ["10ms", 10],
    ["1s", 1000],
    ["1.5s", 1500],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["0", 0],
    [2, 2000],
    [0.01, 10],
    [1.1, 1100],
    ["40.95s", 40_950],
  ] as const)("%s -> %i ms", (input, ms) => {
    expect(parseDurationMs(input)).toEqual({ type: "ok", ms });
  });

  it.each([["1 sec"], ["abc"], ["-1s"], [""], ["1.0001s"], [true], [null]])("refuses %s", (input) => {
    expect(parseDurationMs(input).type).toBe("error");
  });
});

describe("loadConfigText", () => {
  const minimal = "instances:\n  web:\n    interface: eth0\n    vrid: 51\n    virtual_ips: [192.0.2.200]\n";

  it("fills keepalived-like defaults", () => {
    const c = loadConfigText(minimal, "m.yaml");
    expect(c.file).toBe("m.yaml");
    expect(c.global).toMatchObject({
      vrrpVersion: 3,
      checksum: "pseudo-header",
      controlSocket: "/run/vipd/vipd.sock",
      controlGroup: null,
      metricsListen: { host: "127.0.0.1", port: 9650 },
      scriptUser: "root",
      enableScriptSecurity: true,
      garpMasterDelayMs: 5000,
      garpMasterRepeat: 5,
      garpIntervalMs: 0,
      garpMasterRefreshMs: 0,
    });
    expect(c.global.routerId.length).toBeGreaterThan(0);
    expect(c.instances.web).toMatchObject({
      name: "web",
      family: "ipv4",
      version: 3,
      priority: 100,
      adverIntervalMs: 1000,
      preempt: true,
      preemptDelayMs: 0,
      accept: false,
      unicastPeers: null,
      unicastSrcIp: null,
      syncGroup: null,
      virtualIps: [
        { cidr: "192.0.2.200/32", address: "192.0.2.200", prefixLength: 32, dev: "eth0", label: null },
      ],
    });
  });

  it("converts units, canonicalises IPv6 and resolves references", () => {
    const text = `
global:
  router_id: lb1
  vrrp_version: 2
  metrics_listen: "[::1]:9651"
  control_group: 1000
  garp_master_repeat: 3
track_scripts:
  chk:
    script: /usr/bin/pgrep  haproxy
    interval: 2
    weight: -20
track_files:
  maint: { file: /etc/vipd/maint }
instances:
  v6:
    interface: eth0
    vrid: 51
    version: 3
    priority: 200
    advert_interval: 20ms
    nopreempt: true
    unicast_peers: [2001:DB8:0:0::12]
    virtual_ips: [2001:db8:0::200/64, { address: "2001:db8::201", dev: eth1, label: eth1v6 }]
    track_interfaces: [eth1, { name: eth2, weight: -10 }]
    track_scripts: [chk, { name: chk, weight: 5 }]
    track_files: [maint]
    garp_master_delay: 0
  v4:
    interface: eth0
    vrid: 51
    advert_interval: 3
    virtual_ips: [192.0.2.200/24]
sync_groups:
  both: { instances: [v6, v4], notify: /etc/vipd/g.sh }
`;
    const c = loadConfigText(text, "full.yaml");
    expect(c.global.metricsListen).toEqual({ host: "::1", port: 9651 });
    expect(c.global.controlGroup).toBe("1000");
    expect(c.trackScripts.chk).toEqual({
      name: "chk",
      argv: ["/usr/bin/pgrep", "haproxy"],
      intervalMs: 2000,
      timeoutMs: 2000,
      rise: 1,
      fall: 1,
      weight: -20,
    });
    expect(c.trackFiles.maint).toEqual({ name: "maint", file: "/etc/vipd/maint", weight: 1 });
    const v6 = c.instances.v6!;
    expect(v6).toMatchObject({
      family: "ipv6",
      version: 3,
      adverIntervalMs: 20,
      preempt: false,
      unicastPeers: ["2001:db8::12"],
      trackInterfaces: [
        { name: "eth1", weight: null },
        { name: "eth2", weight: -10 },
      ],
      trackScripts: [
        { name: "chk", weight: null },
        { name: "chk", weight: 5 },
      ],
      trackFiles: [{ name: "maint", weight: null }],
      garpMasterDelayMs: 0,
      garpMasterRepeat: 3,
      syncGroup: "both",
    });
    expect(v6.virtualIps.map((v) => [v.cidr, v.dev, v.label])).toEqual([
      ["2001:db8::200/64", "eth0", null],
      ["2001:db8::201/128", "eth1", "eth1v6"],
    ]);
    // The same vrid is fine on another family; v4 inherits VRRPv2 from global.
    expect(c.instances.v4).toMatchObject({ version: 2, adverIntervalMs: 3000, family: "ipv4" });
    expect(c.syncGroups.both).toMatchObject({ instances: ["v6", "v4"], notify: { any: "/etc/vipd/g.sh" } });
  });

  it("follows YAML anchors and aliases", () => {
    const text = `
instances:
  a:
    interface: eth0
    vrid: 1
    virtual_ips: &vips [192.0.2.200/24]
  b:
    interface: eth1
    vrid: 1
    virtual_ips: *vips
`;
    // Same VIP twice is refused even through an alias, pointing at the alias.
    expect(() => loadConfigText(text, "a.yaml")).toThrow(
      'a.yaml:10:18: instances.b.virtual_ips[0]: 192.0.2.200 is also a virtual IP of instance "a"',
    );
  });

  it("loadConfigFile reports an unreadable file with its own code", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vipd-cfg-"));
    try {
      await expect(loadConfigFile(join(dir, "missing.yaml"))).rejects.toMatchObject({
        code: "CONFIG_UNREADABLE",
        issues: [
          {
            file: join(dir, "missing.yaml"),
            line: 1,
            col: 1,
            message: "cannot read the config: no such file",
          },
        ],
      });
      const file = join(dir, "ok.yaml");
      await writeFile(file, minimal);
      expect((await loadConfigFile(file)).instances.web?.vrid).toBe(51);
      await writeFile(file, "instances: {}\nbad: 1\n");
      const err = await loadConfigFile(file).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues[0]).toEqual({ file, line: 2, col: 1, message: "bad: unknown key" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("toRouterOptions", () => {
  const text = `
instances:
  web:
    interface: eth0
    vrid: 51
    priority: 150
    advert_interval: 100ms
    preempt_delay: 2s
    accept: true
    virtual_ips: [192.0.2.200/24, 192.0.2.201]
    virtual_ips_excluded: [192.0.2.202/24]
  uni:
    interface: eth0
    vrid: 52
    unicast_src_ip: 192.0.2.11
    unicast_peers: [192.0.2.12]
    virtual_ips: [192.0.2.210/24]
`;
  const config = loadConfigText(text, "t.yaml");

  it("maps an instance onto the core options", () => {
    expect(toRouterOptions(config, "web", { primaryAddress: "192.0.2.11" })).toEqual({
      name: "web",
      vrid: 51,
      family: "ipv4",
      version: 3,
      priority: 150,
      adverIntervalMs: 100,
      preempt: true,
      preemptDelayMs: 2000,
      acceptMode: true,
      primaryAddress: "192.0.2.11",
      vips: ["192.0.2.200/24", "192.0.2.201/32"],
      fencing: false,
      fenceRetryMs: 1000,
      fenceRetryMaxMs: 60_000,
    });
  });

  it("prefers unicast_src_ip over the interface address", () => {
    expect(toRouterOptions(config, "uni", { primaryAddress: "192.0.2.99" }).primaryAddress).toBe(
      "192.0.2.11",
    );
  });

  it("refuses an unknown instance or a primary address of the wrong family", () => {
    expect(() => toRouterOptions(config, "nope", { primaryAddress: "192.0.2.11" })).toThrow(
      'no instance "nope"',
    );
    expect(() => toRouterOptions(config, "web", { primaryAddress: "2001:db8::11" })).toThrow("is not ipv4");
  });
});

describe("shipped configs", () => {
  const examples = readdirSync(new URL("examples/", repo)).filter((f) => f.endsWith(".yaml"));

  it("has the two-node, active-active and N+1 sets", () => {
    expect(examples).toEqual(
      expect.arrayContaining([
        "two-node-lb1.yaml",
        "two-node-lb2.yaml",
        "active-active-lb1.yaml",
        "active-active-lb2.yaml",
        "n-plus-one-lb1.yaml",
        "n-plus-one-lb2.yaml",
        "n-plus-one-lb3.yaml",
      ]),
    );
  });

  it.each(examples)("examples/%s is valid and uses 192.0.2.0/24", async (name) => {
    const c = await loadConfigFile(new URL(`examples/${name}`, repo).pathname);
    for (const inst of Object.values(c.instances)) {
      for (const v of inst.virtualIps) expect(v.address).toMatch(/^192\.0\.2\.\d+$/);
      for (const p of inst.unicastPeers ?? []) expect(p).toMatch(/^192\.0\.2\.\d+$/);
    }
  });

  it("each set elects exactly one master per instance (distinct priorities)", async () => {
    for (const set of ["two-node", "active-active", "n-plus-one"]) {
      const configs = await Promise.all(
        examples
          .filter((f) => f.startsWith(`${set}-`))
          .map((f) => loadConfigFile(new URL(`examples/${f}`, repo).pathname)),
      );
      expect(configs.length).toBeGreaterThanOrEqual(2);
      const names = Object.keys(configs[0]!.instances);
      for (const name of names) {
        const prios = configs.map((c) => c.instances[name]!.priority);
        expect(new Set(prios).size, `${set} ${name}`).toBe(prios.length);
      }
      if (set !== "two-node") {
        // Active-active and N+1: different nodes are master of different instances.
        const masters = names.map((n) => {
          const prios = configs.map((c) => c.instances[n]!.priority);
          return prios.indexOf(Math.max(...prios));
        });
        expect(new Set(masters).size, set).toBe(names.length);
      }
    }
  });

  it("the example in docs/config.md is valid", () => {
    const doc = readFileSync(new URL("docs/config.md", repo), "utf8");
    const block = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBeDefined();
    const c = loadConfigText(block!, "docs/config.md");
    expect(Object.keys(c.instances).length).toBeGreaterThan(0);
  });
});
