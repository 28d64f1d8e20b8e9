// The V8 code cache of `vipd run` (src/cli/code-cache.ts): a cache is used only when it matches the
// script, the runtime and the flags, is intact and safe; anything else is a miss that still runs
// the script, and a miss leaves a fresh cache behind when the directory is writable.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  CACHE_FILE,
  cacheKey,
  codeCacheDir,
  decodeCache,
  encodeCache,
  fileIdentity,
  loadCommonJsWithCache,
} from "../../src/cli/code-cache.js";
import { afterStart, runMain } from "../../src/cli/run-main.js";

// A script with enough functions for V8 to cache something, using every wrapper parameter.
const SCRIPT = `(function (exports, require, module, __filename, __dirname, __vipdImportMetaUrl) {
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
exports.fib = fib(15);
exports.url = __vipdImportMetaUrl;
exports.file = __filename;
exports.dir = __dirname;
exports.path = require("node:path").basename(__filename);
module.exports.same = module.exports === exports;
})`;

let dir: string;
let script: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "vipd-code-cache-"));
  script = join(dir, "run.cjs");
  writeFileSync(script, SCRIPT);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const cacheFile = () => join(dir, CACHE_FILE);

describe("loadCommonJsWithCache", () => {
  it("runs the script as CommonJS with import.meta.url as a parameter", () => {
    const s = loadCommonJsWithCache(script, null);
    expect(s.load).toEqual({ type: "off" });
    expect(s.exports).toEqual({
      fib: 610,
      url: `file://${script}`,
      file: script,
      dir,
      path: "run.cjs",
      same: true,
    });
    expect(s.saveCache()).toEqual({ type: "not-needed" });
  });

  it("misses without a file, writes one, then hits with the same results", () => {
    const first = loadCommonJsWithCache(script, dir);
    expect(first.load).toEqual({ type: "miss", reason: "no cache yet" });
    const saved = first.saveCache();
    expect(saved.type).toBe("written");
    expect(statSync(cacheFile()).mode & 0o777).toBe(0o600);
    // Only once: a second call has nothing to do.
    expect(first.saveCache()).toEqual({ type: "not-needed" });

    const second = loadCommonJsWithCache(script, dir);
    expect(second.load.type).toBe("hit");
    expect(second.exports.fib).toBe(610);
    expect(second.saveCache()).toEqual({ type: "not-needed" });
  });

  it("ignores a cache made for another source, even of the same length", () => {
    loadCommonJsWithCache(script, dir).saveCache();
    writeFileSync(script, SCRIPT.replace("fib(15)", "fib(16)"));
    // File times are kept at the kernel's tick (a few ms): a rewrite that fast could keep them, which
    // no build does. The test sets them apart itself.
    utimesSync(script, new Date(Date.now() + 10_000), new Date(Date.now() + 10_000));
    const s = loadCommonJsWithCache(script, dir);
    expect(s.load).toEqual({ type: "miss", reason: "stale (made for another build, runtime or flags)" });
    expect(s.exports.fib).toBe(987);
    expect(s.saveCache().type).toBe("written");
    expect(loadCommonJsWithCache(script, dir).load.type).toBe("hit");
  });

  it("ignores a cache made with other V8 flags", () => {
    loadCommonJsWithCache(script, dir, { execArgv: ["--max-semi-space-size=1"] }).saveCache();
    const s = loadCommonJsWithCache(script, dir, { execArgv: [] });
    expect(s.load).toEqual({ type: "miss", reason: "stale (made for another build, runtime or flags)" });
  });

  it("rejects a cache whose data is damaged, and runs from source (a fresh process: V8 checks the data)", () => {
    // The key holds the process's flags: both sides name the same ones.
    loadCommonJsWithCache(script, dir, { execArgv: [] }).saveCache();
    const file = readFileSync(cacheFile());
    // A byte in the middle of V8's data, past vipd's header.
    const at = file.length - Math.floor((file.length - 200) / 2);
    writeFileSync(cacheFile(), file.with(at, (file[at] as number) ^ 0x5a), { mode: 0o600 });
    // In this process V8 would take the script from its own compilation cache and never read the file.
    const child = join(dir, "load.mts");
    const codeCache = new URL("../../src/cli/code-cache.ts", import.meta.url).pathname;
    writeFileSync(
      child,
      `import { loadCommonJsWithCache } from ${JSON.stringify(codeCache)};\n` +
        `const s = loadCommonJsWithCache(${JSON.stringify(script)}, ${JSON.stringify(dir)}, { execArgv: [] });\n` +
        "console.log(JSON.stringify({ load: s.load, fib: s.exports.fib }));\n",
    );
    const r = spawnSync(process.execPath, ["--import", "tsx", child], {
      cwd: new URL("../..", import.meta.url).pathname,
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ load: { type: "rejected", bytes: expect.any(Number) }, fib: 610 });
  });

  it.each([
    ["a truncated file", (b: Buffer) => b.subarray(0, b.length - 100), "truncated data"],
    ["another file format", () => Buffer.from("hello"), "not a vipd code cache"],
    ["an empty file", () => Buffer.alloc(0), "not a vipd code cache"],
  ])("ignores %s and runs from source", (_what, damage, reason) => {
    loadCommonJsWithCache(script, dir).saveCache();
    writeFileSync(cacheFile(), damage(readFileSync(cacheFile())), { mode: 0o600 });
    const s = loadCommonJsWithCache(script, dir);
    expect(s.load).toEqual({ type: "miss", reason });
    expect(s.exports.fib).toBe(610);
  });

  it("reports V8's refusal of data that passed vipd's checks, and runs from source", () => {
    const key = cacheKey(fileIdentity(statSync(script, { bigint: true })), process.execArgv);
    writeFileSync(cacheFile(), encodeCache(key, Buffer.from("not V8 code cache data at all")), {
      mode: 0o600,
    });
    const s = loadCommonJsWithCache(script, dir);
    expect(s.load).toEqual({ type: "rejected", bytes: 29 });
    expect(s.exports.fib).toBe(610);
    expect(s.saveCache().type).toBe("written");
    expect(loadCommonJsWithCache(script, dir).load.type).toBe("hit");
  });

  it("does not read a cache file others can write", () => {
    loadCommonJsWithCache(script, dir).saveCache();
    chmodSync(cacheFile(), 0o666);
    expect(loadCommonJsWithCache(script, dir).load).toEqual({
      type: "miss",
      reason: "writable by group or others",
    });
  });

  it("misses and writes nothing when the cache directory does not exist", () => {
    const s = loadCommonJsWithCache(script, join(dir, "missing"));
    expect(s.load).toEqual({ type: "miss", reason: "no cache yet" });
    // The directory does not exist: nothing can be written, and saying so is not an error.
    expect(s.saveCache()).toEqual({ type: "not-needed" });
  });

  it("reports a failed write without throwing", () => {
    // A file already in the temp file's place (created exclusively) makes the write fail.
    const s = loadCommonJsWithCache(script, dir);
    const tmp = `${cacheFile()}.${process.pid}.tmp`;
    writeFileSync(tmp, "someone else's");
    const saved = s.saveCache();
    expect(saved.type).toBe("failed");
    expect(saved.type === "failed" && saved.error).toMatch(/EEXIST/);
    expect(() => statSync(cacheFile())).toThrow(/ENOENT/);
  });

  it("lets the script's own errors through", () => {
    writeFileSync(script, '(function () { throw new Error("boom from the script"); })');
    expect(() => loadCommonJsWithCache(script, dir)).toThrow("boom from the script");
  });
});

