import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { loadConfigText } from "../../src/config/index.js";
import type { Input } from "../../src/core/types.js";
import { httpCheck, programCheck, tcpCheck } from "../../src/hooks/trackers/checks.js";
import { FileTracker, readTrackFile } from "../../src/hooks/trackers/file.js";
import { TrackerHub } from "../../src/hooks/trackers/hub.js";
import { InterfaceTracker } from "../../src/hooks/trackers/interface.js";
import { PeriodicTracker } from "../../src/hooks/trackers/periodic.js";
import { type CheckStatus, toTrackerResult } from "../../src/hooks/trackers/status.js";
import { silent, type TempDir, tempDir, waitFor } from "./hooks-helpers.js";

let t: TempDir;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.remove());

const signal = new AbortController().signal;

describe("weights", () => {
  it("maps up/down/value statuses like keepalived", () => {
    const down: CheckStatus = { type: "down", reason: "r" };
    expect(toTrackerResult({ type: "up" }, 10)).toEqual({ type: "weight", weight: 10 });
    expect(toTrackerResult({ type: "up" }, -10)).toEqual({ type: "weight", weight: 0 });
    expect(toTrackerResult(down, -10)).toEqual({ type: "weight", weight: -10 });
    expect(toTrackerResult(down, 10)).toEqual({ type: "weight", weight: 0 });
    expect(toTrackerResult(down, 0)).toEqual({ type: "fault", reason: "r" });
    expect(toTrackerResult(down, null)).toEqual({ type: "fault", reason: "r" });
    expect(toTrackerResult({ type: "value", value: 5, reason: "f" }, -20)).toEqual({
      type: "weight",
      weight: -100,
    });
    expect(toTrackerResult({ type: "value", value: 300, reason: "f" }, 1)).toEqual({
      type: "weight",
      weight: 253,
    });
    expect(toTrackerResult({ type: "value", value: -254, reason: "f" }, 1).type).toBe("fault");
    expect(toTrackerResult({ type: "value", value: 1, reason: "f" }, 0).type).toBe("fault");
    expect(toTrackerResult({ type: "value", value: 0, reason: "f" }, 0)).toEqual({
      type: "weight",
      weight: 0,
    });
  });
});

describe("script tracker", () => {
  it("goes down after `fall` failures and up after `rise` successes", async () => {
    const state = t.file("state", "0");
    const p = t.script("chk", `exit $(cat ${state})`);
    const runs: boolean[] = [];
    const changes: string[] = [];
    const tr = new PeriodicTracker({
      name: "script:chk",
      intervalMs: 20,
      rise: 3,
      fall: 2,
      check: (s) => programCheck([p], { timeoutMs: 1000 }, s),
      onRun: (o) => runs.push(o.ok),
    });
    tr.onChange((s) => changes.push(s.type));
    tr.start();
    try {
      await waitFor(() => runs.length >= 2, 3000, "two runs");
      expect(tr.status.type).toBe("up");
      t.file("state", "1");
      const failedFrom = runs.length;
      await waitFor(() => tr.status.type === "down", 3000, "down");
      // The first failure alone is not enough (fall 2).
      expect(runs.slice(failedFrom).filter((ok) => !ok).length).toBeGreaterThanOrEqual(2);
      t.file("state", "0");
      const okFrom = runs.length;
      await waitFor(() => tr.status.type === "up", 3000, "up");
      expect(runs.slice(okFrom).filter((ok) => ok).length).toBeGreaterThanOrEqual(3);
      expect(changes).toEqual(["down", "up"]);
      expect(tr.status).toEqual({ type: "up" });
    } finally {
      tr.stop();
    }
  });

  it("a script that hangs counts as failed once its timeout kills it", async () => {
    const p = t.script("hang", "sleep 30");
    const o = await programCheck([p], { timeoutMs: 100 }, signal);
    expect(o.ok).toBe(false);
    expect(o.detail).toMatch(/timed out after \d+ ms \(process group killed\)/);
  });
});

describe("file tracker", () => {
  it("reads integers; missing, empty or garbage reads as 0", async () => {
    expect(await readTrackFile(t.file("a", " 42\n"))).toMatchObject({ value: 42 });
    expect(await readTrackFile(t.file("b", "-7"))).toMatchObject({ value: -7 });
    expect(await readTrackFile(join(t.dir, "none"))).toMatchObject({ value: 0, reason: /missing/ });
    expect(await readTrackFile(t.file("c", ""))).toMatchObject({ value: 0, reason: /empty/ });
    expect(await readTrackFile(t.file("d", "12abc"))).toMatchObject({ value: 0, reason: /not an integer/ });
  });

  it("reports changes when the file changes", async () => {
    const f = t.file("maint", "0");
    const tr = new FileTracker("file:maint", f, 20);
    const seen: number[] = [];
    tr.onChange((s) => {
      if (s.type === "value") seen.push(s.value);
    });
    tr.start();
    try {
      t.file("maint", "3");
      await waitFor(() => seen.includes(3), 2000, "value 3");
      t.file("maint", "0");
      await waitFor(() => seen.at(-1) === 0, 2000, "value 0");
      expect(seen).toEqual([3, 0]);
    } finally {
      tr.stop();
    }
  });
});

