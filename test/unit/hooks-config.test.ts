// Config errors and defaults for the hooks' options (track_http, track_tcp, interface debounce, fence,
// witness, notify settings).
import { describe, expect, it } from "vitest";

import { ConfigError, loadConfigText, toRouterOptions } from "../../src/config/index.js";

const base = (instanceExtra = "", top = "") => `
global:
  metrics_listen: false
${top}
instances:
  web:
    interface: eth0
    vrid: 51
    virtual_ips: [192.0.2.200/24]
${instanceExtra}
`;

function errors(text: string): string[] {
  try {
    loadConfigText(text, "f");
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.line}:${i.col}: ${i.message}`);
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("hooks config", () => {
  it("parses every new option with its defaults", () => {
    const c = loadConfigText(
      base(
        `    track_http: [web_ok]
    track_tcp: [{ name: db, weight: -5 }]
    track_interfaces: [{ name: eth1, up_delay: 2s, down_delay: 100ms }]
    notify_fence_failed: /etc/vipd/fence-failed.sh
    witness: { type: ping, host: 192.0.2.1, mode: always }`,
        `  notify_timeout: 3s
  notify_retries: 2
  fence:
    levels:
      - [{ agent: /usr/sbin/fence_ipmilan, args: { ip: 198.51.100.7, lanplus: true, port: 3 } }]
    delay: 1s
    random_delay: 2s
    nodes: { 192.0.2.12: lb2 }
track_http:
  web_ok: { url: "http://127.0.0.1:8080/health", status: [200, 204], fall: 3 }
track_tcp:
  db: { host: 127.0.0.1, port: 5432 }`,
      ),
      "f",
    );
    const web = c.instances.web!;
    expect(c.trackHttp.web_ok).toEqual({
      name: "web_ok",
      url: "http://127.0.0.1:8080/health",
      statuses: [200, 204],
      intervalMs: 1000,
      timeoutMs: 1000,
      rise: 1,
      fall: 3,
      weight: 0,
    });
    expect(c.trackTcp.db).toMatchObject({ host: "127.0.0.1", port: 5432, weight: 0 });
    expect(web.trackTcp).toEqual([{ name: "db", weight: -5 }]);
    expect(web.trackInterfaces).toEqual([{ name: "eth1", weight: null, upDelayMs: 2000, downDelayMs: 100 }]);
    expect(web.notify.fenceFailed).toBe("/etc/vipd/fence-failed.sh");
    expect(web.witness).toEqual({
      type: "ping",
      host: "192.0.2.1",
      intervalMs: 1000,
      timeoutMs: 1000,
      mode: "always",
    });
    expect(web.fence).toEqual({
      levels: [
        [
          {
            agent: "/usr/sbin/fence_ipmilan",
            args: { ip: "198.51.100.7", lanplus: "true", port: "3" },
            timeoutMs: 30_000,
          },
        ],
      ],
      delayMs: 1000,
      randomDelayMs: 2000,
      retryMs: 1000,
      retryMaxMs: 60_000,
      nodes: { "192.0.2.12": "lb2" },
    });
    expect(c.global).toMatchObject({ notifyTimeoutMs: 3000, notifyRetries: 2 });
    const ro = toRouterOptions(c, "web", { primaryAddress: "192.0.2.11" });
    expect(ro).toMatchObject({ fencing: true, fenceRetryMs: 1000, fenceRetryMaxMs: 60_000 });
  });

  it("no fence and no witness = fencing off; fence: null turns the global one off", () => {
    const c = loadConfigText(base(""), "f");
    expect(toRouterOptions(c, "web", { primaryAddress: "192.0.2.11" }).fencing).toBe(false);
    const off = loadConfigText(base("    fence: null", "  fence: { levels: [[{ agent: /bin/true }]] }"), "f");
    expect(off.instances.web?.fence).toBeNull();
    expect(off.global.fence).not.toBeNull();
  });

  it("reports each bad option with its position", () => {
    expect(errors(base("    track_http: [nope]"))).toEqual([
      '10:18: instances.web.track_http[0]: unknown HTTP check "nope" (no top-level track_http are defined)',
    ]);
    expect(errors(base("", "track_http:\n  h: { url: ftp://x/ }"))[0]).toMatch(
      /track_http\.h\.url: must be an http:\/\/ or https:\/\/ URL/,
    );
    expect(errors(base("", "track_tcp:\n  t: { host: 127.0.0.1, port: 70000 }"))[0]).toMatch(
      /track_tcp\.t\.port: must be an integer from 1 to 65535/,
    );
    expect(errors(base("", "track_tcp:\n  t: { host: db.local, port: 1 }"))[0]).toMatch(
      /"db\.local" is not an IPv4 or IPv6 address/,
    );
    expect(errors(base("", "track_http:\n  h: { url: http://x/, weight: 300 }"))[0]).toMatch(
      /weight: must be an integer from -253 to 253/,
    );
    expect(errors(base("    track_interfaces: [{ name: eth1, up_delay: soon }]"))[0]).toMatch(/up_delay: /);
    expect(errors(base("", "  fence: { levels: [] }"))[0]).toMatch(
      /global\.fence\.levels: must list at least one level/,
    );
    expect(errors(base("", "  fence: { levels: [[]] }"))[0]).toMatch(/a level must list at least one agent/);
    expect(errors(base("", "  fence: { levels: [[{ agent: fence_x }]] }"))[0]).toMatch(
      /agent: must be an absolute path/,
    );
    expect(errors(base("", '  fence: { levels: [[{ agent: /x, args: { "Bad-Key": 1 } }]] }'))[0]).toMatch(
      /fence agent option names use a-z/,
    );
    expect(errors(base("", '  fence: { levels: [[{ agent: /x, args: { k: "a\\nb" } }]] }'))[0]).toMatch(
      /must not contain a newline/,
    );
    expect(errors(base("", "  fence: { levels: [[{ agent: /x }]], retry: 5s, retry_max: 1s }"))[0]).toMatch(
      /retry_max: must be at least retry/,
    );
    expect(errors(base("", "  fence: { levels: [[{ agent: /x }]], nodes: { lb2: lb2 } }"))[0]).toMatch(
      /"lb2" is not an IP address/,
    );
    expect(errors(base("", "  fence: { levels: [[{ agent: /x }]], delay: forever }"))[0]).toMatch(/delay: /);
    expect(errors(base("    witness: { type: tcp, host: 192.0.2.1 }"))[0]).toMatch(
      /a tcp witness needs port/,
    );
    expect(errors(base("    witness: { type: http }"))[0]).toMatch(/a http witness needs url/);
    expect(errors(base("    witness: { type: ping, host: 192.0.2.1, url: http://x/ }"))[0]).toMatch(
      /url: does not apply to a ping witness/,
    );
    expect(errors(base("    witness: { type: smoke }"))[0]).toMatch(/type: must be tcp, http or ping/);
    expect(errors(base("    witness: { type: ping, host: 192.0.2.1, mode: sometimes }"))[0]).toMatch(
      /mode: must be takeover or always/,
    );
    expect(errors(base("", "  notify_retries: 11"))[0]).toMatch(
      /notify_retries: must be an integer from 0 to 10/,
    );
    expect(errors(base("", "  notify_timeout: 1ms"))[0]).toMatch(/notify_timeout: must be at least 10ms/);
    expect(errors(base("    notify_split_brain: relative.sh"))[0]).toMatch(
      /notify_split_brain: must be an absolute path/,
    );
  });
});
