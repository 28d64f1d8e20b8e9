import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { importKeepalived, KeepalivedImportError } from "../../src/config/keepalived/index.js";

const corpusDir = fileURLToPath(new URL("../fixtures/keepalived/", import.meta.url));
const sharedDir = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
const loaderFile = fileURLToPath(new URL("../../src/config/index.ts", import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: the converted YAML is inspected as plain data
type Yaml = any;

async function convert(rel: string): Promise<{ doc: Yaml; yaml: string; warnings: string[] }> {
  const { yaml, warnings } = await importKeepalived(join(corpusDir, rel));
  return {
    doc: parse(yaml),
    yaml,
    // `file:line: keyword: why`, with the file shortened to its base name
    warnings: warnings.map((w) => `${basename(w.file)}:${w.line}: ${w.message}`),
  };
}

async function expectError(rel: string, code: string, where: RegExp): Promise<KeepalivedImportError> {
  const err = await importKeepalived(join(corpusDir, rel)).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeepalivedImportError);
  const e = err as KeepalivedImportError;
  expect(e.code).toBe(code);
  expect(e.message).toMatch(where);
  return e;
}

/** Every corpus file with the warnings it must produce (file:line: keyword prefix). */
const CORPUS: Record<string, string[]> = {
  "simple-lb1.conf": [],
  "simple-lb2.conf": [],
  "unicast.conf": [],
  "ipv6.conf": ["ipv6.conf:16: 2001:db8:10::102/64 label: labels apply to IPv4 only"],
  "vrrpv2-auth.conf": ["vrrpv2-auth.conf:13: authentication: VRRPv2 authentication is not implemented"],
  "sync-group.conf": [
    "sync-group.conf:15: notify_master: vipd runs /etc/keepalived/conntrackd.sh without the arguments 'primary'",
    "sync-group.conf:16: notify_backup: vipd runs /etc/keepalived/conntrackd.sh without the arguments 'backup'",
  ],
  "scripts-weights.conf": [
    "scripts-weights.conf:4: script_user: group haproxy not carried over",
    "scripts-weights.conf:43: track_script chk_missing: no vrrp_script of that name",
  ],
  "track-files.conf": ["track-files.conf:9: init_file: vipd does not create the file"],
  "active-active.conf": [],
  "notify.conf": [
    "notify.conf:15: notify_master: vipd runs /etc/keepalived/notify.sh without the arguments 'MASTER VI_N'",
    "notify.conf:16: notify_backup: vipd runs /etc/keepalived/notify.sh without the arguments 'BACKUP VI_N'",
    "notify.conf:17: notify_fault: vipd runs /etc/keepalived/notify.sh without the arguments 'FAULT VI_N'",
    "notify.conf:20: smtp_alert: e-mail notification is not part of vipd",
  ],
  "lvs.conf": [
    "lvs.conf:4: notification_email: e-mail",
    "lvs.conf:7: notification_email_from: e-mail",
    "lvs.conf:8: smtp_server: e-mail",
    "lvs.conf:9: smtp_connect_timeout: e-mail",
    "lvs.conf:19: lvs_sync_daemon_interface: LVS load balancing is not part of vipd",
    "lvs.conf:25: virtual_server 198.51.100.40 80: LVS load balancing is not part of vipd",
  ],
  "odd-formatting.conf": ["odd-formatting.conf:14: state: extra words ignored: ; interface eth0"],
  "garp-tuning.conf": ["garp-tuning.conf:8: vrrp_gna_interval: vipd spaces ARP and NA"],
  "vmac-strict.conf": [
    "vmac-strict.conf:3: vrrp_strict: vipd has no strict mode",
    "vmac-strict.conf:5: vrrp_mcast_group4: vipd always uses the standard group",
    "vmac-strict.conf:11: use_vmac: vipd adds the VIPs to the interface itself",
    "vmac-strict.conf:12: vmac_xmit_base: vipd adds the VIPs",
    "vmac-strict.conf:16: mcast_src_ip: vipd sends multicast adverts",
    "vmac-strict.conf:17: dont_track_primary: vipd always tracks",
    "vmac-strict.conf:21: virtual_routes: vipd does not manage routes",
  ],
  "excluded-mixed.conf": [
    "excluded-mixed.conf:18: 192.0.2.67/24 brd: address option not supported",
    "excluded-mixed.conf:15: virtual_ipaddress 2001:db8:66::1/64: IPv6 address in an IPv4 instance; vipd keeps one family",
    "excluded-mixed.conf:20: virtual_ipaddress_excluded 2001:db8:67::1/64: IPv6 address in an IPv4 instance",
  ],
  "variables.conf": ["variables.conf:14: @lb1: conditional configuration lines are not carried over"],
  "includes/keepalived.conf": ["keepalived.conf:10: include: pattern optional.d/*.conf matches no file"],
};

describe("import-keepalived corpus", () => {
  it("has at least 15 corpus files", () => {
    expect(Object.keys(CORPUS).length).toBeGreaterThanOrEqual(15);
  });

  for (const [file, expected] of Object.entries(CORPUS)) {
    it(`${file}: exactly the expected warnings, each also a YAML comment`, async () => {
      const { yaml, warnings } = await convert(file);
      expect(warnings).toHaveLength(expected.length);
      expected.forEach((prefix, k) => {
        expect(warnings[k]).toMatch(/^[\w.-]+:\d+: \S.*: \S/);
        expect(warnings[k]!.startsWith(prefix), `${warnings[k]} should start with ${prefix}`).toBe(true);
        // the comment carries the same text next to the place
        const text = warnings[k]!.slice(warnings[k]!.indexOf(": ") + 2);
        expect(yaml).toContain(text);
      });
    });
  }

  it("output is stable: the same input gives byte-identical YAML", async () => {
    for (const file of Object.keys(CORPUS)) {
      const a = await importKeepalived(join(corpusDir, file));
      const b = await importKeepalived(join(corpusDir, file));
      expect(a.yaml).toBe(b.yaml);
    }
  });
});

describe("import-keepalived conversion", () => {
  it("simple pair lb1: globals, instance keys, VIP with dev", async () => {
    const { doc } = await convert("simple-lb1.conf");
    expect(doc.global).toEqual({
      router_id: "lb1",
      vrrp_version: 3,
      script_user: "root",
      enable_script_security: true,
    });
    expect(doc.instances.VI_WEB).toEqual({
      interface: "eth0",
      vrid: 51,
      priority: 150,
      advert_interval: "1s",
      state: "MASTER",
      accept: true,
      virtual_ips: [{ address: "192.0.2.100/24", dev: "eth0" }],
    });
  });

  it("simple pair lb2: keepalived's defaults are written out (v2, /32, priority, accept)", async () => {
    const { doc, yaml } = await convert("simple-lb2.conf");
    expect(doc.global.vrrp_version).toBe(2);
    expect(yaml).toContain("vrrp_version: 2 is keepalived's default");
    const vi = doc.instances.VI_WEB;
    expect(vi.virtual_ips).toEqual(["192.0.2.100/32"]);
    expect(vi.priority).toBe(100);
    expect(vi.accept).toBe(true);
    expect(vi.state).toBe("BACKUP");
  });

  it("unicast: source and peers", async () => {
    const { doc } = await convert("unicast.conf");
    const vi = doc.instances.VI_UNI;
    expect(vi.unicast_src_ip).toBe("198.51.100.11");
    expect(vi.unicast_peers).toEqual(["198.51.100.12", "198.51.100.13"]);
    expect(vi.interface).toBe("ens192");
  });

  it("IPv6: /128 default prefix, label dropped", async () => {
    const { doc } = await convert("ipv6.conf");
    expect(doc.instances.VI_V6.virtual_ips).toEqual([
      { address: "2001:db8:10::100/64", dev: "eth0" },
      "2001:db8:10::101/128",
      "2001:db8:10::102/64",
    ]);
  });

  it("VRRPv2 with auth: version, interval in seconds, label kept", async () => {
    const { doc } = await convert("vrrpv2-auth.conf");
    const vi = doc.instances.VI_LEGACY;
    expect(vi.version).toBe(2);
    expect(vi.advert_interval).toBe("2s");
    expect(vi.virtual_ips).toEqual([{ address: "192.0.2.1/24", dev: "eth1", label: "eth1:gw" }]);
    expect(vi).not.toHaveProperty("authentication");
  });

  it("sync group: members and notify", async () => {
    const { doc } = await convert("sync-group.conf");
    expect(doc.sync_groups).toEqual({
      VG_FW: {
        instances: ["VI_OUTSIDE", "VI_INSIDE"],
        notify: "/etc/keepalived/group-notify.sh",
        notify_master: "/etc/keepalived/conntrackd.sh",
        notify_backup: "/etc/keepalived/conntrackd.sh",
      },
    });
    expect(Object.keys(doc.instances)).toEqual(["VI_OUTSIDE", "VI_INSIDE"]);
    expect(doc.global.script_user).toBe("keepalived_script");
  });

  it("scripts with weights: argv split, durations, per-instance weights, dangling reference dropped", async () => {
    const { doc } = await convert("scripts-weights.conf");
    expect(doc.track_scripts.chk_haproxy).toEqual({
      script: ["/usr/bin/pgrep", "-x", "haproxy"],
      interval: "2s",
      timeout: "1s",
      rise: 2,
      fall: 2,
      weight: -20,
    });
    expect(doc.track_scripts.chk_backend.script).toEqual([
      "/usr/local/bin/check-backend",
      "--url",
      "http://198.51.100.20/health",
      "--timeout",
      "1",
    ]);
    expect(doc.track_scripts.chk_pipe.script).toEqual(["/bin/sh", "-c", "ss -ltn | grep -q :443"]);
    const vi = doc.instances.VI_HAP;
    expect(vi.track_interfaces).toEqual(["eth0", { name: "eth1", weight: -10 }]);
    expect(vi.track_scripts).toEqual(["chk_haproxy", { name: "chk_backend", weight: 5 }, "chk_pipe"]);
  });

  it("track files: both block spellings, instance references", async () => {
    const { doc } = await convert("track-files.conf");
    expect(doc.track_files).toEqual({
      maint: { file: "/var/run/keepalived/maint", weight: 1 },
      drain: { file: "/var/run/keepalived/drain", weight: -50 },
    });
    expect(doc.instances.VI_M.track_files).toEqual(["maint", { name: "drain", weight: -100 }]);
    expect(doc.instances.VI_M.virtual_ips).toEqual(["192.0.2.80/24"]);
  });

  it("active-active: two instances, names and order preserved, nopreempt", async () => {
    const { doc } = await convert("active-active.conf");
    expect(Object.keys(doc.instances)).toEqual(["VI_A", "VI_B"]);
    expect(doc.instances.VI_A).toMatchObject({ vrid: 31, priority: 150, state: "MASTER" });
    expect(doc.instances.VI_B).toMatchObject({ vrid: 32, priority: 100, nopreempt: true });
    expect(doc.instances.VI_A).not.toHaveProperty("nopreempt");
  });

  it("notify scripts: the path is kept, arguments are warned about", async () => {
    const { doc } = await convert("notify.conf");
    expect(doc.instances.VI_N).toMatchObject({
      notify: "/etc/keepalived/notify-all.sh",
      notify_master: "/etc/keepalived/notify.sh",
      notify_backup: "/etc/keepalived/notify.sh",
      notify_fault: "/etc/keepalived/notify.sh",
      notify_stop: "/etc/keepalived/stop.sh",
    });
  });

  it("LVS: the virtual_server is only a comment at the top, the VRRP part converts", async () => {
    const { doc, yaml } = await convert("lvs.conf");
    expect(Object.keys(doc)).toEqual(["global", "instances"]);
    expect(doc.instances.VI_LVS.vrid).toBe(40);
    expect(yaml.indexOf("virtual_server 198.51.100.40 80")).toBeLessThan(yaml.indexOf("global:"));
    expect(yaml).not.toContain("real_server");
  });

  it("odd formatting: brace on next line, CRLF, comments, quoted names, one-line block", async () => {
    const { doc } = await convert("odd-formatting.conf");
    expect(doc.global.router_id).toBe("odd-one");
    expect(doc.track_scripts.chk_svc).toEqual({
      script: ["/usr/bin/systemctl", "is-active", "--quiet", "nginx"],
      interval: "1500ms",
    });
    expect(doc.instances.VI_ODD).toMatchObject({
      interface: "eth0",
      vrid: 99,
      advert_interval: "250ms",
      virtual_ips: ["192.0.2.99/24"],
      track_scripts: [{ name: "chk_svc", weight: -2 }],
    });
  });

  it("garp tuning: global and per-instance announcement settings, sub-second advert, preempt delay", async () => {
    const { doc } = await convert("garp-tuning.conf");
    expect(doc.global).toMatchObject({
      garp_master_delay: "10s",
      garp_master_repeat: 3,
      garp_master_refresh: "60s",
      garp_interval: "1ms",
    });
    expect(doc.instances.VI_G).toMatchObject({
      advert_interval: "500ms",
      nopreempt: true,
      preempt_delay: "30s",
      garp_master_delay: "2s",
      garp_master_repeat: 4,
      garp_master_refresh: "30s",
      virtual_ips: [{ address: "192.0.2.77/25", dev: "bond0" }],
    });
  });

  it("strict mode turns the accept default off", async () => {
    const { doc } = await convert("vmac-strict.conf");
    expect(doc.instances.VI_S.accept).toBe(false);
    expect(doc.instances.VI_S).not.toHaveProperty("use_vmac");
  });

  it("excluded addresses, family mixing, explicit accept / no_accept", async () => {
    const { doc } = await convert("excluded-mixed.conf");
    expect(doc.instances.VI_DUAL.virtual_ips).toEqual([{ address: "192.0.2.66/24", dev: "eth0" }]);
    expect(doc.instances.VI_DUAL.virtual_ips_excluded).toEqual([
      { address: "192.0.2.67/24", dev: "eth0" },
      { address: "198.51.100.67/24", dev: "eth1" },
    ]);
    expect(doc.instances.VI_DUAL.accept).toBe(true);
    expect(doc.instances.VI_NOACC.accept).toBe(false);
  });

  it("$NAME definitions are substituted, conditional lines skipped", async () => {
    const { doc } = await convert("variables.conf");
    expect(doc.instances.VI_VARS).toMatchObject({
      interface: "eth2",
      priority: 100,
      virtual_ips: [{ address: "192.0.2.44/24", dev: "eth2" }],
    });
  });

  it("includes: globs relative to the including file, sorted, nested, dotfiles skipped", async () => {
    const { doc } = await convert("includes/keepalived.conf");
    expect(Object.keys(doc.instances)).toEqual(["VI_INC_WEB", "VI_INC_DB"]);
    expect(doc.instances.VI_INC_DB.virtual_ips).toEqual([{ address: "192.0.2.12/24", dev: "eth0" }]);
    expect(doc.instances.VI_INC_WEB.track_scripts).toEqual(["chk_dns"]);
    expect(doc.track_scripts.chk_dns.script).toEqual([
      "/usr/bin/dig",
      "+short",
      "@192.0.2.53",
      "example.com",
    ]);
  });
});

describe("import-keepalived on the real keepalived configs in shared/fixtures", () => {
  const files = existsSync(sharedDir)
    ? ["keepalived-vrrpv2-ipv4", "keepalived-vrrpv3-ipv4", "keepalived-vrrpv3-ipv6"]
    : [];
  it.runIf(files.length > 0)("converts every lb1/lb2 config with the wire-relevant values", async () => {
    for (const name of files) {
      for (const host of ["lb1", "lb2"]) {
        const path = join(sharedDir, `${name}.${host}.keepalived.conf`);
        const { yaml, warnings } = await importKeepalived(path);
        expect(warnings).toEqual([]);
        const doc = parse(yaml);
        const [instName, vi] = Object.entries(doc.instances)[0] as [string, Yaml];
        expect(instName).toMatch(/^VI_5[123]$/);
        expect(vi.priority).toBe(host === "lb1" ? 200 : 100);
        expect(vi.version).toBe(name.includes("vrrpv2") ? 2 : 3);
        expect(vi.advert_interval).toBe("1s");
        expect(doc.global.router_id).toBe(host);
      }
    }
  });
});

// The converted YAML must pass vipd's own loader; this runs as soon as src/config/index.ts has it.
const loaderReady = existsSync(loaderFile) && readFileSync(loaderFile, "utf8").includes("loadConfigText");
describe.runIf(loaderReady)("converted YAML passes loadConfigText", () => {
  let loadConfigText: (text: string, file: string) => unknown;
  beforeAll(async () => {
    const mod = (await import(loaderFile)) as { loadConfigText: typeof loadConfigText };
    loadConfigText = mod.loadConfigText;
  });
  for (const file of Object.keys(CORPUS)) {
    it(file, async () => {
      const { yaml } = await importKeepalived(join(corpusDir, file));
      expect(() => loadConfigText(yaml, `${file}.yaml`)).not.toThrow();
    });
  }
});

describe("import-keepalived bad inputs", () => {
  it("a vipd YAML file is NOT_KEEPALIVED at the first YAML key", async () => {
    await expectError(
      "bad/vipd.yaml",
      "NOT_KEEPALIVED",
      /vipd\.yaml:2: 'global:' is not a keepalived keyword/,
    );
  });
  it("a JSON file is NOT_KEEPALIVED at line 1", async () => {
    await expectError(
      "bad/config.json",
      "NOT_KEEPALIVED",
      /config\.json:1: '\{' opens a block with no keyword/,
    );
  });
  it("an unclosed brace points at the block that stays open", async () => {
    const e = await expectError(
      "bad/unbalanced-open.conf",
      "NOT_KEEPALIVED",
      /unbalanced-open\.conf:5: .* never closed/,
    );
    expect(e.line).toBe(5);
  });
  it("an extra closing brace points at it", async () => {
    await expectError(
      "bad/unbalanced-close.conf",
      "NOT_KEEPALIVED",
      /unbalanced-close\.conf:5: '\}' closes no block/,
    );
  });
  it("an unterminated quote", async () => {
    await expectError(
      "bad/unterminated-quote.conf",
      "NOT_KEEPALIVED",
      /unterminated-quote\.conf:2: unterminated/,
    );
  });
  it("a file with only comments has no keepalived section", async () => {
    await expectError(
      "bad/comments-only.conf",
      "NOT_KEEPALIVED",
      /comments-only\.conf:1: no keepalived section/,
    );
  });
  it("a missing include names the include line and the file", async () => {
    await expectError(
      "bad/missing-include.conf",
      "INCLUDE_NOT_FOUND",
      /missing-include\.conf:4: include: file .*does-not-exist\.conf does not exist/,
    );
  });
  it("an include cycle names the chain", async () => {
    await expectError(
      "bad/cycle-a.conf",
      "INCLUDE_CYCLE",
      /cycle-b\.conf:4: include cycle: .*cycle-a\.conf -> .*cycle-b\.conf -> .*cycle-a\.conf/,
    );
  });
  it("a file that includes itself through a glob", async () => {
    await expectError("bad/self-include.conf", "INCLUDE_CYCLE", /self-include\.conf:4: include cycle/);
  });
  it("a missing top-level file is UNREADABLE", async () => {
    await expectError("bad/no-such-file.conf", "UNREADABLE", /no-such-file\.conf:0: file does not exist/);
  });
});

describe("import-keepalived values that cannot be carried", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "vipd-import-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function convertText(text: string): Promise<{ doc: Yaml; warnings: string[] }> {
    const path = join(dir, `case-${Math.random().toString(36).slice(2)}.conf`);
    await writeFile(path, text);
    const { yaml, warnings } = await importKeepalived(path);
    return { doc: parse(yaml), warnings: warnings.map((w) => `${w.line}: ${w.message}`) };
  }

  it("out-of-range and malformed numbers are dropped with a warning", async () => {
    const { doc, warnings } = await convertText(
      [
        "vrrp_instance X {",
        "  interface eth0",
        "  virtual_router_id 300",
        "  priority high",
        "  advert_int 0.015",
        "  version 3",
        "  virtual_ipaddress {",
        "    192.0.2.5/33",
        "    not-an-address",
        "    192.0.2.6/24 scope link",
        "  }",
        "}",
      ].join("\n"),
    );
    expect(warnings).toEqual([
      "3: virtual_router_id: 300 is outside 1..255; not carried over",
      "4: priority: 'high' is not an integer; not carried over",
      "5: advert_int: 0.015s rounded to 20ms",
      "8: 192.0.2.5/33: '/33' is not a valid prefix length; not carried over",
      "9: not-an-address: not an IP address; not carried over",
      "10: 192.0.2.6/24 scope: address option not supported; not carried over",
      "1: vrrp_instance X: has no virtual_router_id",
    ]);
    expect(doc.instances.X.virtual_ips).toEqual(["192.0.2.6/24"]);
    expect(doc.instances.X.advert_interval).toBe("20ms");
    expect(doc.instances.X.priority).toBe(100);
  });

  it("unknown keywords are warned about at every level", async () => {
    const { warnings } = await convertText(
      [
        "global_defs {",
        "  router_id a",
        "  frobnicate 1",
        "}",
        "vrrp_instnace typo {",
        "}",
        "vrrp_instance Y {",
        "  interface eth0",
        "  virtual_router_id 5",
        "  wibble",
        "  virtual_ipaddress {",
        "    192.0.2.7",
        "  }",
        "}",
      ].join("\n"),
    );
    expect(warnings).toEqual([
      "3: frobnicate: no vipd equivalent; not carried over",
      "5: vrrp_instnace typo: unknown keepalived keyword; not carried over",
      "10: wibble: no vipd equivalent; not carried over",
    ]);
  });

  it("shell syntax in a script is flagged, since vipd runs no shell", async () => {
    const { doc, warnings } = await convertText(
      ["vrrp_script s {", '  script "/usr/bin/test -f /run/up && exit 0"', "}"].join("\n"),
    );
    expect(doc.track_scripts.s.script).toEqual(["/usr/bin/test", "-f", "/run/up", "&&", "exit", "0"]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^2: script: contains shell syntax/);
  });

  it("comment characters inside quotes are text, outside they end the line", async () => {
    const { doc } = await convertText(
      ["vrrp_script s {", '  script "/bin/echo #1 !2" # trailing', "  weight -5 ! bang", "}"].join("\n"),
    );
    expect(doc.track_scripts.s).toEqual({ script: ["/bin/echo", "#1", "!2"], weight: -5 });
  });

  it("a sync group member that does not exist is dropped with a warning", async () => {
    const { doc, warnings } = await convertText(
      [
        "vrrp_instance A {",
        "  interface eth0",
        "  virtual_router_id 9",
        "  virtual_ipaddress {",
        "    192.0.2.9/24",
        "  }",
        "}",
        "vrrp_sync_group G {",
        "  group {",
        "    A",
        "    B",
        "  }",
        "}",
      ].join("\n"),
    );
    expect(doc.sync_groups.G.instances).toEqual(["A"]);
    expect(warnings).toEqual(["11: group B: no vrrp_instance of that name; dropped"]);
  });

  it("glob character classes and nested directories", async () => {
    const sub = join(dir, "globs");
    await mkdir(join(sub, "a1"), { recursive: true });
    await mkdir(join(sub, "b1"), { recursive: true });
    const inst = (n: string, id: number): string =>
      `vrrp_instance ${n} {\n interface eth0\n virtual_router_id ${id}\n virtual_ipaddress {\n  192.0.2.${id}/24\n }\n}\n`;
    await writeFile(join(sub, "a1", "x.conf"), inst("AX", 21));
    await writeFile(join(sub, "b1", "x.conf"), inst("BX", 22));
    await writeFile(join(sub, "a1", "y.txt"), inst("AY", 23));
    await writeFile(join(sub, "main.conf"), "global_defs {\n router_id g\n}\ninclude [ab]?/*.conf\n");
    const { yaml, warnings } = await importKeepalived(join(sub, "main.conf"));
    expect(warnings).toEqual([]);
    expect(Object.keys(parse(yaml).instances)).toEqual(["AX", "BX"]);
  });
});
