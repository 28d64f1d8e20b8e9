import { readFileSync } from "node:fs";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import type { FenceConfig, NotifyConfig } from "../../src/config/types.js";
import type { Input } from "../../src/core/types.js";
import { Fencer, fenceStdin } from "../../src/hooks/fence.js";
import { NotifyQueue, notifyRuns } from "../../src/hooks/notify.js";
import { SyncGroup } from "../../src/hooks/sync-group.js";
import { silent, type TempDir, tempDir } from "./hooks-helpers.js";

let t: TempDir;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.remove());

const none: NotifyConfig = {
  any: null,
  master: null,
  backup: null,
  fault: null,
  stop: null,
  event: null,
  fenceStarted: null,
  fenceFailed: null,
  splitBrain: null,
  masterRxLowerPri: null,
};

const ctx = (event: "master" | "fence_started", seq: number) => ({
  kind: "INSTANCE" as const,
  name: "web",
  event,
  seq,
  oldState: "backup",
  newState: "master",
  reason: "r",
  priority: 150,
  peer: "192.0.2.12",
  extra: { VIPD_VRID: "51" },
  now: new Date(0),
});

describe("notify", () => {
  it("builds keepalived's argv and the VIPD_* env, specific script first", () => {
    const runs = notifyRuns({ ...none, any: "/n", master: "/m", event: "/e" }, ctx("master", 7));
    expect(runs.map((r) => r.argv)).toEqual([
      ["/m"],
      ["/n", "INSTANCE", "web", "MASTER", "150"],
      ["/e", "INSTANCE", "web", "MASTER", "150"],
    ]);
    expect(runs[0]?.env).toMatchObject({
      VIPD_EVENT: "master",
      VIPD_INSTANCE: "web",
      VIPD_OLD_STATE: "backup",
      VIPD_NEW_STATE: "master",
      VIPD_REASON: "r",
      VIPD_PEER: "192.0.2.12",
      VIPD_PRIORITY: "150",
      VIPD_EVENT_SEQ: "7",
      VIPD_TIMESTAMP: "1970-01-01T00:00:00.000Z",
      VIPD_VRID: "51",
    });
    // The generic notify only gets keepalived's four states; notify_event gets everything.
    expect(
      notifyRuns({ ...none, any: "/n", event: "/e" }, ctx("fence_started", 1)).map((r) => r.argv),
    ).toEqual([["/e", "INSTANCE", "web", "FENCE_STARTED", "150"]]);
  });

  it("delivers in order, one at a time, numbered, with argv and env intact", async () => {
    const log = join(t.dir, "log");
    const p = t.script(
      "n",
      `echo "start $VIPD_EVENT_SEQ $*" >> ${log}; sleep 0.05; echo "end $VIPD_EVENT_SEQ" >> ${log}`,
    );
    const q = new NotifyQueue({ name: "instance:web", logger: silent, timeoutMs: 2000, retries: 0 });
    for (let seq = 1; seq <= 4; seq++)
      q.push({ seq, event: "master", runs: notifyRuns({ ...none, any: p }, ctx("master", seq)) });
    await q.idle();
    expect(readFileSync(log, "utf8").trim().split("\n")).toEqual(
      [1, 2, 3, 4].flatMap((n) => [`start ${n} INSTANCE web MASTER 150`, `end ${n}`]),
    );
    expect(q.delivered).toBe(4);
  });

  it("kills a script at its timeout, retries a bounded number of times, then moves on", async () => {
    const count = join(t.dir, "count");
    const slow = t.script("slow", `echo x >> ${count}; sleep 30`);
    const ok = t.script("ok", `echo ok >> ${count}`);
    const q = new NotifyQueue({ name: "q", logger: silent, timeoutMs: 100, retries: 2, retryDelayMs: 10 });
    const started = Date.now();
    q.push({ seq: 1, event: "fault", runs: [{ argv: [slow], env: {} }] });
    q.push({ seq: 2, event: "master", runs: [{ argv: [ok], env: {} }] });
    await q.idle();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(readFileSync(count, "utf8")).toBe("x\nx\nx\nok\n");
    expect(q.failed).toBe(1);
    expect(q.delivered).toBe(1);
  });

  it("push never waits for the script", () => {
    const q = new NotifyQueue({ name: "q", logger: silent, timeoutMs: 5000, retries: 0 });
    const slow = t.script("slow", "sleep 1");
    const t0 = performance.now();
    q.push({ seq: 1, event: "master", runs: [{ argv: [slow], env: {} }] });
    // push returns while the 1 s script is still running (spawning it is the only cost).
    expect(performance.now() - t0).toBeLessThan(500);
    expect(q.pending).toBe(1);
    q.stop();
  });
});

const fence = (levels: string[][], o: Partial<FenceConfig> = {}): FenceConfig => ({
  levels: levels.map((l) => l.map((agent) => ({ agent, args: { port: "7" }, timeoutMs: 300 }))),
  delayMs: 0,
  randomDelayMs: 0,
  retryMs: 1000,
  retryMaxMs: 60_000,
  nodes: { "192.0.2.12": "lb2" },
  ...o,
});

function fencer(f: FenceConfig | null, extra: Partial<ConstructorParameters<typeof Fencer>[3]> = {}) {
  const inputs: Input[] = [];
  const fr = new Fencer("web", f, null, {
    logger: silent,
    input: (_i, x) => {
      inputs.push(x);
      return true;
    },
    ...extra,
  });
  return { fr, inputs };
}

