// The keepalived.conf the lab writes, and the inputs it refuses (no root needed).
import { describe, expect, it } from "vitest";
import { type KeepalivedInstance, renderKeepalivedConfig } from "./keepalived.js";
import type { LabHost } from "./netns.js";

const host = { name: "a", ifname: "eth0" } as LabHost;
const base: KeepalivedInstance = {
  name: "VI_1",
  vrid: 51,
  priority: 150,
  advertIntMs: 100,
  version: 3,
  virtualIps: ["192.0.2.200/24"],
};

describe("renderKeepalivedConfig", () => {
  it("writes a VRRPv3 instance with fractional advert_int and the options asked for", () => {
    const text = renderKeepalivedConfig(host, {
      instances: [
        {
          ...base,
          nopreempt: true,
          preemptDelayMs: 2500,
          unicastPeers: ["192.0.2.12"],
          unicastSrcIp: "192.0.2.11",
          checksumForm: "message-only",
        },
      ],
      globalDefs: ["vrrp_garp_master_delay 1"],
    });
    expect(text).toContain("router_id a");
    expect(text).toContain("vrrp_garp_master_delay 1");
    for (const line of [
      "vrrp_instance VI_1 {",
      "state BACKUP",
      "interface eth0",
      "virtual_router_id 51",
      "priority 150",
      "advert_int 0.1",
      "version 3",
      "nopreempt",
      "preempt_delay 2.5",
      "v3_checksum_as_v2",
      "unicast_src_ip 192.0.2.11",
      "unicast_peer {",
      "192.0.2.12",
      "192.0.2.200/24 dev eth0",
    ]) {
      expect(text.split("\n").map((l) => l.trim())).toContain(line);
    }
    expect(text).not.toContain("vrrp_strict");
  });

  it("writes whole seconds for VRRPv2 and IPv6 VIPs for v3", () => {
    expect(renderKeepalivedConfig(host, { instances: [{ ...base, version: 2, advertIntMs: 1000 }] })).toMatch(
      /advert_int 1\n/,
    );
    expect(
      renderKeepalivedConfig(host, { instances: [{ ...base, virtualIps: ["2001:db8::200/64"] }] }),
    ).toContain("2001:db8::200/64 dev eth0");
  });

  it.each<[string, Partial<KeepalivedInstance>, RegExp]>([
    ["bad name", { name: "VI 1" }, /name must match/],
    ["vrid 0", { vrid: 0 }, /vrid 0 is not in 1..255/],
    ["vrid 256", { vrid: 256 }, /vrid 256/],
    ["priority 0", { priority: 0 }, /priority 0/],
    ["v3 interval not in cs", { advertIntMs: 105 }, /multiple of 10/],
    ["v3 interval too long", { advertIntMs: 41000 }, /multiple of 10/],
    ["v2 fractional interval", { version: 2, advertIntMs: 500 }, /whole seconds/],
    ["no VIP", { virtualIps: [] }, /at least one virtual IP/],
    ["mixed families", { virtualIps: ["192.0.2.200", "2001:db8::200"] }, /mixes IPv4 and IPv6/],
    [
      "IPv6 with v2",
      { version: 2, advertIntMs: 1000, virtualIps: ["2001:db8::200"] },
      /IPv6 needs VRRP version 3/,
    ],
    ["empty unicast peers", { unicastPeers: [] }, /unicastPeers is empty/],
    ["peer of the wrong family", { unicastPeers: ["2001:db8::12"] }, /wrong family/],
    [
      "message-only on v2",
      { version: 2, advertIntMs: 1000, checksumForm: "message-only" },
      /VRRPv3 IPv4 only/,
    ],
    ["braces in an extra line", { extraLines: ["track_script { x }"] }, /braces or newlines/],
  ])("refuses %s", (_what, change, message) => {
    expect(() => renderKeepalivedConfig(host, { instances: [{ ...base, ...change }] })).toThrow(message);
  });

  it("refuses the same instance name twice and braces in global_defs", () => {
    expect(() => renderKeepalivedConfig(host, { instances: [base, { ...base, vrid: 52 }] })).toThrow(
      /used twice/,
    );
    expect(() => renderKeepalivedConfig(host, { instances: [base], globalDefs: ["x }"] })).toThrow(/braces/);
  });
});
