// Bundles the compiled CLI (dist/src/cli/main.js) into dist/bundle/ for start-up time: one file per
// lazily loaded part instead of a few hundred modules resolved one by one (`vipd run` reaches
// READY in about two thirds of the time). bin/vipd.js prefers the bundle when it is at least as
// new as dist/src; run after `tsc -p tsconfig.build.json` (npm run build:ts does both).
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { build } from "esbuild";

// Chunk names carry a content hash: without this, every build would leave the last one's behind.
rmSync("dist/bundle", { recursive: true, force: true });

const result = await build({
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
  write: false,
});
// V8 keeps each module's source text in the heap, one byte per character only when every
// character is Latin-1: a single em dash in a comment doubles the 650 KB chunk to 1.3 MB of UTF-16.
// esbuild already escapes non-ASCII in strings and regexps; what is left is in comments, where an
// escape changes nothing.
for (const file of result.outputFiles) {
  const text = file.text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  mkdirSync(dirname(file.path), { recursive: true });
  writeFileSync(file.path, text);
}