describe("fencing", () => {
  it("speaks the stdin protocol: action=off, the peer, configured options override", () => {
    expect(
      fenceStdin(
        { agent: "/a", args: { ip: "198.51.100.7", login: "x" }, timeoutMs: 1 },
        { peer: "192.0.2.12" },
        "lb2",
      ),
    ).toBe("action=off\nnodename=lb2\nplug=lb2\nip=198.51.100.7\nlogin=x\n");
  });

  it("level 1 succeeds: fenceResult ok, agent got stdin and env", async () => {
    const out = join(t.dir, "out");
    const a = t.script("fence_a", `cat > ${out}; echo "$VIPD_PEER $VIPD_PEER_MAC $VIPD_PEER_NAME" >> ${out}`);
    const { fr, inputs } = fencer(fence([[a]]));
    await fr.request({ peer: "192.0.2.12", peerMac: "02:00:00:00:00:0c" });
    expect(inputs).toEqual([{ type: "fenceResult", ok: true, detail: "level 1 (lb2)" }]);
    expect(readFileSync(out, "utf8")).toBe(
      "action=off\nnodename=lb2\nplug=lb2\nip=192.0.2.12\nport=7\n192.0.2.12 02:00:00:00:00:0c lb2\n",
    );
  });

  it("a failing or timed-out level falls back to the next; all agents of a level must succeed", async () => {
    const ran = join(t.dir, "ran");
    const bad = t.script("bad", `echo bad >> ${ran}; exit 1`);
    const hang = t.script("hang", `echo hang >> ${ran}; sleep 30`);
    const good = t.script("good", `echo good >> ${ran}`);
    const never = t.script("never", `echo never >> ${ran}`);
    const { fr, inputs } = fencer(fence([[good, bad, never], [hang], [good, good]]));
    await fr.request({ peer: "192.0.2.12" });
    expect(readFileSync(ran, "utf8")).toBe("good\nbad\nhang\ngood\ngood\n");
    expect(inputs).toEqual([{ type: "fenceResult", ok: true, detail: "level 3 (lb2)" }]);
  });

  it("every level failing reports why, timeouts included", async () => {
    const bad = t.script("bad", "exit 2");
    const hang = t.script("hang", "sleep 30");
    const { fr, inputs } = fencer(fence([[bad], [hang]]));
    await fr.request({ peer: "192.0.2.12" });
    expect(inputs).toHaveLength(1);
    expect(inputs[0]).toMatchObject({ type: "fenceResult", ok: false });
    const detail = (inputs[0] as { detail: string }).detail;
    expect(detail).toMatch(/level 1 .*bad: exit 2/);
    expect(detail).toMatch(/level 2 .*hang: timed out after \d+ ms \(process group killed\)/);
  });

  it("cancel kills the running agent and drops the result; delay + random delay are waited", async () => {
    const hang = t.script("hang", "sleep 30");
    const { fr, inputs } = fencer(fence([[hang]], { delayMs: 50, randomDelayMs: 100 }), {
      random: () => 0.5,
    });
    const t0 = Date.now();
    const run = fr.request({ peer: "192.0.2.12" });
    await new Promise((r) => setTimeout(r, 50));
    expect(fr.running).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    fr.cancel();
    await run;
    expect(inputs).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it("a witness that does not answer blocks the takeover before any agent runs", async () => {
    const ran = join(t.dir, "ran");
    const good = t.script("good", `echo good >> ${ran}`);
    const inputs: Input[] = [];
    const fr = new Fencer(
      "web",
      fence([[good]]),
      { type: "tcp", host: "192.0.2.1", port: 22, intervalMs: 1000, timeoutMs: 100, mode: "takeover" },
      {
        logger: silent,
        input: (_i, x) => {
          inputs.push(x);
          return true;
        },
        witnessCheck: async () => ({ ok: false, detail: "refused" }),
      },
    );
    await fr.request({ peer: "192.0.2.12" });
    expect(inputs).toEqual([
      {
        type: "fenceResult",
        ok: false,
        detail: "witness tcp 192.0.2.1:22 does not answer (refused): not taking over",
      },
    ]);
    expect(() => readFileSync(ran)).toThrow();
  });
});

describe("sync groups", () => {
  it("a member's own fault faults the others; a lost election pushes the others out", () => {
    const imposed: [string, unknown][] = [];
    const g = new SyncGroup("fb", ["web", "db"], (m, r) => imposed.push([m, r]));
    g.onState("web", "initialize", "backup");
    g.onState("db", "initialize", "backup");
    g.onState("web", "backup", "master");
    expect(g.onState("db", "backup", "master")).toBe("master");
    g.onState("web", "master", "fault");
    expect(imposed).toEqual([["db", { type: "fault", reason: "sync group fb: web is in fault" }]]);
    // db's group-imposed fault is not propagated back to web.
    g.onState("db", "master", "fault");
    expect(imposed).toHaveLength(1);
    g.onState("web", "fault", "backup");
    expect(imposed.at(-1)).toEqual(["db", null]);
    g.onState("db", "fault", "backup");
    g.onState("web", "backup", "master");
    g.onState("db", "backup", "master");
    imposed.length = 0;
    g.onState("db", "master", "backup"); // db lost an election
    expect(imposed).toEqual([["web", { type: "weight", weight: -253 }]]);
    g.onState("web", "master", "backup"); // pushed out: not a demotion of its own
    expect(imposed).toHaveLength(1);
    g.onState("db", "backup", "master");
    expect(imposed.at(-1)).toEqual(["web", null]);
  });
});
