// The drills' environment on the Vagrant lab (vagrant/): every action is a `vagrant ssh NODE -c`
// command run from the vagrant/ directory. vipd runs there as the systemd service, so the faults
// are the real ones: systemctl kill -s SIGKILL (systemd restarts vipd and its ExecStopPost removes
// the orphan VIP), systemctl stop, the private interface down, nginx stopped, a reboot.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { ClientRun, DrillEnv, NodeStatus, Scenario } from "./drill.js";

const run = promisify(execFile);
const VAGRANT_DIR = fileURLToPath(new URL("../../../vagrant/", import.meta.url));
const IFACE = "eth1";

export class VagrantDrillEnv implements DrillEnv {
  readonly name = "vagrant";
  readonly nodes = ["lb1", "lb2"] as const;
  readonly vip = "192.0.2.200";

  log(line: string): void {
    console.log(line);
  }

  async #ssh(node: string, command: string, timeoutMs = 30_000): Promise<{ code: number; stdout: string }> {
    try {
      const r = await run("vagrant", ["ssh", node, "-c", command], {
        cwd: VAGRANT_DIR,
        timeout: timeoutMs,
        env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: "1" },
      });
      return { code: 0, stdout: r.stdout };
    } catch (e) {
      const err = e as { code?: unknown; stdout?: string };
      return { code: typeof err.code === "number" ? err.code : 255, stdout: err.stdout ?? "" };
    }
  }

  async #mustSsh(node: string, command: string, timeoutMs?: number): Promise<string> {
    const r = await this.#ssh(node, command, timeoutMs);
    if (r.code !== 0) throw new Error(`vagrant ssh ${node} -c '${command}' exited ${r.code}`);
    return r.stdout;
  }

  async vipHolders(): Promise<string[]> {
    const out: string[] = [];
    for (const n of this.nodes) {
      const r = await this.#ssh(n, `ip -br -4 addr show dev ${IFACE}`, 10_000);
      if (r.code === 0 && r.stdout.split(/\s+/).includes(`${this.vip}/24`)) out.push(n);
    }
    return out;
  }

  async status(node: string, instance: string): Promise<NodeStatus | null> {
    const r = await this.#ssh(node, "sudo vipd status --json", 10_000);
    if (r.code !== 0) return null;
    const s = JSON.parse(r.stdout) as {
      instances: { name: string; state: string; lastTimeline: NodeStatus["lastTimeline"] }[];
    };
    const i = s.instances.find((x) => x.name === instance);
    return i ? { state: i.state, lastTimeline: i.lastTimeline } : null;
  }

  async startClient(o: { maxMs: number }): Promise<ClientRun> {
    const child: ChildProcess = spawn(
      "vagrant",
      ["ssh", "client", "-c", `/vagrant/vagrant/client-loop.sh http://${this.vip}/ 20 ${o.maxMs}`],
      { cwd: VAGRANT_DIR, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      out += d;
    });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const deadline = Date.now() + 30_000;
    while (!/ ok /.test(out) && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!/ ok /.test(out)) throw new Error(`the client never reached ${this.vip}`);
    return {
      stop: async () => {
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        return out.split("\n").filter(Boolean);
      },
    };
  }

  async fault(node: string, s: Scenario): Promise<void> {
    switch (s) {
      case "kill-9":
        await this.#mustSsh(node, "sudo systemctl kill -s SIGKILL vipd");
        return;
      case "stop":
        await this.#mustSsh(node, "sudo systemctl stop vipd");
        return;
      case "link-down":
        await this.#mustSsh(node, `sudo ip link set ${IFACE} down`);
        return;
      case "service-down":
        await this.#mustSsh(node, "sudo systemctl stop nginx");
        return;
      case "reboot":
        // The ssh session ends with the reboot: its exit code does not matter.
        await this.#ssh(node, "sudo systemctl reboot", 15_000);
        return;
    }
  }

  async #waitActive(node: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.#ssh(node, "systemctl is-active --quiet vipd", 15_000)).code === 0) return;
      await new Promise((r) => setTimeout(r, 2000));
    }
    throw new Error(`vipd on ${node} not active within ${timeoutMs} ms`);
  }

  async repair(node: string, s: Scenario): Promise<void> {
    switch (s) {
      case "kill-9":
        // Restart=on-failure brings it back after RestartSec.
        await this.#waitActive(node, 30_000);
        return;
      case "stop":
        await this.#mustSsh(node, "sudo systemctl start vipd");
        return;
      case "link-down":
        await this.#mustSsh(node, `sudo ip link set ${IFACE} up`);
        return;
      case "service-down":
        await this.#mustSsh(node, "sudo systemctl start nginx");
        return;
      case "reboot":
        await this.#waitActive(node, 180_000);
        return;
    }
  }
}
