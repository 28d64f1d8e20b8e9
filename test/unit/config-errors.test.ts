// Every kind of bad vipd.yaml gets a precise file:line:col and message.
import { describe, expect, it } from "vitest";

import { ConfigError, formatIssue, loadConfigText } from "../../src/config/index.js";

function errorsOf(text: string): string[] {
  try {
    loadConfigText(text, "vipd.yaml");
  } catch (e) {
    if (e instanceof ConfigError) {
      expect(e.code).toBe("CONFIG_INVALID");
      return e.issues.map(formatIssue);
    }
    throw e;
  }
  throw new Error("expected the config to be refused");
}

/** One instance with the lines after `web:`; the first of them is line 4. */
const web = (...lines: string[]) =>
  ["instances:", "  # comment", "  web:", ...lines.map((l) => `    ${l}`)].join("\n");

const cases: { name: string; text: string; errors: string[] }[] = [
  {
    name: "YAML syntax error",
    text: "instances:\n  web: [eth0\n",
    errors: [
      "vipd.yaml:3:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ],
  },
  {
    name: "duplicate key",
    text: web("interface: eth0", "vrid: 1", "vrid: 2", "virtual_ips: [192.0.2.200]"),
    errors: ["vipd.yaml:6:5: YAML: Map keys must be unique"],
  },
  {
    name: "empty file",
    text: "# nothing here\n",
    errors: ['vipd.yaml:1:1: the file is empty: at least "instances" is required'],
  },
  {
    name: "top level is a list",
    text: "- instances\n",
    errors: ["vipd.yaml:1:1: the top level must be a mapping (global, instances, ...)"],
  },
  {
    name: "missing instances, misspelt top-level key",
    text: "global:\n  router_id: lb1\ninstance:\n  web: {}\n",
    errors: [
      'vipd.yaml:1:1: missing required key "instances"',
      'vipd.yaml:3:1: instance: unknown key (did you mean "instances"?)',
    ],
  },
  {
    name: "misspelt instance key",
    text: web("interface: eth0", "vrid: 1", "priorty: 100", "virtual_ips: [192.0.2.200]"),
    errors: ['vipd.yaml:6:5: instances.web.priorty: unknown key (did you mean "priority"?)'],
  },
  {
    name: "missing vrid points at the instance",
    text: web("interface: eth0", "virtual_ips: [192.0.2.200]"),
    errors: ['vipd.yaml:3:3: instances.web: missing required key "vrid"'],
  },
  {
    name: "vrid out of range",
    text: web("interface: eth0", "vrid: 256", "virtual_ips: [192.0.2.200]"),
    errors: ["vipd.yaml:5:11: instances.web.vrid: must be an integer from 1 to 255 (got 256)"],
  },
  {
    name: "priority zero",
    text: web("interface: eth0", "vrid: 1", "priority: 0", "virtual_ips: [192.0.2.200]"),
    errors: ["vipd.yaml:6:15: instances.web.priority: must be an integer from 1 to 255 (got 0)"],
  },
  {
    name: "fractional priority",
    text: web("interface: eth0", "vrid: 1", "priority: 1.5", "virtual_ips: [192.0.2.200]"),
    errors: ["vipd.yaml:6:15: instances.web.priority: must be an integer from 1 to 255 (got 1.5)"],
  },
  {
    name: "track script weight out of range",
    text: `track_scripts:\n  chk:\n    script: /bin/true\n    weight: 254\n${web("interface: eth0", "vrid: 1", "virtual_ips: [192.0.2.200]")}`,
    errors: ["vipd.yaml:4:13: track_scripts.chk.weight: must be an integer from -253 to 253 (got 254)"],
  },
  {
    name: "duration without a known unit",
    text: web("interface: eth0", "vrid: 1", "advert_interval: 1 sec", "virtual_ips: [192.0.2.200]"),
    errors: [
      'vipd.yaml:6:22: instances.web.advert_interval: must be a duration like 1s, 1.5s, 10ms or 2m (got "1 sec")',
    ],
  },
  {
    name: "duration finer than a millisecond",
    text: web("interface: eth0", "vrid: 1", "preempt_delay: 1.0005s", "virtual_ips: [192.0.2.200]"),
    errors: [
      'vipd.yaml:6:20: instances.web.preempt_delay: must be a whole number of milliseconds (got "1.0005s")',
    ],
  },
  {
    name: "negative duration",
    text: web("interface: eth0", "vrid: 1", "preempt_delay: -1", "virtual_ips: [192.0.2.200]"),
    errors: ["vipd.yaml:6:20: instances.web.preempt_delay: must not be negative (got -1)"],
  },
  {
    name: "VRRPv3 interval not in 10 ms steps",
    text: web("interface: eth0", "vrid: 1", "advert_interval: 15ms", "virtual_ips: [192.0.2.200]"),
    errors: [
      "vipd.yaml:6:22: instances.web.advert_interval: VRRPv3 needs 10ms..40.95s in steps of 10ms (got 15ms)",
    ],
  },
  {
    name: "VRRPv3 interval too long",
    text: web("interface: eth0", "vrid: 1", "advert_interval: 41s", "virtual_ips: [192.0.2.200]"),
    errors: [
      "vipd.yaml:6:22: instances.web.advert_interval: VRRPv3 needs 10ms..40.95s in steps of 10ms (got 41s)",
    ],
  },
  {
    name: "VRRPv2 interval not whole seconds",
    text: web(
      "interface: eth0",
      "vrid: 1",
      "version: 2",
      "advert_interval: 1.5s",
      "virtual_ips: [192.0.2.200]",
    ),
    errors: [
      "vipd.yaml:7:22: instances.web.advert_interval: VRRPv2 needs whole seconds from 1s to 255s (got 1.5s)",
    ],
  },
  {
    name: "VRRPv2 with IPv6 (version set on the instance)",
    text: web("interface: eth0", "vrid: 1", "version: 2", "virtual_ips: [2001:db8::200/64]"),
    errors: ["vipd.yaml:6:14: instances.web.version: VRRPv2 is IPv4 only (RFC 3768); use version 3 for IPv6"],
  },
  {
    name: "VRRPv2 with IPv6 (version from global)",
    text: `global:\n  vrrp_version: 2\n${web("interface: eth0", "vrid: 1", "virtual_ips: [2001:db8::200/64]")}`,
    errors: [
      "vipd.yaml:8:19: instances.web.virtual_ips[0]: VRRPv2 is IPv4 only (RFC 3768); use version 3 for IPv6",
    ],
  },
  {
    name: "mixed address families",
    text: web("interface: eth0", "vrid: 1", "virtual_ips:", "  - 192.0.2.200/24", "  - 2001:db8::200/64"),
    errors: [
      "vipd.yaml:8:9: instances.web.virtual_ips[1]: 2001:db8::200/64 is IPv6 but this instance is IPv4 (from virtual_ips[0]); use one instance per address family",
    ],
  },
  {
    name: "no virtual IPs",
    text: web("interface: eth0", "vrid: 1", "virtual_ips: []"),
    errors: ["vipd.yaml:6:18: instances.web.virtual_ips: must list at least one address"],
  },
  {
    name: "bad VIP address",
    text: web("interface: eth0", "vrid: 1", "virtual_ips: [192.0.2.300/24]"),
    errors: ['vipd.yaml:6:19: instances.web.virtual_ips[0]: "192.0.2.300" is not an IPv4 or IPv6 address'],
  },
  {
    name: "bad VIP prefix length",
    text: web("interface: eth0", "vrid: 1", "virtual_ips: [192.0.2.200/33]"),
    errors: [
      'vipd.yaml:6:19: instances.web.virtual_ips[0]: prefix length "33" must be 1..32 (got "192.0.2.200/33")',
    ],
  },
  {
    name: "unicast_peers present but empty (null)",
    text: web("interface: eth0", "vrid: 1", "unicast_peers:", "virtual_ips: [192.0.2.200]"),
    errors: [
      "vipd.yaml:6:5: instances.web.unicast_peers: is empty: list at least one peer address, or remove the key to use multicast",
    ],
  },
  {
    name: "unicast_peers an empty list",
    text: web("interface: eth0", "vrid: 1", "unicast_peers: []", "virtual_ips: [192.0.2.200]"),
    errors: [
      "vipd.yaml:6:20: instances.web.unicast_peers: is empty: list at least one peer address, or remove the key to use multicast",
    ],
  },
  {
    name: "unicast peer not an address",
    text: web("interface: eth0", "vrid: 1", "unicast_peers: [192.0.2.12, lb2]", "virtual_ips: [192.0.2.200]"),
    errors: ['vipd.yaml:6:33: instances.web.unicast_peers[1]: "lb2" is not an IPv4 or IPv6 address'],
  },
  {
    name: "unicast peer of the other family",
    text: web("interface: eth0", "vrid: 1", "unicast_peers: [2001:db8::12]", "virtual_ips: [192.0.2.200]"),
    errors: [
      "vipd.yaml:6:21: instances.web.unicast_peers[0]: 2001:db8::12 is IPv6 but this instance is IPv4",
    ],
  },
  {
    name: "vrid reused on the same interface and family",
    text: `${web("interface: eth0", "vrid: 7", "virtual_ips: [192.0.2.200]")}\n  api:\n    interface: eth0\n    vrid: 7\n    virtual_ips: [192.0.2.201]\n`,
    errors: ['vipd.yaml:9:11: instances.api.vrid: vrid 7 on eth0 (IPv4) is already used by instance "web"'],
  },
  {
    name: "VIP shared by two instances",
    text: `${web("interface: eth0", "vrid: 7", "virtual_ips: [192.0.2.200]")}\n  api:\n    interface: eth0\n    vrid: 8\n    virtual_ips: [192.0.2.200/24]\n`,
    errors: [
      'vipd.yaml:10:19: instances.api.virtual_ips[0]: 192.0.2.200 is also a virtual IP of instance "web"',
    ],
  },
  {
    name: "unknown track script, with a suggestion",
    text: `track_scripts:\n  chk_haproxy:\n    script: [/usr/bin/pgrep, haproxy]\n${web("interface: eth0", "vrid: 1", "virtual_ips: [192.0.2.200]", "track_scripts: [chk_haprxy]")}`,
    errors: [
      'vipd.yaml:10:21: instances.web.track_scripts[0]: unknown track script "chk_haprxy" (did you mean "chk_haproxy"?)',
    ],
  },
  {
    name: "unknown track file, none defined",
    text: web(
      "interface: eth0",
      "vrid: 1",
      "virtual_ips: [192.0.2.200]",
      "track_files: [{ name: maint, weight: 2 }]",
    ),
    errors: [
      'vipd.yaml:7:27: instances.web.track_files[0].name: unknown track file "maint" (no top-level track_files are defined)',
    ],
  },
  {
    name: "sync group with an unknown member",
    text: `${web("interface: eth0", "vrid: 1", "virtual_ips: [192.0.2.200]")}\nsync_groups:\n  g:\n    instances: [web, wbe]\n`,
    errors: ['vipd.yaml:9:22: sync_groups.g.instances[1]: unknown instance "wbe" (did you mean "web"?)'],
  },
  {
    name: "instance in two sync groups",
    text: `${web("interface: eth0", "vrid: 1", "virtual_ips: [192.0.2.200]")}\nsync_groups:\n  g1:\n    instances: [web]\n  g2:\n    instances: [web]\n`,
    errors: ['vipd.yaml:11:17: sync_groups.g2.instances[0]: instance "web" is already in sync group "g1"'],
  },
  {
    name: "message-only checksum on IPv6",
    text: web("interface: eth0", "vrid: 1", "checksum: message-only", "virtual_ips: [2001:db8::200/64]"),
    errors: ["vipd.yaml:6:15: instances.web.checksum: IPv6 adverts always use the pseudo-header checksum"],
  },
  {
    name: "unknown checksum form",
    text: web("interface: eth0", "vrid: 1", "checksum: rfc", "virtual_ips: [192.0.2.200]"),
    errors: ['vipd.yaml:6:15: instances.web.checksum: must be pseudo-header or message-only (got "rfc")'],
  },
  {
    name: "interface name too long",
    text: web("interface: eth0-with-a-long-name", "vrid: 1", "virtual_ips: [192.0.2.200]"),
    errors: [
      'vipd.yaml:4:16: instances.web.interface: must be an interface name (1 to 15 characters, no spaces, "/" or ":") (got "eth0-with-a-long-name")',
    ],
  },
  {
    name: "YAML 1.1 boolean spelling",
    text: web("interface: eth0", "vrid: 1", "nopreempt: yes", "virtual_ips: [192.0.2.200]"),
    errors: ['vipd.yaml:6:16: instances.web.nopreempt: must be true or false (got "yes")'],
  },
  {
    name: "relative notify path",
    text: web("interface: eth0", "vrid: 1", "notify_master: master.sh", "virtual_ips: [192.0.2.200]"),
    errors: ['vipd.yaml:6:20: instances.web.notify_master: must be an absolute path (got "master.sh")'],
  },
  {
    name: "bad metrics_listen",
    text: `global:\n  metrics_listen: localhost\n${web("interface: eth0", "vrid: 1", "virtual_ips: [192.0.2.200]")}`,
    errors: [
      "vipd.yaml:2:19: global.metrics_listen: must be address:port like 127.0.0.1:9650 or [::1]:9650, or false",
    ],
  },
  {
    name: "instance name with a space",
    text: 'instances:\n  "my web":\n    interface: eth0\n    vrid: 1\n    virtual_ips: [192.0.2.200]\n',
    errors: [
      'vipd.yaml:2:3: instances.my web: names must start with a letter, digit or "_" and use only letters, digits and _ . : - (at most 64)',
    ],
  },
  {
    name: "instances is a list",
    text: "instances:\n  - web\n",
    errors: ["vipd.yaml:2:3: instances: must be a mapping of instances by name (got a list)"],
  },
  {
    name: "realtime_priority out of range",
    text: `global:\n  realtime_priority: 100\n${web("interface: eth0", "vrid: 1", "virtual_ips: [192.0.2.200]")}`,
    errors: ["vipd.yaml:2:22: global.realtime_priority: must be an integer from 0 to 99 (got 100)"],
  },
  {
    name: "realtime_priority not a number",
    text: `global:\n  realtime_priority: high\n${web("interface: eth0", "vrid: 1", "virtual_ips: [192.0.2.200]")}`,
    errors: ['vipd.yaml:2:22: global.realtime_priority: must be an integer from 0 to 99 (got "high")'],
  },
  {
    name: "nice out of range",
    text: `global:\n  nice: -21\n${web("interface: eth0", "vrid: 1", "virtual_ips: [192.0.2.200]")}`,
    errors: ["vipd.yaml:2:9: global.nice: must be an integer from -20 to 19 (got -21)"],
  },
];

describe("config errors", () => {
  it.each(cases)("$name", ({ text, errors }) => {
    expect(errorsOf(text)).toEqual(errors);
  });

  it("reports several problems at once, in file order", () => {
    const text = web("interface: eth0", "vrid: 0", "priority: 300", "virtual_ips: [192.0.2.200]", "bogus: 1");
    expect(errorsOf(text)).toEqual([
      "vipd.yaml:5:11: instances.web.vrid: must be an integer from 1 to 255 (got 0)",
      "vipd.yaml:6:15: instances.web.priority: must be an integer from 1 to 255 (got 300)",
      "vipd.yaml:8:5: instances.web.bogus: unknown key",
    ]);
  });

  it("the error message carries every issue on its own line", () => {
    try {
      loadConfigText(web("interface: eth0", "vrid: 0", "virtual_ips: []"), "x.yaml");
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message.split("\n")).toHaveLength((e as ConfigError).issues.length);
    }
  });
});
