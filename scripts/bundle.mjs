// Bundles the compiled CLI (dist/src/cli/main.js) into dist/bundle/ for start-up time: one file per
// lazily loaded part instead of a few hundred modules resolved one by one (`vipd run` reaches
// READY in about two thirds of the time). bin/vipd.js prefers the bundle when it is at least as
// new as dist/src; run after `tsc -p tsconfig.build.json` (npm run build:ts does both).
import { rmSync } from "node:fs";
import { build } from "esbuild";

// Chunk names carry a content hash: without this, every build would leave the last one's behind.
rmSync("dist/bundle", { recursive: true, force: true });

await build({
  entryPoints: ["dist/src/cli/main.js"],
  outdir: "dist/bundle",
  outbase: "dist/src",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // CommonJS dependencies (pino, yaml) call require() for Node's built-ins.
  banner: { js: 'import { createRequire as __vipdCreateRequire } from "node:module";\nconst require = __vipdCreateRequire(import.meta.url);' },
  // The native addon and the few library files loaded through createRequire stay on disk.
  external: ["*.node"],
  logLevel: "warning",
});
