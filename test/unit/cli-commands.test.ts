// vipd's command line: exit codes and output, in-process (runCli) and through the real entry point.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { runCli } from "../../src/cli/app.js";
import { importKeepalivedCommand } from "../../src/cli/import-keepalived.js";
import type { CliIo } from "../../src/cli/io.js";
import { runCommand } from "../../src/cli/run.js";
import type { VipdConfig } from "../../src/config/index.js";
import { type ControlServer, startControlServer } from "../../src/runtime/control.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = new URL("../../../shared/fixtures/", import.meta.url);
const example = join(repo, "examples", "two-node-lb1.yaml");

function capture(): CliIo & { out: string; err: string } {
  const io = {
    out: "",
    err: "",
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
  };
  return io;
}

let dir: string;
let badConfig: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "vipd-cli-"));
  badConfig = join(dir, "bad.yaml");
  await writeFile(
    badConfig,
    "instances:\n  web:\n    interface: eth0\n    vrid: 300\n    virtual_ips: [192.0.2.200]\n",
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("vipd check", () => {
  it("prints a summary and exits 0 for a good file", async () => {
    const io = capture();
    expect(await runCli(["check", "--config", example], io)).toBe(0);
    expect(io.out).toContain(`${example}: OK (router_id lb1, 1 instance)`);
    expect(io.out).toContain("web: eth0 vrid 51 IPv4 VRRPv3 priority 150 advert 1s multicast, preempt");
    expect(io.out).toContain("VIPs 192.0.2.200/24");
  });

  it("prints file:line:col errors and exits 78", async () => {
    const io = capture();
    expect(await runCli(["check", "-c", badConfig], io)).toBe(78);
    expect(io.err).toBe(
      `${badConfig}:4:11: instances.web.vrid: must be an integer from 1 to 255 (got 300)\n` +
        `${badConfig}: 1 problem; vipd did not start anything\n`,
    );
    expect(io.out).toBe("");
  });

  it("exits 78 for a missing file", async () => {
    const io = capture();
    expect(await runCli(["check", "--config", join(dir, "nope.yaml")], io)).toBe(78);
    expect(io.err).toContain("nope.yaml:1:1: cannot read the config: no such file");
  });
});

describe("usage", () => {
  it.each([
    [[], "vipd: a command is required"],
    [["frobnicate"], 'vipd: unknown command "frobnicate"'],
    [["chek"], 'vipd: unknown command "chek". Did you mean check?'],
    [["check", "--bogus"], "vipd: Unknown argument: bogus"],
    [["check", "--config"], "vipd: Not enough arguments following: config"],
    [["import-keepalived"], "vipd: Not enough non-option arguments: got 0, need at least 1"],
    [["status", "--log-level", "loud"], "vipd: Invalid values:"],
  ])("%j exits 64", async (args, message) => {
    const io = capture();
    expect(await runCli(args, io)).toBe(64);
    expect(io.err).toContain(message);
    expect(io.err).toContain('Run "vipd --help" for usage.');
  });

  it.each([
    ["--help"],
    ["run", "--help"],
    ["check", "--help"],
    ["status", "--help"],
    ["import-keepalived", "--help"],
  ])("%s prints help and exits 0", async (...args) => {
    const io = capture();
    expect(await runCli(args, io)).toBe(0);
    expect(io.out).toMatch(/^vipd/);
    expect(io.out).toContain("--help");
  });
});

describe("vipd status", () => {
  let server: ControlServer;
  const status = {
    pid: 4242,
    startedAt: "2025-01-01T00:00:00.000Z",
    configPath: "/etc/vipd/vipd.yaml",
    instances: [
      {
        name: "web",
        interface: "eth0",
        family: "ipv4",
        vrid: 51,
        version: 3,
        state: "master",
        priority: 150,
        effectivePriority: 130,
        master: "192.0.2.11",
        mode: "multicast",
        vips: ["192.0.2.200/24"],
        holdsVips: true,
      },
    ],
  };
  beforeAll(async () => {
    server = await startControlServer({
      path: join(dir, "ctl.sock"),
      group: null,
      logger: pino({ level: "silent" }),
    });
    server.handle("status", "read", () => status);
  });
  afterAll(async () => {
    await server.close();
  });

  it("prints a table", async () => {
    const io = capture();
    expect(await runCli(["status", "--socket", server.path], io)).toBe(0);
    const lines = io.out.trimEnd().split("\n");
    expect(lines[0]).toBe("vipd pid 4242, started 2025-01-01T00:00:00.000Z, config /etc/vipd/vipd.yaml");
    expect(lines[1]?.split(/\s+/)).toEqual([
      "INSTANCE",
      "STATE",
      "PRIO",
      "IFACE",
      "VRID",
      "FAMILY",
      "MODE",
      "MASTER",
      "VIPS",
    ]);
    expect(lines[2]).toMatch(
      /^web\s+MASTER\s+130 \(150\)\s+eth0\s+51\s+IPv4\s+multicast\s+192\.0\.2\.11\s+192\.0\.2\.200\/24 \(held\)$/,
    );
  });

  it("--json prints the daemon answer", async () => {
    const io = capture();
    expect(await runCli(["status", "--json", "--socket", server.path], io)).toBe(0);
    expect(JSON.parse(io.out)).toEqual(status);
  });

  it("exits 69 when the daemon is not running, using control_socket from the config", async () => {
    const cfg = join(dir, "sock.yaml");
    await writeFile(
      cfg,
      `global:\n  control_socket: ${join(dir, "absent.sock")}\ninstances:\n  w: { interface: eth0, vrid: 1, virtual_ips: [192.0.2.200] }\n`,
    );
    const io = capture();
    expect(await runCli(["status", "--config", cfg], io)).toBe(69);
    expect(io.err).toBe(
      `vipd status: vipd is not running (nothing listens on ${join(dir, "absent.sock")})\n`,
    );
  });
});

describe("vipd run", () => {
  it("passes the validated config to runDaemon and returns its exit code", async () => {
    const io = capture();
    const seen: { config: VipdConfig; configPath: string }[] = [];
    const code = await runCommand({ config: example, logLevel: "info" }, io, {
      logger: pino({ level: "silent" }),
      loadRunDaemon: async () => async (config, o) => {
        seen.push({ config, configPath: o.configPath });
        return { stopped: Promise.resolve(3) };
      },
    });
    expect(code).toBe(3);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.configPath).toBe(example);
    expect(seen[0]?.config.instances.web?.priority).toBe(150);
  });

  it("never starts the daemon with a bad config (exit 78)", async () => {
    const io = capture();
    let started = false;
    const code = await runCommand({ config: badConfig, logLevel: "info" }, io, {
      logger: pino({ level: "silent" }),
      loadRunDaemon: async () => async () => {
        started = true;
        return { stopped: Promise.resolve(0) };
      },
    });
    expect(code).toBe(78);
    expect(started).toBe(false);
  });

  it("maps a missing CAP_NET_RAW to 77", async () => {
    const io = capture();
    const code = await runCommand({ config: example, logLevel: "info" }, io, {
      logger: pino({ level: "silent" }),
      loadRunDaemon: async () => async () => {
        throw Object.assign(new Error("raw socket on eth0 needs CAP_NET_RAW"), { code: "NEEDS_CAP_NET_RAW" });
      },
    });
    expect(code).toBe(77);
    expect(io.err).toBe("vipd run: raw socket on eth0 needs CAP_NET_RAW\n");
  });
});

