import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { controlRequest } from "../../src/runtime/control-client.js";
import { runDaemon } from "../../src/runtime/daemon.js";
import type { DaemonStatus } from "../../src/runtime/status.js";
import { BASE_YAML, captureLogger, config, FakeWorld, flush } from "./runtime-fakes.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function withSocket(): Promise<{ yaml: string; sock: string }> {
  const dir = await mkdtemp(join(tmpdir(), "vipd-rt-"));
  dirs.push(dir);
  const sock = join(dir, "vipd.sock");
  return { sock, yaml: BASE_YAML.replace("global:\n", `global:\n  control_socket: ${sock}\n`) };
}

describe("runDaemon", () => {
  it("serves status over the control socket and closes it at stop", async () => {
    const { yaml, sock } = await withSocket();
    const world = new FakeWorld();
    const { logger } = captureLogger();
    const handle = await runDaemon(config(yaml), { configPath: "vipd.yaml", logger, ports: world.ports() });
    expect(handle.engine).not.toBeNull();
    expect(existsSync(sock)).toBe(true);
    const status = (await controlRequest(sock, { cmd: "status" }, { timeoutMs: 2000 })) as DaemonStatus;
    expect(status.configPath).toBe("vipd.yaml");
    expect(status.instances).toHaveLength(1);
    expect(status.instances[0]).toMatchObject({
      name: "web",
      state: "backup",
      interface: "eth0",
      vrid: 51,
      family: "ipv4",
      mode: "multicast",
      vips: ["192.0.2.100/24"],
      primaryAddress: "192.0.2.11",
      peers: [],
      lastTimeline: null,
    });
    expect(status.timer.kind).toBe("custom");
    expect(await handle.stop()).toBe(0);
    expect(await handle.stopped).toBe(0);
    expect(existsSync(sock)).toBe(false);
  });

  it("does not touch any address when another daemon holds the control socket", async () => {
    const { yaml } = await withSocket();
    const world = new FakeWorld();
    world.orphans = ["192.0.2.100/24 dev eth0"];
    const { logger, lines } = captureLogger();
    const first = await runDaemon(config(yaml), { configPath: "vipd.yaml", logger, ports: world.ports() });
    const second = new FakeWorld();
    second.orphans = ["192.0.2.100/24 dev eth0"];
    const other = await runDaemon(config(yaml), { configPath: "vipd.yaml", logger, ports: second.ports() });
    expect(await other.stopped).toBe(71);
    expect(second.orphans).toHaveLength(1); // the second daemon never swept
    expect(lines.some((l) => l.msg.includes("control socket"))).toBe(true);
    expect(await first.stop()).toBe(0);
  });

  it("a startup failure resolves stopped with the exit code and closes the control socket", async () => {
    const { yaml, sock } = await withSocket();
    const world = new FakeWorld();
    world.links.clear();
    const { logger } = captureLogger();
    const handle = await runDaemon(config(yaml), { configPath: "vipd.yaml", logger, ports: world.ports() });
    expect(await handle.stopped).toBe(78);
    expect(existsSync(sock)).toBe(false);
  });
});

describe("runtime engine: watchdog and hooks", () => {
  it("sends WATCHDOG=1 from the event loop at half the systemd period", async () => {
    const world = new FakeWorld();
    world.watchdog = 20_000; // 20 ms -> every 10 ms
    const { logger } = captureLogger();
    const handle = await runDaemon(config(BASE_YAML), {
      configPath: "vipd.yaml",
      logger,
      ports: world.ports(),
      control: false,
    });
    await new Promise((r) => setTimeout(r, 80));
    const pings = world.notifications.filter((n) => n === "WATCHDOG=1").length;
    expect(pings).toBeGreaterThanOrEqual(3);
    expect(await handle.stop()).toBe(0);
    const after = world.notifications.length;
    await new Promise((r) => setTimeout(r, 40));
    expect(world.notifications.length).toBe(after);
  });

  it("hook inputs reach the router: maintenance resigns a master with priority 0", async () => {
    const world = new FakeWorld();
    const { logger } = captureLogger();
    const handle = await runDaemon(config(BASE_YAML), {
      configPath: "vipd.yaml",
      logger,
      ports: world.ports(),
      control: false,
    });
    const engine = handle.engine!;
    await world.clock.advanceTo(1000 + 3000 + (156 * 1000) / 256);
    expect(engine.status().instances[0]!.state).toBe("master");
    expect(engine.input("nope", { type: "maintenance", on: true })).toBe(false);
    const events: string[] = [];
    engine.events.on("stateChanged", (e) => events.push(`${e.instance}:${e.from}->${e.to}`));
    expect(engine.input("web", { type: "maintenance", on: true })).toBe(true);
    await flush();
    const s = engine.status().instances[0]!;
    expect(s.effectivePriority).toBe(0);
    expect(s.state).toBe("backup");
    expect(events).toEqual(["web:master->backup"]);
    expect(world.addresses.size).toBe(0);
    expect(await handle.stop()).toBe(0);
  });
});
