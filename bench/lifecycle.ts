// Start-up and crash leftovers.
//   startup: spawn -> READY=1 on a unix datagram NOTIFY_SOCKET the bench binds (python3 receiver,
//            stamped with its own CLOCK_REALTIME), and spawn -> first advert on the wire (a lone
//            node becomes master after Master_Down_Interval, reported next to it).
//   orphan:  after SIGKILL of a master, how long its VIP stays on its interface (ip monitor on the
//            node): vipd's `vipd cleanup` (what systemd's ExecStopPost runs) and a restart's orphan
//            reconcile; keepalived's restart, and keepalived left dead.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Lab, LabHost } from "../test/lab/netns.js";
import { type AgentKind, type BenchAgent, startAgent } from "./agents.js";
import { masterDownIntervalMs } from "./stats.js";
import type { AddrWatch, WireWatch } from "./wire.js";

const REPO = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../" : "../../", import.meta.url));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const RECEIVER = `
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({'bound': True}), flush=True)
s.settimeout(120)
while True:
    data = s.recv(4096).decode()
    print(json.dumps({'atMs': time.time() * 1000, 'state': data}), flush=True)
`;

interface NotifyReceiver {
  path: string;
  waitReady(timeoutMs: number): Promise<number | null>;
  close(): void;
}

async function notifyReceiver(host: LabHost): Promise<NotifyReceiver> {
  const dir = mkdtempSync(join(tmpdir(), "vipd-bench-notify-"));
  const path = join(dir, "notify.sock");
  const child = host.spawn(["python3", "-c", RECEIVER, path]);
  const got: { atMs: number; state: string }[] = [];
  let bound = false;
  if (child.stdout)
    createInterface({ input: child.stdout }).on("line", (l) => {
      const m = JSON.parse(l) as { bound?: boolean; atMs?: number; state?: string };
      if (m.bound) bound = true;
      else if (m.atMs !== undefined && m.state !== undefined) got.push({ atMs: m.atMs, state: m.state });
    });
  for (let i = 0; i < 200 && !bound; i++) await sleep(25);
  if (!bound) throw new Error("python3 did not bind the NOTIFY_SOCKET receiver within 5 s");
  return {
    path,
    waitReady: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = got.find((g) => g.state.split("\n").includes("READY=1"));
        if (r) return r.atMs;
        if (Date.now() > deadline) return null;
        await sleep(10);
      }
    },
    close: () => {
      if (child.pid !== undefined)
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // gone
        }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface StartupSample {
  agent: AgentKind;
  run: number;
  intervalMs: number;
  /** spawn -> READY=1 (null: the agent sent no READY). */
  readyMs: number | null;
  /** spawn -> the agent's own "started" log line (vipd "vipd running", keepalived "Startup complete"). */
  startedLogMs: number;
  firstAdvertMs: number;
  masterDownMs: number;
}

export async function startupRun(
  lab: Lab,
  wire: WireWatch,
  kind: AgentKind,
  run: number,
  intervalMs: number,
): Promise<StartupSample> {
  const a = lab.host("a");
  const rx = await notifyReceiver(a);
  let agent: BenchAgent | undefined;
  try {
    const t0 = Date.now();
    agent = await startAgent(kind, a, {
      instances: [{ name: "VI_1", vrid: 61, priority: 100, advertIntMs: intervalMs, vip: "192.0.2.210/24" }],
      env: { NOTIFY_SOCKET: rx.path },
    });
    const started = Date.now();
    const adv = await wire.waitAdvert("first advert", (x) => x.src === a.ipv4 && x.vrid === 61, {
      sinceMs: t0,
      timeoutMs: masterDownIntervalMs(intervalMs, 100) + 10_000,
    });
    const ready = await rx.waitReady(kind === "vipd" ? 5000 : 1000);
    return {
      agent: kind,
      run,
      intervalMs,
      readyMs: ready === null ? null : ready - t0,
      startedLogMs: started - t0,
      firstAdvertMs: adv.atMs - t0,
      masterDownMs: masterDownIntervalMs(intervalMs, 100),
    };
  } finally {
    await agent?.stop();
    rx.close();
  }
}

export interface OrphanSample {
  agent: AgentKind;
  /** How the leftover VIP is meant to go: 'cleanup' (vipd cleanup right after the crash), 'restart'
   *  (the agent started again at once), 'none' (left dead for waitS seconds). */
  method: "cleanup" | "restart" | "none";
  /** SIGKILL -> VIP gone from the old master; null = still there after waitS. */
  vipLingersMs: number | null;
  waitS: number;
  note: string;
}

export async function orphanRun(
  lab: Lab,
  addrA: AddrWatch,
  kind: AgentKind,
  method: OrphanSample["method"],
  waitS: number,
): Promise<OrphanSample> {
  const a = lab.host("a");
  const vip = "192.0.2.211";
  const instances = [{ name: "VI_1", vrid: 62, priority: 200, advertIntMs: 100, vip: `${vip}/24` }];
  let agent: BenchAgent | undefined;
  let again: BenchAgent | undefined;
  let note = "";
  try {
    const since = Date.now();
    agent = await startAgent(kind, a, { instances });
    await addrA.waitEvent(vip, true, { sinceMs: since, timeoutMs: 10_000 });
    await sleep(300);
    const t0 = Date.now();
    await agent.kill();
    if (method === "cleanup") {
      const r = await a.exec([process.execPath, join(REPO, "bin/vipd.js"), "cleanup"], { timeoutMs: 30_000 });
      note = `vipd cleanup exit ${r.code}${r.code === 0 ? "" : `: ${(r.stderr || r.stdout).trim().split("\n")[0]}`}`;
    } else if (method === "restart") {
      again = await startAgent(kind, a, { instances });
      note = `${kind} restarted`;
    } else note = `${kind} left dead`;
    const gone = await addrA
      .waitEvent(vip, false, { sinceMs: t0, timeoutMs: waitS * 1000 })
      .catch(() => null);
    return { agent: kind, method, vipLingersMs: gone ? gone.atMs - t0 : null, waitS, note };
  } finally {
    await again?.stop();
    await agent?.stop();
    await a.exec(["ip", "addr", "del", `${vip}/24`, "dev", a.ifname]);
  }
}
