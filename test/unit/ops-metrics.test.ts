// The metrics registry on a real engine over fake ports (the HTTP endpoint is tested in the lab).
import { afterEach, describe, expect, it } from "vitest";
import { encodeAdvert } from "../../src/codec/advert.js";
import { reasonLabel, VipdMetrics } from "../../src/runtime/metrics.js";
import { BASE_YAML, startEngine } from "./runtime-fakes.js";

const PEER = "192.0.2.12";
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

function value(text: string, metric: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-z_:]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== metric) continue;
    const have = Object.fromEntries(
      (m[3] ?? "")
        .split(",")
        .filter(Boolean)
        .map((kv) => {
          const [k, v] = kv.split("=");
          return [k, JSON.parse(v ?? '""') as string];
        }),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return null;
}

describe("metrics", () => {
  it("uses prom-client's own classes, loaded without its index", async () => {
    const prom = await import("prom-client");
    const { engine } = await startEngine(`
instances:
  web: { interface: eth0, vrid: 51, priority: 100, virtual_ips: [192.0.2.100/24] }
`);
    stops.push(() => engine.stop());
    const metrics = new VipdMetrics(engine, { version: "test" });
    stops.push(async () => metrics.close());
    expect(metrics.registry).toBeInstanceOf(prom.Registry);
    expect(metrics.registry.getSingleMetric("vipd_transitions_total")).toBeInstanceOf(prom.Counter);
    expect(metrics.registry.getSingleMetric("vipd_instance_state")).toBeInstanceOf(prom.Gauge);
    expect(metrics.registry.getSingleMetric("vipd_failover_seconds")).toBeInstanceOf(prom.Histogram);
  });

  it("state, priorities, adverts, discards, transitions and failover histograms", async () => {
    const { world, engine } = await startEngine(BASE_YAML);
    stops.push(() => engine.stop());
    const metrics = new VipdMetrics(engine, { version: "9.9.9" });
    const payload = encodeAdvert(
      { version: 3, vrid: 51, priority: 200, maxAdverIntCs: 100, addresses: ["192.0.2.100"] },
      { family: "ipv4", src: PEER, dst: "224.0.0.18", checksumForm: "pseudo-header" },
    );
    world.socket.deliver({ payload, src: PEER, dst: "224.0.0.18", ttl: 255, ifindex: 2 });
    world.socket.deliver({ payload, src: PEER, dst: "224.0.0.18", ttl: 64, ifindex: 2 });
    await world.clock.advance(500);
    // The master goes silent: takeover after Master_Down_Interval.
    await world.clock.advance(4000);
    metrics.fenceResult("web", true);
    // Fence results fed to the engine are counted too (the instance is master: the core ignores it).
    engine.input("web", { type: "fenceResult", ok: false, detail: "agent exit 1" });
    metrics.lag(12);
    metrics.stall("warning");
    const text = await metrics.text();
    expect(value(text, "vipd_info", { version: "9.9.9" })).toBe(1);
    expect(value(text, "vipd_instance_state", { instance: "web", state: "master" })).toBe(1);
    expect(value(text, "vipd_instance_state", { instance: "web", state: "backup" })).toBe(0);
    expect(value(text, "vipd_instance_priority", { instance: "web" })).toBe(100);
    expect(value(text, "vipd_instance_effective_priority", { instance: "web" })).toBe(100);
    expect(value(text, "vipd_instance_vips_held", { instance: "web" })).toBe(1);
    expect(value(text, "vipd_adverts_received_total", { instance: "web" })).toBe(1);
    expect(value(text, "vipd_adverts_sent_total", { instance: "web" })).toBeGreaterThan(0);
    expect(value(text, "vipd_packets_discarded_total", { instance: "web", reason: "ttl" })).toBe(1);
    expect(value(text, "vipd_announcements_sent_total", { instance: "web" })).toBeGreaterThan(0);
    expect(value(text, "vipd_peer_priority", { instance: "web", peer: PEER })).toBe(200);
    expect(value(text, "vipd_transitions_total", { instance: "web", from: "backup", to: "master" })).toBe(1);
    expect(value(text, "vipd_failover_detect_seconds_count", { instance: "web" })).toBe(1);
    expect(value(text, "vipd_failover_seconds_count", { instance: "web" })).toBe(1);
    // Heard at t=1000, silent: Master_Down_Interval for priority 100 at 1 s is 3609.375 ms.
    expect(value(text, "vipd_failover_detect_seconds_sum", { instance: "web" })).toBeCloseTo(3.609, 2);
    expect(value(text, "vipd_fence_results_total", { instance: "web", result: "ok" })).toBe(1);
    expect(value(text, "vipd_fence_results_total", { instance: "web", result: "failed" })).toBe(1);
    expect(value(text, "vipd_event_loop_lag_seconds")).toBeCloseTo(0.012, 6);
    expect(value(text, "vipd_event_loop_stalls_total", { level: "warning" })).toBe(1);
    expect(value(text, "vipd_event_loop_stalls_total", { level: "critical" })).toBe(0);
    // The max-lag gauge resets at each scrape.
    expect(value(await metrics.text(), "vipd_event_loop_lag_max_seconds")).toBe(0);
    metrics.close();
  });
});

describe("failover timeline in the log", () => {
  it("lists the steps in order with their times after the last advert", async () => {
    const { world, engine, lines } = await startEngine(BASE_YAML);
    stops.push(() => engine.stop());
    const payload = encodeAdvert(
      { version: 3, vrid: 51, priority: 200, maxAdverIntCs: 100, addresses: ["192.0.2.100"] },
      { family: "ipv4", src: PEER, dst: "224.0.0.18", checksumForm: "pseudo-header" },
    );
    world.socket.deliver({ payload, src: PEER, dst: "224.0.0.18", ttl: 255, ifindex: 2 });
    await world.clock.advance(4000);
    const line = lines.find((l) => l.msg === "failover timeline");
    expect(line?.steps).toBe(
      `last advert from ${PEER} -> down timer fired +3609.4 ms -> VIP added +3609.4 ms -> first announcement +3609.4 ms`,
    );
    const status = engine.status().instances[0]?.lastTimeline;
    expect(status).toMatchObject({ complete: true, lastAdvertFrom: PEER, downTimerMs: 4609.375 });
  });
});

describe("transition reason labels", () => {
  it("keep the kind of reason and drop addresses, numbers and details", () => {
    expect(reasonLabel("higher priority heard: 192.0.2.12 priority 200, ours 100")).toBe(
      "higher priority heard",
    );
    expect(reasonLabel("split brain lost to 192.0.2.12 (equal priority 100, greater address)")).toBe(
      "split brain lost to <addr>",
    );
    expect(reasonLabel("master fe80::12 silent")).toBe("master <addr> silent");
    expect(reasonLabel("preempting lower-priority master 192.0.2.11")).toBe(
      "preempting lower-priority master <addr>",
    );
    expect(reasonLabel("addVips failed: EEXIST")).toBe("addVips failed");
    expect(reasonLabel("no master heard")).toBe("no master heard");
    expect(reasonLabel("")).toBe("unknown");
  });
});
