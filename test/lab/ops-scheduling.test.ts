// vipd's own threads under real-time scheduling (root): the event-loop thread runs SCHED_RR at
// global.realtime_priority (10 by default) and every other thread of the process (V8's GC helpers,
// the libuv pool) one below it, so no helper can hold the event loop off for a round-robin quantum.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { labAvailable, labVip, withLab } from "./netns.js";
import { startVipd } from "./vipd-agent.js";

const SCHED_RR = 2;

/** policy and rt_priority of one thread, from /proc/PID/task/TID/stat (fields 41 and 40). */
function threadSched(pid: number, tid: number): { policy: number; rtPriority: number } {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state): field N is rest[N - 3].
  return { rtPriority: Number(rest[40 - 3]), policy: Number(rest[41 - 3]) };
}

describe.runIf(labAvailable())("vipd scheduling (root)", () => {
  it("event-loop thread SCHED_RR 10, every other thread below it", async () => {
    await withLab({ hosts: ["a"] }, async (lab) => {
      const a = lab.host("a");
      const agent = await startVipd(a, {
        instances: [
          {
            name: "web",
            vrid: 51,
            priority: 100,
            advertIntervalMs: 100,
            virtualIps: [`${labVip("ipv4")}/24`],
          },
        ],
      });
      try {
        const pids = execFileSync("ip", ["netns", "pids", a.ns], { encoding: "utf8" }).trim().split("\n");
        const pid = Number(
          pids.find((p) => /vipd\.js|cli\/main\.ts/.test(readFileSync(`/proc/${p}/cmdline`, "utf8"))),
        );
        expect(pid).toBeGreaterThan(0);
        const tids = readdirSync(`/proc/${pid}/task`).map(Number);
        expect(tids.length).toBeGreaterThan(1);
        expect(threadSched(pid, pid)).toEqual({ policy: SCHED_RR, rtPriority: 10 });
        const others = tids.filter((t) => t !== pid).map((t) => threadSched(pid, t));
        // Helpers present at start-up run SCHED_RR 9; threads created later start without it.
        for (const o of others) expect(o.rtPriority).toBeLessThan(10);
        expect(others.some((o) => o.policy === SCHED_RR && o.rtPriority === 9)).toBe(true);
      } finally {
        await agent.stop();
      }
    });
  });
});
