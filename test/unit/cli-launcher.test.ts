// bin/vipd.js starts `vipd run` as CommonJS, through the bundle: Node's ES module loader and
// node:fs/promises (with streams, readline and file watchers) and node:zlib cost RSS for the
// daemon's whole life, so a `vipd run` must not load them. The test runs the built launcher on a
// config that does not exist (it stops right after reading it) with a preload that writes the
// built-in modules loaded by then.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repo = new URL("../../", import.meta.url).pathname;
const built =
  existsSync(join(repo, "dist/bundle/run.cjs")) &&
  existsSync(join(repo, "dist/src/cli/main.js")) &&
  statSync(join(repo, "dist/bundle/run.cjs")).mtimeMs >= statSync(join(repo, "dist/src/cli/main.js")).mtimeMs;

const dir = mkdtempSync(join(tmpdir(), "vipd-launcher-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The built-in modules a `vipd <args>` process loaded before it exited, and its exit. */
function loadedBy(args: string[]): { modules: string[]; status: number | null; stderr: string } {
  const out = join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`);
  const probe = join(dir, "probe.cjs");
  writeFileSync(
    probe,
    `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(out)}, process.moduleLoadList.join("\\n")));\n`,
  );
  const r = spawnSync(process.execPath, ["--require", probe, join(repo, "bin/vipd.js"), ...args], {
    encoding: "utf8",
    timeout: 20_000,
    env: { ...process.env, VIPD_CODE_CACHE_DIR: "off" },
  });
  const modules = readFileSync(out, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("NativeModule "))
    .map((l) => l.slice("NativeModule ".length));
  return { modules, status: r.status, stderr: r.stderr };
}

describe.skipIf(!built)("bin/vipd.js (built)", () => {
  it("runs `vipd run` without the ES module loader, node:fs/promises or node:zlib", () => {
    const r = loadedBy(["run", "--config", join(dir, "missing.yaml")]);
    // 78: the config cannot be read; the daemon got as far as reading it.
    expect(r.status, r.stderr).toBe(78);
    expect(r.stderr).toContain("cannot read the config");
    // The bundle ran: the config loader is in it.
    expect(r.modules).toContain("vm");
    for (const m of ["internal/fs/promises", "zlib", "readline", "internal/modules/esm/load"])
      expect(r.modules, m).not.toContain(m);
  });

  it("still runs the other commands, which are ES modules", () => {
    const r = loadedBy(["check", "--config", join(dir, "missing.yaml")]);
    expect(r.status, r.stderr).toBe(78);
    expect(r.modules).toContain("internal/modules/esm/load");
  });

  it("`vipd run` reads its config through config.cjs, and the loader is garbage after each read", () => {
    const config = join(dir, "ok.yaml");
    writeFileSync(
      config,
      "global:\n  router_id: a\ninstances:\n  VI_1:\n    interface: lo\n    vrid: 7\n    priority: 100\n    virtual_ips: [192.0.2.7/24]\n",
    );
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "global:\n  router_id: a\ninstances:\n  VI_1:\n    interface: lo\n    vrid: 300\n");
    const script = join(dir, "isolated.mjs");
    const isolated = join(repo, "dist/src/cli/config-bundle.js");
    const errors = join(repo, "dist/src/config/errors.js");
    const bundle = join(repo, "dist/bundle/config.cjs");
    writeFileSync(
      script,
      [
        `import { loadConfigIsolated, LOADER_GLOBALS } from ${JSON.stringify(isolated)};`,
        `import { isConfigError } from ${JSON.stringify(errors)};`,
        `import { loadCommonJsWithCache } from ${JSON.stringify(join(repo, "dist/src/cli/code-cache.js"))};`,
        "const used = () => { for (let i = 0; i < 6; i++) gc(); return process.memoryUsage().heapUsed; };",
        `const before = used();`,
        `const cfg = await loadConfigIsolated(${JSON.stringify(bundle)}, null, ${JSON.stringify(config)});`,
        "const afterDrop = used() - before;",
        `let error = null;`,
        `try { await loadConfigIsolated(${JSON.stringify(bundle)}, null, ${JSON.stringify(bad)}); } catch (e) { error = { branded: isConfigError(e), code: e.code, issues: e.issues.length }; }`,
        "const globalsLeft = LOADER_GLOBALS.filter((g) => g in globalThis);",
        // The same script kept (what run.cjs did before): its heap stays.
        `const kept = loadCommonJsWithCache(${JSON.stringify(bundle)}, null);`,
        `await kept.exports.loadConfigFile(${JSON.stringify(config)});`,
        "const afterKeep = used() - before;",
        "console.log(JSON.stringify({ vrid: cfg.instances.VI_1.vrid, error, globalsLeft, afterDrop, afterKeep }));",
      ].join("\n"),
    );
    const r = spawnSync(process.execPath, ["--expose-gc", script], { encoding: "utf8", timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      vrid: number;
      error: unknown;
      globalsLeft: string[];
      afterDrop: number;
      afterKeep: number;
    };
    expect(out.vrid).toBe(7);
    expect(out.error).toEqual({ branded: true, code: "CONFIG_INVALID", issues: 2 });
    expect(out.globalsLeft).toEqual([]);
    // A loader kept referenced holds over a megabyte more than one dropped (measured: 1.6 MiB; what
    // stays either way is the built-in modules it loaded, once per process).
    expect(out.afterKeep - out.afterDrop).toBeGreaterThan(1024 * 1024);
  });
});