describe("codeCacheDir", () => {
  it("prefers VIPD_CODE_CACHE_DIR, then systemd's CACHE_DIRECTORY, then the script's directory", () => {
    expect(codeCacheDir({ VIPD_CODE_CACHE_DIR: "/c", CACHE_DIRECTORY: "/s" }, "/b")).toBe("/c");
    expect(codeCacheDir({ CACHE_DIRECTORY: "/var/cache/vipd:/var/cache/other" }, "/b")).toBe(
      "/var/cache/vipd",
    );
    expect(codeCacheDir({}, "/b")).toBe("/b");
    expect(codeCacheDir({ VIPD_CODE_CACHE_DIR: "" }, "/b")).toBe("/b");
    expect(codeCacheDir({ VIPD_CODE_CACHE_DIR: "off", CACHE_DIRECTORY: "/s" }, "/b")).toBeNull();
  });
});

describe("encodeCache / decodeCache", () => {
  it("round-trips the data for the same key and refuses another key", () => {
    const data = Buffer.from([1, 2, 3, 4, 5]);
    const file = encodeCache("k1", data);
    expect(decodeCache(file, "k1")).toEqual({ data });
    expect(decodeCache(file, "k2")).toEqual({ reason: "stale (made for another build, runtime or flags)" });
  });

  it("refuses a header that is cut or not JSON", () => {
    const file = encodeCache("k", Buffer.from([9]));
    expect(decodeCache(file.subarray(0, 25), "k")).toEqual({ reason: "truncated header" });
    const bad = Buffer.from(file);
    bad.write("!", 20, "latin1");
    expect(decodeCache(bad, "k")).toEqual({ reason: "unreadable header" });
  });
});

