// The drills' environment in the netns lab (CI): lb1 and lb2 run `vipd run` and a tiny HTTP
// service, the client runs the request loop. A track script (pgrep of the service) lowers a node's
// priority by 60 when its service is down, as the Vagrant lab does with nginx.
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { controlRequest } from "../../../src/runtime/control-client.js";
import type { Lab, LabHost } from "../netns.js";
import { startVipd, type VipdAgent, type VipdOptions, vipHolders } from "../vipd-agent.js";
import type { ClientRun, DrillEnv, NodeStatus, Scenario } from "./drill.js";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const PORT = 8080;

export interface NetnsDrillOptions {
  advertIntervalMs: number;
  vip: string;
  instance?: string;
  log?: (line: string) => void;
}

export class NetnsDrillEnv implements DrillEnv {
  readonly name = "netns";
  readonly nodes = ["lb1", "lb2"] as const;
  readonly vip: string;
  readonly #lab: Lab;
  readonly #o: NetnsDrillOptions;
  readonly #agents = new Map<string, VipdAgent>();
  readonly #services = new Map<string, ChildProcess>();

  constructor(lab: Lab, o: NetnsDrillOptions) {
    this.#lab = lab;
    this.#o = o;
    this.vip = o.vip;
  }

  log(line: string): void {
    (this.#o.log ?? console.log)(line);
  }

  #host(node: string): LabHost {
    return this.#lab.host(node);
  }

