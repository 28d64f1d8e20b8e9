// The operator commands end to end: CLI -> control socket -> runDaemon on fake ports.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/app.js";
import { cleanupCommand } from "../../src/cli/cleanup.js";
import type { CliIo } from "../../src/cli/io.js";
import { formatStatus } from "../../src/cli/status.js";
import { type DaemonHandle, runDaemon } from "../../src/runtime/daemon.js";
import type { DaemonStatus } from "../../src/runtime/status.js";
import { BASE_YAML, captureLogger, config, FakeWorld } from "./runtime-fakes.js";

function io(): CliIo & { out: string; err: string } {
  const o = {
    out: "",
    err: "",
    stdout(t: string) {
      o.out += t;
    },
    stderr(t: string) {
      o.err += t;
    },
  };
  return o;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function daemon(): Promise<{ sock: string; world: FakeWorld; handle: DaemonHandle }> {
  const dir = await mkdtemp(join(tmpdir(), "vipd-opscli-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const sock = join(dir, "vipd.sock");
  const yaml = BASE_YAML.replace(
    "global:\n",
    `global:\n  control_socket: ${sock}\n  metrics_listen: false\n`,
  );
  const world = new FakeWorld();
  const { logger } = captureLogger();
  const handle = await runDaemon(config(yaml), {
    configPath: join(dir, "missing.yaml"),
    logger,
    ports: world.ports(),
  });
  cleanups.push(() => handle.stop());
  return { sock, world, handle };
}

describe("operator commands over the control socket", () => {
  it("maintenance on/off, explain, handover refusal, reload --plan on an unreadable file", async () => {
    const { sock } = await daemon();
    let o = io();
    expect(await runCli(["maintenance", "on", "--socket", sock], o)).toBe(0);
    expect(o.out).toBe("web: now in maintenance (priority 0, out of elections)\n");
    o = io();
    expect(await runCli(["maintenance", "on", "web", "--socket", sock], o)).toBe(0);
    expect(o.out).toBe("web: already in maintenance\n");
    o = io();
    expect(await runCli(["status", "--socket", sock], o)).toBe(0);
    expect(o.out).toContain("web: maintenance on (priority 0)");
    o = io();
    expect(await runCli(["explain", "web", "--socket", sock], o)).toBe(0);
    expect(o.out).toContain("web is BACKUP on eth0 (VRID 51, IPv4, VRRPv3, multicast).");
    expect(o.out).toContain("Maintenance is on");
    o = io();
    expect(await runCli(["handover", "web", "--socket", sock], o)).toBe(1);
    expect(o.err).toContain("IN_MAINTENANCE");
    o = io();
    expect(await runCli(["maintenance", "off", "--socket", sock, "--json"], o)).toBe(0);
    expect(JSON.parse(o.out)).toEqual({ on: false, changed: ["web"], unchanged: [] });
    o = io();
    expect(await runCli(["handover", "web", "--socket", sock], o)).toBe(1);
    expect(o.err).toMatch(/NOT_MASTER: web is BACKUP, not MASTER/);
    o = io();
    expect(await runCli(["explain", "nope", "--socket", sock], o)).toBe(1);
    expect(o.err).toContain('NO_SUCH_INSTANCE: no instance "nope" (running: web)');
    o = io();
    // The daemon's config path does not exist: the plan is refused with the loader's message.
    expect(await runCli(["reload", "--plan", "--socket", sock], o)).toBe(1);
    expect(o.err).toMatch(/vipd reload: .*missing\.yaml/);
  });

  it("exit 69 when no daemon answers, 64 on usage errors", async () => {
    const o = io();
    expect(await runCli(["maintenance", "on", "--socket", "/nonexistent/vipd.sock"], o)).toBe(69);
    expect(o.err).toContain("vipd is not running");
    expect(await runCli(["maintenance", "maybe"], io())).toBe(64);
    expect(await runCli(["handover"], io())).toBe(64);
  });
});

describe("vipd cleanup", () => {
  it("refuses while a daemon answers, unless --force", async () => {
    const { sock } = await daemon();
    let removed = 0;
    const open = async () => ({
      removeOrphans: async () => {
        removed++;
        return ["192.0.2.100/24 dev eth0"];
      },
      close: () => {},
    });
    let o = io();
    expect(await cleanupCommand({ socket: sock, config: "x", force: false }, o, { open })).toBe(75);
    expect(o.err).toContain("a vipd is running");
    expect(removed).toBe(0);
    o = io();
    expect(await cleanupCommand({ socket: sock, config: "x", force: true }, o, { open })).toBe(0);
    expect(o.out).toBe("removed 1 orphan VIP(s): 192.0.2.100/24 dev eth0\n");
  });

  it("removes orphans when no daemon runs; 77 without CAP_NET_ADMIN, 71 when rtnetlink fails", async () => {
    const sock = "/nonexistent/vipd.sock";
    let o = io();
    const none = async () => ({ removeOrphans: async () => [], close: () => {} });
    expect(await cleanupCommand({ socket: sock, config: "x", force: false }, o, { open: none })).toBe(0);
    expect(o.out).toBe("no orphan VIPs\n");
    o = io();
    const eperm = async () => ({
      removeOrphans: async () => {
        throw Object.assign(new Error("rtnetlink: EPERM"), { code: "NEEDS_CAP_NET_ADMIN" });
      },
      close: () => {},
    });
    expect(await cleanupCommand({ socket: sock, config: "x", force: false }, o, { open: eperm })).toBe(77);
    expect(o.err).toContain("EPERM");
    o = io();
    const broken = async () => {
      throw new Error("socket(AF_NETLINK) failed");
    };
    expect(await cleanupCommand({ socket: sock, config: "x", force: false }, o, { open: broken })).toBe(71);
    expect(o.err).toContain("cannot open rtnetlink");
  });
});

describe("vipd status peer table", () => {
  it("shows each peer's address, priority, interval, version, checksum form and last seen", () => {
    const now = Date.now();
    const s = {
      pid: 1,
      startedAt: "2026-01-01T00:00:00.000Z",
      configPath: "/etc/vipd/vipd.yaml",
      unattributed: {},
      timer: { kind: "timerfd", fires: 1, worstLatenessMs: 0 },
      instances: [
        {
          name: "web",
          state: "backup",
          priority: 100,
          effectivePriority: 100,
          interface: "eth0",
          vrid: 51,
          family: "ipv4",
          mode: "multicast",
          master: "192.0.2.12",
          vips: ["192.0.2.100/24"],
          holdsVips: false,
          peers: [
            {
              address: "192.0.2.12",
              priority: 200,
              adverIntervalMs: 1000,
              version: 3,
              checksumForm: "pseudo-header",
              lastSeenMs: 5,
              lastSeenAt: new Date(now - 1500).toISOString(),
              advertsReceived: 42,
            },
          ],
          lastTimeline: null,
        },
      ],
    } as unknown as DaemonStatus;
    const text = formatStatus(s);
    expect(text).toMatch(/PEER\s+PRIO\s+INTERVAL\s+VERSION\s+CHECKSUM\s+LAST SEEN\s+ADVERTS/);
    expect(text).toMatch(/192\.0\.2\.12\s+200\s+1000 ms\s+v3\s+pseudo-header\s+1\.\d s ago\s+42/);
  });
});
