// The control socket: round trip, permissions, stale and live sockets, errors, timeouts.
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { type ControlServer, resolveGroupId, startControlServer } from "../../src/runtime/control.js";
import { ControlClientError, controlRequest } from "../../src/runtime/control-client.js";

const logger = pino({ level: "silent" });
let dir: string;
const servers: ControlServer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "vipd-ctl-"));
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await rm(dir, { recursive: true, force: true });
});

async function start(o: { group?: string | null; path?: string } = {}): Promise<ControlServer> {
  const s = await startControlServer({
    path: o.path ?? join(dir, "vipd.sock"),
    group: o.group ?? null,
    logger,
  });
  servers.push(s);
  return s;
}

function rawExchange(path: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let buf = "";
    c.setEncoding("utf8");
    c.on("connect", () => c.write(line));
    c.on("data", (d: string) => {
      buf += d;
      if (buf.includes("\n")) {
        c.destroy();
        resolve(buf.trim());
      }
    });
    c.on("error", reject);
  });
}

describe("control socket", () => {
  it("answers status with the handler result, mode 0600", async () => {
    const s = await start();
    let calls = 0;
    s.handle("status", "read", () => {
      calls++;
      return { instances: [{ name: "web", state: "master" }] };
    });
    const st = await stat(s.path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid?.());
    expect(await controlRequest(s.path, { cmd: "status" })).toEqual({
      instances: [{ name: "web", state: "master" }],
    });
    expect(await controlRequest(s.path, { cmd: "status" }, { timeoutMs: 1000 })).toBeDefined();
    expect(calls).toBe(2);
  });

  it("with control_group: mode 0660 and that group; admin commands refused", async () => {
    const gid = process.getgid?.() ?? 0;
    const s = await start({ group: String(gid), path: join(dir, "sub", "vipd.sock") });
    s.handle("status", "read", () => "ok");
    s.handle("maintenance", "admin", () => "done");
    const st = await stat(s.path);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.gid).toBe(gid);
    expect((await stat(join(dir, "sub"))).mode & 0o777).toBe(0o750);
    expect(await controlRequest(s.path, { cmd: "status" })).toBe("ok");
    const err = await controlRequest(s.path, { cmd: "maintenance" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlClientError);
    expect(err).toMatchObject({ code: "REMOTE", remoteCode: "FORBIDDEN" });
  });

  it("root-only socket allows admin commands", async () => {
    const s = await start();
    s.handle("maintenance", "admin", (req) => ({ on: req.on }));
    expect(await controlRequest(s.path, { cmd: "maintenance", on: true })).toEqual({ on: true });
  });

  it("unknown commands, bad JSON and handler failures get typed errors", async () => {
    const s = await start();
    s.handle("status", "read", () => {
      throw new Error("engine not started");
    });
    await expect(controlRequest(s.path, { cmd: "explode" })).rejects.toMatchObject({
      code: "REMOTE",
      remoteCode: "UNKNOWN_COMMAND",
      message: 'unknown command "explode"; known: status',
    });
    await expect(controlRequest(s.path, { cmd: "status" })).rejects.toMatchObject({
      remoteCode: "FAILED",
      message: "engine not started",
    });
    expect(JSON.parse(await rawExchange(s.path, "not json\n"))).toEqual({
      ok: false,
      error: { code: "BAD_REQUEST", message: "a request is one JSON object per line" },
    });
    expect(JSON.parse(await rawExchange(s.path, '{"command":"status"}\n'))).toMatchObject({
      error: { code: "BAD_REQUEST" },
    });
  });

  it("client: not running, and a daemon that does not answer", async () => {
    await expect(controlRequest(join(dir, "none.sock"), { cmd: "status" })).rejects.toMatchObject({
      code: "DAEMON_NOT_RUNNING",
    });
    const s = await start();
    s.handle("status", "read", () => new Promise(() => {}));
    const t0 = Date.now();
    await expect(controlRequest(s.path, { cmd: "status" }, { timeoutMs: 200 })).rejects.toMatchObject({
      code: "TIMEOUT",
    });
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("replaces a stale socket left by a killed daemon", async () => {
    const path = join(dir, "vipd.sock");
    const child = spawn(process.execPath, [
      "-e",
      `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`,
    ]);
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", () => resolve());
      child.on("error", reject);
      setTimeout(() => reject(new Error("child did not listen")), 5000).unref();
    });
    const exited = new Promise((r) => child.on("exit", r));
    child.kill("SIGKILL");
    await exited;
    expect((await stat(path)).isSocket()).toBe(true); // left behind
    const s = await start({ path });
    s.handle("status", "read", () => "fresh");
    expect(await controlRequest(path, { cmd: "status" })).toBe("fresh");
  });

  it("refuses a live socket and a file that is not a socket", async () => {
    const s = await start();
    await expect(start({ path: s.path })).rejects.toMatchObject({ code: "CONTROL_SOCKET_IN_USE" });
    const file = join(dir, "plain");
    await writeFile(file, "keep me");
    await expect(start({ path: file })).rejects.toMatchObject({ code: "CONTROL_SOCKET_NOT_A_SOCKET" });
    expect(await readFile(file, "utf8")).toBe("keep me");
  });

  it("close removes the socket file", async () => {
    const s = await start();
    await s.close();
    await expect(stat(s.path)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("resolves group names from a group file", async () => {
    const groups = join(dir, "group");
    await writeFile(groups, "root:x:0:\nvipd-ro:x:4242:alice\n");
    expect(await resolveGroupId("vipd-ro", groups)).toBe(4242);
    expect(await resolveGroupId("17", groups)).toBe(17);
    await expect(resolveGroupId("nobody-here", groups)).rejects.toMatchObject({
      code: "CONTROL_GROUP_UNKNOWN",
    });
  });
});

describe("control socket, in a process of its own", () => {
  it("listens without loading node:cluster, node:child_process or node:dgram", async () => {
    const script = join(dir, "listen.mts");
    const sock = join(dir, "vipd.sock");
    const control = new URL("../../src/runtime/control.ts", import.meta.url).pathname;
    await writeFile(
      script,
      [
        `import pino from ${JSON.stringify(createRequire(import.meta.url).resolve("pino"))};`,
        `import { startControlServer } from ${JSON.stringify(control)};`,
        // tsx itself may have loaded some of them: only what the server adds counts.
        `const before = new Set(process.moduleLoadList);`,
        `const s = await startControlServer({ path: ${JSON.stringify(sock)}, group: null, logger: pino({ level: "silent" }) });`,
        `s.handle("ping", "read", () => "pong");`,
        `const loaded = process.moduleLoadList.filter((m) => !before.has(m) && /^NativeModule (cluster|child_process|dgram)$/.test(m));`,
        `console.log(JSON.stringify({ listening: (await import("node:fs")).statSync(${JSON.stringify(sock)}).isSocket(), loaded }));`,
        `await s.close();`,
      ].join("\n"),
    );
    const r = spawnSync(process.execPath, ["--import", "tsx", script], {
      cwd: new URL("../..", import.meta.url).pathname,
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ listening: true, loaded: [] });
  });
});
