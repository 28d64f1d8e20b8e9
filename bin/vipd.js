#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1 --expose-gc
// --max-semi-space-size=1: a smaller young generation, ~5 MiB less RSS; --v8-pool-size=1: one V8
// worker thread, each one keeps a malloc arena (~4.5 MiB less at 255 VRIDs); --expose-gc: the
// fallback collector of the collection after start-up when the addon was built for another Node
// (src/runtime/startup-gc.ts, ~3 MiB less at 255 VRIDs). Started as
// "node bin/vipd.js" this line is not read: set NODE_OPTIONS (the unit does).
// The bundle (scripts/bundle.mjs) starts faster; it is used only when it is not older than the
// compiled sources, so a `tsc` without the bundle step never runs stale code. `vipd run` runs the
// bundle's run.cjs through a V8 code cache (src/cli/code-cache.ts): no parse and compile of the
// bundle at start (READY 30-70 ms sooner on the 2-core lab machine).
// This file is CommonJS (bin/package.json): an ES module entry would load Node's ES module loader,
// and node:fs/promises with its streams and readline, into every `vipd run` (2.9 MiB RSS in a bare
// node; vipd loads part of that anyway, and this change, node:zlib's removal with it, measured
// about 0.5 MiB less at 255 VRIDs).
// The other commands are ES modules, imported on demand.
"use strict";
const { statSync } = require("node:fs");
const { join } = require("node:path");

const mtime = (rel) => statSync(join(__dirname, rel), { throwIfNoEntry: false })?.mtimeMs;
const bundled = mtime("../dist/bundle/run.cjs");
const compiled = mtime("../dist/src/cli/main.js");
const fresh = bundled !== undefined && (compiled === undefined || bundled >= compiled);

async function main() {
  if (fresh && process.argv[2] === "run") {
    const { codeCacheDir, loadCommonJsWithCache } = require("../dist/bundle/cli/code-cache.cjs");
    const bundle = join(__dirname, "../dist/bundle");
    const cache = loadCommonJsWithCache(join(bundle, "run.cjs"), codeCacheDir(process.env, bundle));
    const code = await cache.exports.runMain(process.argv.slice(2), { codeCache: cache });
    // null: not a plain `vipd run` line (help, a typo): the full command line below answers it.
    if (code !== null) process.exit(code);
  }
  if (fresh) await import("../dist/bundle/cli/main.js");
  else await import("../dist/src/cli/main.js");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
