// Bad input to the core: unusable options are operator errors (RouterOptionsError, stable code);
// inputs that break the core's contract are programmer errors (AssertionError) with a clear message.
import { describe, expect, it } from "vitest";
import {
  CoreAssertionError,
  checkRouterInvariants,
  createRouter,
  RouterOptionsError,
} from "../../src/core/index.js";
import type { Input, RouterOptions } from "../../src/core/types.js";
import { advert, BASE, Driver } from "./core-harness.js";

describe("createRouter rejects unusable options", () => {
  const cases: [string, Partial<RouterOptions>, RegExp][] = [
    ["empty name", { name: "" }, /name must be a non-empty string/],
    ["vrid 0", { vrid: 0 }, /vrid must be an integer 1\.\.255, got 0/],
    ["vrid 256", { vrid: 256 }, /vrid must be an integer 1\.\.255/],
    ["vrid 1.5", { vrid: 1.5 }, /vrid must be an integer/],
    ["priority 0", { priority: 0 }, /priority must be an integer 1\.\.255, got 0/],
    ["priority 256", { priority: 256 }, /priority must be an integer 1\.\.255/],
    [
      "v2 over IPv6",
      { version: 2, family: "ipv6", primaryAddress: "fe80::1", vips: ["2001:db8::1/64"] },
      /VRRPv2 carries IPv4 only/,
    ],
    [
      "v3 interval 5 ms",
      { adverIntervalMs: 5 },
      /VRRPv3 adverIntervalMs must be a multiple of 10 in 10\.\.40950, got 5/,
    ],
    ["v3 interval 15 ms", { adverIntervalMs: 15 }, /multiple of 10/],
    ["v3 interval 40960 ms", { adverIntervalMs: 40960 }, /10\.\.40950/],
    [
      "v2 interval 1500 ms",
      { version: 2, adverIntervalMs: 1500 },
      /VRRPv2 adverIntervalMs must be whole seconds/,
    ],
    ["v2 interval 100 ms", { version: 2, adverIntervalMs: 100 }, /whole seconds/],
    ["negative preempt delay", { preemptDelayMs: -1 }, /preemptDelayMs must be a non-negative integer/],
    ["bad primary address", { primaryAddress: "lb1" }, /primaryAddress is not an address: "lb1"/],
    ["primary of the other family", { primaryAddress: "fe80::1" }, /primaryAddress fe80::1 is not ipv4/],
    ["no VIPs", { vips: [] }, /vips must list at least one address/],
    ["VIP without prefix", { vips: ["192.0.2.100"] }, /vip "192.0.2.100" is not address\/prefix/],
    ["VIP of the other family", { vips: ["2001:db8::1/64"] }, /vip 2001:db8::1\/64 is not ipv4/],
    ["VIP listed twice", { vips: ["192.0.2.100/24", "192.0.2.100/32"] }, /listed twice/],
    ["fence retry 0", { fenceRetryMs: 0 }, /fenceRetryMs must be a positive integer/],
    [
      "fence retry max below retry",
      { fenceRetryMs: 5000, fenceRetryMaxMs: 1000 },
      /fenceRetryMaxMs must be an integer >= fenceRetryMs/,
    ],
    ["effect retry 0", { effectRetryMs: 0 }, /effectRetryMs must be a positive integer/],
  ];

  it.each(cases)("%s", (_label, patch, message) => {
    let error: unknown;
    try {
      createRouter({ ...BASE, ...patch });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RouterOptionsError);
    const err = error as RouterOptionsError;
    expect(err.code).toBe("ROUTER_OPTIONS_INVALID");
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`virtual router "${patch.name ?? BASE.name}"`);
  });

  it("lists every problem at once", () => {
    expect(() => createRouter({ ...BASE, vrid: 0, priority: 0 })).toThrow(/vrid .*; priority/);
  });
});

describe("handle() asserts its contract", () => {
  const bad: [string, Input, RegExp][] = [
    ["advert priority 256", advert({ priority: 256 }), /advert priority must be 0\.\.255, got 256/],
    ["advert priority -1", advert({ priority: -1 }), /advert priority must be 0\.\.255/],
    ["advert from a non-address", advert({ src: "peer" }), /advert src is not an address: peer/],
    ["advert interval 0", advert({ adverIntervalMs: 0 }), /advert interval must be > 0 ms, got 0/],
    [
      "tracker weight 254",
      { type: "trackerChanged", tracker: "t", result: { type: "weight", weight: 254 } },
      /tracker t weight must be an integer -253\.\.253, got 254/,
    ],
    [
      "tracker weight 1.5",
      { type: "trackerChanged", tracker: "t", result: { type: "weight", weight: 1.5 } },
      /weight must be an integer/,
    ],
    [
      "tracker without a name",
      { type: "trackerChanged", tracker: "", result: { type: "weight", weight: 0 } },
      /tracker name must be non-empty/,
    ],
  ];

  it.each(bad)("%s", (_label, input, message) => {
    const d = new Driver();
    d.start();
    expect(() => d.router.handle(10, input)).toThrow(message);
    expect(() => d.router.handle(10, input)).toThrow(CoreAssertionError);
  });

  it("time going backwards", () => {
    const d = new Driver();
    d.start(1000);
    expect(() => d.router.handle(999, { type: "timeout" })).toThrow(/time went backwards: 999 < 1000/);
  });

  it("a time that is not a finite number", () => {
    const d = new Driver();
    expect(() => d.router.handle(Number.NaN, { type: "startup" })).toThrow(/now must be a finite number/);
  });

  it("startup twice", () => {
    const d = new Driver();
    d.start();
    expect(() => d.router.handle(1, { type: "startup" })).toThrow(/startup while backup/);
  });

  it("a reload that changes the VRID is another router", () => {
    const d = new Driver();
    d.start();
    expect(() => d.router.handle(1, { type: "configChanged", options: { ...BASE, vrid: 52 } })).toThrow(
      /cannot change vrid or family/,
    );
  });

  it("a reload with unusable options is refused and leaves the router running unchanged", () => {
    const d = new Driver();
    d.startMaster();
    const before = d.router.options;
    expect(() => d.feed({ type: "configChanged", options: { ...BASE, priority: 300 } }, d.now + 1)).toThrow(
      RouterOptionsError,
    );
    expect(d.router.options).toBe(before);
    expect(d.router.state).toBe("master");
    expect(checkRouterInvariants(d.router)).toEqual([]);
    expect(d.fire().actions).toEqual([{ type: "sendAdvert", priority: 100 }]);
  });
});

describe("a step's results belong to that step (the router reuses its own buffers)", () => {
  it("fired rules and actions read after later steps are unchanged; a step with no action cannot be written to", () => {
    const d = new Driver();
    const startup = d.start(0);
    const startupRules = d.rules();
    const followed = d.feed(advert({ priority: 200 }), 100);
    const followRules = d.rules();
    expect(followed.actions).toEqual([]);
    expect(() => (followed.actions as unknown[]).push({ type: "sendAdvert", priority: 1 })).toThrow(
      TypeError,
    );
    d.feed(advert({ priority: 200 }), 200);
    expect(startupRules).toEqual(["init-startup-backup"]);
    expect(followRules).toEqual(["backup-rx-follow"]);
    expect(startup.actions.map((a) => a.type)).toEqual(["stateChanged", "notify"]);
    expect(d.feed(advert({ priority: 200 }), 300).actions).toEqual([]);
  });
});
