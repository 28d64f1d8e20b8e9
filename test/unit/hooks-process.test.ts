import { chmodSync, chownSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfigText } from "../../src/config/index.js";
import { checkConfigScripts } from "../../src/hooks/config-scripts.js";
import { describeRun, runProgram } from "../../src/hooks/process.js";
import { resolveProgram, resolveScriptUser, scriptProblem } from "../../src/hooks/script-security.js";
import { alive, type TempDir, tempDir, waitFor } from "./hooks-helpers.js";

let t: TempDir;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.remove());

describe("runProgram", () => {
  it("runs argv without a shell, with the given env and stdin", async () => {
    const p = t.script("echo", 'printf "%s|" "$@"; printf "%s|" "$FOO"; cat');
    const r = await runProgram([p, "a b", "$HOME;rm", "*"], {
      timeoutMs: 2000,
      env: { FOO: "x y" },
      stdin: "in\n",
    });
    expect(r.type).toBe("done");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("a b|$HOME;rm|*|x y|in\n");
  });

  it("reports a non-zero exit and a missing program", async () => {
    const p = t.script("fail", "exit 3");
    expect(describeRun(await runProgram([p], { timeoutMs: 2000 }))).toMatch(/^exit 3 after/);
    const r = await runProgram([join(t.dir, "nope")], { timeoutMs: 2000 });
    expect(r.type).toBe("spawn-error");
    expect(r.error).toMatch(/ENOENT/);
  });

  it("kills the whole process group on timeout", async () => {
    const pidFile = join(t.dir, "child.pid");
    const p = t.script("slow", `sleep 30 & echo $! > ${pidFile}; wait`);
    const r = await runProgram([p], { timeoutMs: 200 });
    expect(r.type).toBe("timeout");
    expect(r.durationMs).toBeLessThan(2000);
    const child = Number(readFileSync(pidFile, "utf8"));
    await waitFor(() => !alive(child), 2000, "the grandchild to die");
  });

  it("cancel kills the group", async () => {
    const p = t.script("slow", "sleep 30");
    const ac = new AbortController();
    const run = runProgram([p], { timeoutMs: 10_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const r = await run;
    expect(r.type).toBe("cancelled");
  });
});

describe("script security", () => {
  it("accepts a root-owned 0755 script in a root-owned directory", () => {
    const p = t.script("ok", "exit 0");
    expect(scriptProblem(p, { secure: true })).toBeNull();
  });

  it("refuses a world-writable script", () => {
    const p = t.script("ww", "exit 0", 0o757);
    chmodSync(p, 0o777);
    expect(scriptProblem(p, { secure: true })).toMatch(/ww is writable by everyone/);
    expect(scriptProblem(p, { secure: false })).toBeNull();
  });

  it("refuses a script group-writable by a non-root group", () => {
    const p = t.script("gw", "exit 0", 0o775);
    chownSync(p, 0, 1234);
    expect(scriptProblem(p, { secure: true })).toMatch(/writable by group 1234/);
  });

  it("refuses a script owned by a non-root user", () => {
    const p = t.script("own", "exit 0");
    chownSync(p, 1234, 0);
    expect(scriptProblem(p, { secure: true })).toMatch(/owned by uid 1234/);
  });

  it("refuses a script in a writable parent directory", () => {
    const sub = join(t.dir, "open");
    mkdirSync(sub);
    chmodSync(sub, 0o777);
    const p = t.script("open/s", "exit 0");
    expect(scriptProblem(p, { secure: true })).toMatch(/directory .*open is writable by everyone/);
  });

  it("refuses a script that is not executable or missing", () => {
    const p = t.script("noexec", "exit 0", 0o644);
    expect(scriptProblem(p, { secure: false })).toMatch(/not executable/);
    expect(scriptProblem(join(t.dir, "missing"), { secure: false })).toMatch(/no such file/);
    expect(scriptProblem("no-such-command-vipd", { secure: false })).toMatch(/not found on PATH/);
  });

  it("resolves bare names on PATH and script_user names", () => {
    expect(resolveProgram("sh")).toMatch(/\/sh$/);
    expect(resolveScriptUser("root")).toEqual({ name: "root", uid: 0, gid: 0 });
    expect(resolveScriptUser("1000:1001")).toEqual({ name: "1000:1001", uid: 1000, gid: 1001 });
    expect(resolveScriptUser("no-such-user-vipd")).toBeNull();
  });
});

describe("config-time script checks", () => {
  const yaml = (notify: string, extra = "") => `
global:
  metrics_listen: false
${extra}
instances:
  web:
    interface: eth0
    vrid: 51
    virtual_ips: [192.0.2.200/24]
    notify: ${notify}
`;

  it("reports a world-writable notify script with its path and why", () => {
    const p = t.script("n.sh", "exit 0");
    chmodSync(p, 0o777);
    expect(() => loadConfigText(yaml(p), "vipd.yaml", { checkScripts: true })).toThrow(
      /vipd\.yaml:10:13: instances\.web\.notify: refused: .*n\.sh is writable by everyone/,
    );
    // Without the host check (loadConfigText's default) the file is only parsed.
    expect(loadConfigText(yaml(p), "vipd.yaml").instances.web?.notify.any).toBe(p);
  });

  it("accepts a safe script and honours enable_script_security: false", () => {
    const p = t.script("n.sh", "exit 0");
    expect(loadConfigText(yaml(p), "f", { checkScripts: true }).instances.web?.notify.any).toBe(p);
    chmodSync(p, 0o777);
    const c = loadConfigText(yaml(p, "  enable_script_security: false"), "f", { checkScripts: true });
    expect(c.global.enableScriptSecurity).toBe(false);
  });

  it("checks track scripts, fence agents and script_user", () => {
    const c = loadConfigText(
      `
global:
  metrics_listen: false
  script_user: no-such-user-vipd
  fence: { levels: [[{ agent: ${join(t.dir, "fence_missing")} }]] }
track_scripts:
  chk: { script: [no-such-command-vipd] }
instances:
  web: { interface: eth0, vrid: 51, virtual_ips: [192.0.2.200/24], track_scripts: [chk] }
`,
      "f",
    );
    const issues = checkConfigScripts(c).map((i) => i.message);
    expect(issues).toEqual([
      'global.script_user: no user "no-such-user-vipd" on this system',
      "track_scripts.chk.script: refused: no-such-command-vipd: not found on PATH (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin); give an absolute path",
      `global.fence.levels[0][0].agent: refused: ${join(t.dir, "fence_missing")}: no such file`,
    ]);
  });
});