  #options(node: string): VipdOptions {
    const instance = this.#o.instance ?? "web";
    return {
      instances: [
        {
          name: instance,
          vrid: 71,
          priority: node === "lb1" ? 150 : 100,
          advertIntervalMs: this.#o.advertIntervalMs,
          virtualIps: [`${this.vip}/24`],
          extra: { track_scripts: ["chk_service"] },
        },
      ],
      top: {
        track_scripts: {
          chk_service: {
            script: ["/usr/bin/pgrep", "-f", `http-service.ts ${node} ${PORT} ${this.#lab.id}`],
            interval: "200ms",
            timeout: "1s",
            fall: 1,
            rise: 2,
            weight: -60,
          },
        },
      },
    };
  }

  async #startService(node: string): Promise<void> {
    const h = this.#host(node);
    const child = h.spawn([
      process.execPath,
      "--import",
      "tsx",
      join(HERE, "http-service.ts"),
      node,
      String(PORT),
      this.#lab.id,
    ]);
    this.#services.set(node, child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`service on ${node} did not start`)), 15_000);
      child.stdout?.setEncoding("utf8").on("data", (d: string) => {
        if (d.includes("listening")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`service on ${node} exited (${code})`));
      });
    });
  }

  async #stopService(node: string): Promise<void> {
    const child = this.#services.get(node);
    this.#services.delete(node);
    if (!child || child.exitCode !== null) return;
    const gone = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGKILL");
    await gone;
  }

  async #startAgent(node: string): Promise<void> {
    this.#agents.set(node, await startVipd(this.#host(node), this.#options(node)));
  }

  /** Services and agents on both nodes; lb1 (150) becomes master. */
  async start(): Promise<void> {
    for (const n of this.nodes) await this.#startService(n);
    await this.#startAgent("lb1");
    await this.#agents.get("lb1")?.waitForState(this.#o.instance ?? "web", "master", { timeoutMs: 10_000 });
    await this.#startAgent("lb2");
  }

  trace(node: string, sinceMs: number): string[] {
    const a = this.#agents.get(node);
    if (!a) return ["no agent"];
    const at = (ms: number) => new Date(ms).toISOString().slice(11, 23);
    const out = a
      .transitions()
      .filter((t) => t.atMs >= sinceMs)
      .slice(-30)
      .map((t) => `${at(t.atMs)} ${t.instance}: ${t.from} -> ${t.to} (${t.reason})`);
    if (out.length === 0) out.push(`no transition since ${at(sinceMs)} (state ${a.state("web") ?? "?"})`);
    const detail = (f: Record<string, unknown>) =>
      ["reason", "steps", "lagMs", "budgetMs", "newMaster", "error"]
        .filter((k) => f[k] !== undefined)
        .map((k) => `${k}=${typeof f[k] === "string" ? f[k] : JSON.stringify(f[k])}`)
        .join(" ");
    out.push("last log lines:");
    for (const l of a
      .logs()
      .filter((x) => x.atMs >= sinceMs)
      .slice(-15))
      out.push(`${at(l.atMs)} ${l.instance ?? "-"}: ${l.msg} ${detail(l.fields)}`.trimEnd());
    for (const l of a.otherOutput().slice(-5)) out.push(`(out) ${l}`);
    if (a.exited()) out.push(`exited: ${a.exitInfo()}`);
    return out;
  }

  async vipHolders(): Promise<string[]> {
    return vipHolders(
      this.nodes.map((n) => this.#host(n)),
      this.vip,
    );
  }

  async status(node: string, instance: string): Promise<NodeStatus | null> {
    const a = this.#agents.get(node);
    if (!a || a.exited()) return null;
    try {
      const s = (await controlRequest(join(a.dir, "vipd.sock"), { cmd: "status" }, { timeoutMs: 2000 })) as {
        instances: { name: string; state: string; lastTimeline: NodeStatus["lastTimeline"] }[];
      };
      const i = s.instances.find((x) => x.name === instance);
      return i ? { state: i.state, lastTimeline: i.lastTimeline } : null;
    } catch {
      return null;
    }
  }

  async startClient(o: { maxMs: number }): Promise<ClientRun> {
    const client = this.#host("client");
    const child = client.spawn([
      process.execPath,
      "--import",
      "tsx",
      join(HERE, "client-loop.ts"),
      `http://${this.vip}:${PORT}/`,
      "20",
      String(o.maxMs),
    ]);
    let out = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    // Wait for the first answer so the loop is running before the fault.
    const deadline = Date.now() + 15_000;
    while (!/ ok /.test(out) && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (!/ ok /.test(out)) throw new Error(`the client never reached ${this.vip}: ${out.slice(0, 300)}`);
    return {
      stop: async () => {
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
        return out.split("\n").filter(Boolean);
      },
    };
  }

  async #cleanup(node: string): Promise<void> {
    // What systemd's ExecStopPost does after a crash: remove the VIPs the dead vipd left.
    const a = this.#agents.get(node);
    const r = await this.#host(node).exec([
      process.execPath,
      "--import",
      "tsx",
      "src/cli/main.ts",
      "cleanup",
      ...(a ? ["--socket", join(a.dir, "vipd.sock")] : ["--force"]),
    ]);
    if (r.code !== 0) throw new Error(`vipd cleanup on ${node} failed (${r.code}): ${r.stderr}`);
    this.log(`${node}: ${r.stdout.trim()}`);
  }

  async fault(node: string, s: Scenario): Promise<void> {
    const h = this.#host(node);
    const agent = this.#agents.get(node);
    switch (s) {
      case "kill-9":
        await agent?.kill();
        await this.#cleanup(node);
        return;
      case "stop":
        await agent?.stop();
        return;
      case "link-down":
        await h.linkDown();
        return;
      case "service-down":
        await this.#stopService(node);
        return;
      case "reboot":
        // Power loss and boot: everything on the node stops at once, addresses are gone.
        await Promise.all([agent?.kill(), this.#stopService(node)]);
        await h.linkDown();
        await h.exec(["ip", "addr", "del", `${this.vip}/24`, "dev", h.ifname]);
        return;
    }
  }

  async repair(node: string, s: Scenario): Promise<void> {
    const h = this.#host(node);
    switch (s) {
      case "kill-9":
      case "stop":
        await this.#startAgent(node);
        return;
      case "link-down":
        await h.linkUp();
        return;
      case "service-down":
        await this.#startService(node);
        return;
      case "reboot":
        await new Promise((r) => setTimeout(r, 1000));
        await h.linkUp();
        await this.#startService(node);
        await this.#startAgent(node);
        return;
    }
  }

  async stop(): Promise<void> {
    for (const a of this.#agents.values()) if (!a.exited()) await a.stop();
    for (const n of [...this.#services.keys()]) await this.#stopService(n);
  }
}
