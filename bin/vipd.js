#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1
// --max-semi-space-size=1: a smaller young generation, ~5 MiB less RSS; --v8-pool-size=1: one V8
// worker thread, each one keeps a malloc arena (~4.5 MiB less at 255 VRIDs). Started as
// "node bin/vipd.js" this line is not read: set NODE_OPTIONS (the unit does).
// The bundle (scripts/bundle.mjs) starts faster; it is used only when it is not older than the
// compiled sources, so a `tsc` without the bundle step never runs stale code.
import { statSync } from "node:fs";

const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs;
const bundled = mtime("../dist/bundle/cli/main.js");
const compiled = mtime("../dist/src/cli/main.js");
if (bundled !== undefined && (compiled === undefined || bundled >= compiled))
  await import("../dist/bundle/cli/main.js");
else await import("../dist/src/cli/main.js");