describe("runMain and the cache after start", () => {
  it("leaves any other command line to the full CLI", async () => {
    expect(await runMain(["status"])).toBeNull();
    expect(await runMain(["run", "--help"])).toBeNull();
  });

  const logger = () => {
    const lines: { level: string; msg: string; fields: unknown }[] = [];
    const at =
      (level: string) =>
      (a: unknown, b?: string): void => {
        lines.push({
          level,
          msg: typeof a === "string" ? a : (b ?? ""),
          fields: typeof a === "string" ? {} : a,
        });
      };
    return { lines, log: { debug: at("debug"), info: at("info"), warn: at("warn") } };
  };

  it("after a miss, writes the cache later and logs both", () => {
    const l = logger();
    const scheduled: { fn: () => void; ms: number }[] = [];
    let saves = 0;
    afterStart(
      {
        load: { type: "miss", reason: "no cache yet" },
        cachePath: "/c/run.v8cache",
        saveCache: () => {
          saves++;
          return { type: "written", path: "/c/run.v8cache", bytes: 10, ms: 1.4 };
        },
      },
      l.log as never,
      (fn, ms) => scheduled.push({ fn, ms }),
    );
    expect(l.lines.map((x) => x.msg)).toEqual(["code cache not used: no cache yet"]);
    expect(saves).toBe(0);
    expect(scheduled).toHaveLength(1);
    scheduled[0]?.fn();
    expect(saves).toBe(1);
    expect(l.lines.at(-1)).toEqual({
      level: "info",
      msg: "code cache written",
      fields: { path: "/c/run.v8cache", bytes: 10, ms: 1 },
    });
  });

  it("warns when the write fails, and schedules nothing after a hit", () => {
    const l = logger();
    const scheduled: (() => void)[] = [];
    const failing = {
      load: { type: "rejected", bytes: 5 } as const,
      cachePath: "/c/run.v8cache",
      saveCache: () =>
        ({ type: "failed", path: "/c/run.v8cache", error: "EROFS: read-only file system" }) as const,
    };
    afterStart(failing, l.log as never, (fn) => scheduled.push(fn));
    scheduled[0]?.();
    expect(l.lines.map((x) => `${x.level} ${x.msg}`)).toEqual([
      "info code cache refused by V8: started without it",
      "warn code cache not written: EROFS: read-only file system",
    ]);
    const hit = logger();
    afterStart({ ...failing, load: { type: "hit", bytes: 5 } }, hit.log as never, (fn) => scheduled.push(fn));
    expect(scheduled).toHaveLength(1);
    expect(hit.lines.map((x) => `${x.level} ${x.msg}`)).toEqual(["debug code cache used"]);
  });
});
