#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1
// --max-semi-space-size=1: a smaller young generation, ~5 MiB less RSS; --v8-pool-size=1: one V8
// worker thread, each one keeps a malloc arena (~4.5 MiB less at 255 VRIDs). Started as
// "node bin/vipd.js" this line is not read: set NODE_OPTIONS (the unit does).
// The bundle (scripts/bundle.mjs) starts faster; it is used only when it is not older than the
// compiled sources, so a `tsc` without the bundle step never runs stale code. `vipd run` runs the
// bundle's run.cjs through a V8 code cache (src/cli/code-cache.ts): no parse and compile of the
// bundle at start (READY 30-70 ms sooner on the 2-core lab machine).
import { statSync } from "node:fs";

const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
const bundled = mtime("../dist/bundle/run.cjs");
const compiled = mtime("../dist/src/cli/main.js");
const fresh = bundled !== undefined && (compiled === undefined || bundled >= compiled);
let code = null;
if (fresh && process.argv[2] === "run") {
  const { codeCacheDir, loadCommonJsWithCache } = await import("../dist/bundle/cli/code-cache.js");
  const { fileURLToPath } = await import("node:url");
  const path = fileURLToPath(new URL("../dist/bundle/run.cjs", import.meta.url));
  const cache = loadCommonJsWithCache(path, codeCacheDir(process.env, fileURLToPath(new URL("../dist/bundle/", import.meta.url))));
  code = await cache.exports.runMain(process.argv.slice(2), { codeCache: cache });
  // null: not a plain `vipd run` line (help, a typo): the full command line below answers it.
  if (code !== null) process.exit(code);
}
if (fresh) await import("../dist/bundle/cli/main.js");
else await import("../dist/src/cli/main.js");