describe("HTTP and TCP checks", () => {
  let server: Server;
  let status = 200;
  let port = 0;
  beforeEach(async () => {
    server = createHttpServer((req, res) => {
      if (req.url === "/slow") return; // never answers
      res.statusCode = status;
      res.end("x");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it("HTTP: expected status, other status, timeout, refused", async () => {
    const url = `http://127.0.0.1:${port}/health`;
    expect(await httpCheck(url, [200], 1000, signal)).toEqual({ ok: true, detail: `GET ${url}: 200` });
    status = 503;
    expect(await httpCheck(url, [200, 204], 1000, signal)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/status 503, expected 200 or 204/),
    });
    expect(await httpCheck(`http://127.0.0.1:${port}/slow`, [200], 100, signal)).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/no answer in 100 ms/),
    });
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    expect((await httpCheck(url, [200], 1000, signal)).detail).toMatch(/ECONNREFUSED/);
    server.listen(0, "127.0.0.1");
  });

  it("TCP: connect succeeds while listening, fails when refused", async () => {
    const srv = createTcpServer((s) => s.end());
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const p = (srv.address() as { port: number }).port;
    expect(await tcpCheck("127.0.0.1", p, 1000, signal)).toEqual({
      ok: true,
      detail: `connect 127.0.0.1:${p}: ok`,
    });
    await new Promise((r) => srv.close(r));
    const r = await tcpCheck("127.0.0.1", p, 1000, signal);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/ECONNREFUSED/);
  });
});

describe("interface tracker", () => {
  it("debounces down and up", async () => {
    const tr = new InterfaceTracker("interface:eth1", "eth1", { up: true, upDelayMs: 80, downDelayMs: 40 });
    const seen: string[] = [];
    tr.onChange((s) => seen.push(s.type));
    tr.link(false);
    expect(tr.status.type).toBe("up");
    tr.link(true); // flap shorter than down_delay: ignored
    await new Promise((r) => setTimeout(r, 60));
    expect(seen).toEqual([]);
    tr.link(false);
    await waitFor(() => tr.status.type === "down", 1000, "down");
    tr.link(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(tr.status.type).toBe("down");
    await waitFor(() => tr.status.type === "up", 1000, "up");
    expect(seen).toEqual(["down", "up"]);
    tr.stop();
  });
});

describe("tracker hub", () => {
  it("shares one tracker between instances with their own weights and resends on apply", async () => {
    const f = t.file("maint", "0");
    const config = loadConfigText(
      `
global: { metrics_listen: false }
track_files:
  maint: { file: ${f}, weight: -10 }
instances:
  a: { interface: eth0, vrid: 1, virtual_ips: [192.0.2.200/24], track_files: [maint], track_interfaces: [eth9] }
  b: { interface: eth0, vrid: 2, virtual_ips: [192.0.2.201/24], track_files: [{ name: maint, weight: -20 }] }
`,
      "f",
    );
    const inputs: [string, Input][] = [];
    let linkCb: ((e: { ifname: string; up: boolean }) => void) | null = null;
    const hub = new TrackerHub({
      sink: {
        input: (i, input) => {
          inputs.push([i, input]);
          return true;
        },
      },
      logger: silent,
      getLink: async (ifname) => {
        if (ifname === "eth9") return { up: true };
        throw new Error("no such interface");
      },
      onLinkChange: (cb) => {
        linkCb = cb;
      },
      filePollMs: 20,
    });
    try {
      await hub.apply(config);
      expect(hub.trackers.map((x) => x.name).sort()).toEqual(["file:maint", "interface:eth9"]);
      t.file("maint", "2");
      await waitFor(
        () =>
          inputs.some(
            ([i, x]) =>
              i === "b" &&
              x.type === "trackerChanged" &&
              x.result.type === "weight" &&
              x.result.weight === -40,
          ),
        2000,
        "b at -40",
      );
      expect(inputs).toContainEqual([
        "a",
        { type: "trackerChanged", tracker: "file:maint", result: { type: "weight", weight: -20 } },
      ]);
      linkCb!({ ifname: "eth9", up: false });
      expect(inputs.at(-1)).toEqual([
        "a",
        {
          type: "trackerChanged",
          tracker: "interface:eth9",
          result: { type: "fault", reason: "eth9 is down" },
        },
      ]);
      // A reload that drops b's reference clears it with weight 0 and keeps the tracker running.
      const before = hub.trackers[0];
      inputs.length = 0;
      await hub.apply({
        ...config,
        instances: { ...config.instances, b: { ...config.instances.b!, trackFiles: [] } },
      });
      expect(hub.trackers[0]).toBe(before);
      expect(inputs).toContainEqual([
        "b",
        { type: "trackerChanged", tracker: "file:maint", result: { type: "weight", weight: 0 } },
      ]);
      expect(inputs).toContainEqual([
        "a",
        { type: "trackerChanged", tracker: "file:maint", result: { type: "weight", weight: -20 } },
      ]);
    } finally {
      hub.stop();
    }
  });
});