describe("vipd import-keepalived", () => {
  it("converts a real keepalived.conf into a config that passes check", async () => {
    const io = capture();
    const file = fileURLToPath(new URL("keepalived-vrrpv3-ipv4.lb1.keepalived.conf", fixtures));
    expect(await runCli(["import-keepalived", file], io)).toBe(0);
    expect(io.out).toContain("instances:");
  });

  it("exits 65 for a file that is not keepalived syntax", async () => {
    const io = capture();
    expect(await runCli(["import-keepalived", example], io)).toBe(65);
    expect(io.err).toMatch(/^vipd import-keepalived: .*two-node-lb1\.yaml:\d+: /);
  });

  it("exits 65 when the converted YAML does not pass check", async () => {
    const io = capture();
    const code = await importKeepalivedCommand({ file: "k.conf" }, io, {
      loadImporter: async () => async () => ({
        yaml: "instances:\n  a: { interface: eth0, vrid: 0, virtual_ips: [192.0.2.200] }\n",
        warnings: [{ file: "k.conf", line: 3, message: "smtp_server: not supported" }],
      }),
    });
    expect(code).toBe(65);
    expect(io.err).toContain("k.conf:3: warning: smtp_server: not supported\n");
    expect(io.err).toContain(
      "<converted>:2:31: instances.a.vrid: must be an integer from 1 to 255 (got 0)\n",
    );
  });
});

describe("the real entry point", () => {
  const vipd = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--import", "tsx", join(repo, "src/cli/main.ts"), ...args],
        { cwd: repo, timeout: 20_000 },
        (err, stdout, stderr) => resolve({ code: err ? (err.code as number | null) : 0, stdout, stderr }),
      );
    });

  it("sets the process exit codes", async () => {
    const [ok, bad, usage] = await Promise.all([
      vipd(["check", "--config", example]),
      vipd(["check", "--config", badConfig]),
      vipd(["nonsense"]),
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("OK (router_id lb1");
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain(":4:11: instances.web.vrid:");
    expect(usage.code).toBe(64);
    expect(usage.stderr).toContain('unknown command "nonsense"');
  });
});
