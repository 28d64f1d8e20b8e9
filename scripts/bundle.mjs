// Bundles the compiled CLI (dist/src/cli/main.js) into dist/bundle/ for start-up time: one file per
// lazily loaded part instead of a few hundred modules resolved one by one (`vipd run` reaches
// READY in about two thirds of the time). bin/vipd.js prefers the bundle when it is at least as
// new as dist/src; run after `tsc -p tsconfig.build.json` (npm run build:ts does both).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { build } from "esbuild";
import { WRAPPER_PARAMS } from "../dist/src/cli/code-cache.js";

// Chunk names carry a content hash: without this, every build would leave the last one's behind.
rmSync("dist/bundle", { recursive: true, force: true });

const esm = await build({
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
// `vipd run` as one CommonJS script, which bin/vipd.js compiles with node:vm and a V8 code cache
// (src/cli/code-cache.ts: Node 20 caches no compiled code for ES modules). The lazily imported
// parts (the runtime) are inlined as functions run on first use; import.meta.url is a parameter of
// the function expression the file is (code-cache.ts, WRAPPER_PARAMS).
//
// pino loads its transport machinery (thread-stream, a worker thread per transport) with itself;
// vipd never asks for a transport (src/cli/run.ts logs to stdout through sonic-boom). In run.cjs,
// pino's lib/transport.js (pino.transport) is a stub that throws if it is ever called, and lib/tools.js, which
// reads only isMainThread from worker_threads, gets `true` (run.cjs only runs on the main thread).
// Checked against pino's text, so that a pino upgrade that changes either fails the build here.
const PINO_TOOLS_WORKER = "const { isMainThread } = require('worker_threads')";
const pinoTools = readFileSync("node_modules/pino/lib/tools.js", "utf8");
if (!pinoTools.includes(PINO_TOOLS_WORKER) || pinoTools.includes("worker_threads", pinoTools.indexOf(PINO_TOOLS_WORKER) + PINO_TOOLS_WORKER.length))
  throw new Error("pino/lib/tools.js no longer reads worker_threads as this build expects: review scripts/bundle.mjs");
const withoutPinoTransport = {
  name: "without-pino-transport",
  setup(b) {
    // tools.js: require('./transport') and require('worker_threads'); pino.js: require('./lib/transport').
    b.onResolve({ filter: /^(\.\/transport|\.\/lib\/transport|worker_threads)$/ }, (args) =>
      /[\\/]pino[\\/](lib[\\/]tools|pino)\.js$/.test(args.importer)
        ? { path: args.path === "worker_threads" ? args.path : "transport", namespace: "vipd-stub" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "vipd-stub" }, (args) => ({
      loader: "js",
      contents:
        args.path === "worker_threads"
          ? "module.exports = { isMainThread: true };"
          : 'module.exports = function transport() { throw new Error("pino transports are not bundled in vipd"); };',
    }));
  },
};
// run.cjs reads its config through dist/bundle/config.cjs (below), loaded for each read and dropped
// after it (src/cli/config-bundle.ts): config/load.js is swapped for config-bundle.js.
const configLoad = resolve("dist/src/config/load.js");
const configOnDemand = {
  name: "config-on-demand",
  setup(b) {
    b.onResolve({ filter: /(^|\/)load\.js$/ }, (args) =>
      resolve(args.resolveDir, args.path) === configLoad ? { path: resolve("dist/src/cli/config-bundle.js") } : undefined,
    );
  },
};
// The form of the scripts code-cache.ts loads (run.cjs and config.cjs): one CommonJS file that is
// one function expression, so that its text is compiled as it is.
const scriptOptions = {
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  define: { "import.meta.url": "__vipdImportMetaUrl" },
  // No comments or indentation: V8 keeps a script's whole source in the heap for as long as it runs
  // (run.cjs was 977 KB, 634 with this). Names are kept, so stack traces and CPU profiles still
  // name every function.
  minifyWhitespace: true,
  minifySyntax: true,
  banner: { js: `(function (${WRAPPER_PARAMS.join(", ")}) {` },
  footer: { js: "})" },
  external: ["*.node"],
  logLevel: "warning",
  write: false,
};
const cjs = await build({
  ...scriptOptions,
  plugins: [withoutPinoTransport, configOnDemand],
  entryPoints: ["dist/src/cli/run-main.js"],
  outfile: "dist/bundle/run.cjs",
});
// The config loader of run.cjs (src/cli/config-bundle.ts).
const config = await build({
  ...scriptOptions,
  entryPoints: ["dist/src/config/load.js"],
  outfile: "dist/bundle/config.cjs",
});
// The code cache's loader, for bin/vipd.js, which is CommonJS so that `vipd run` never loads Node's
// ES module loader.
const loader = await build({
  entryPoints: ["dist/src/cli/code-cache.js"],
  outfile: "dist/bundle/cli/code-cache.cjs",
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  logLevel: "warning",
  write: false,
});
const outputs = [...esm.outputFiles, ...cjs.outputFiles, ...config.outputFiles, ...loader.outputFiles];
// A classic script has no module loader for import(): run.cjs must not contain one.
const run = cjs.outputFiles[0]?.text ?? "";
if (/\bimport\(/.test(run)) throw new Error("dist/bundle/run.cjs calls import(): use require for lazy builtins");

// V8 keeps each module's source text in the heap, one byte per character only when every
// character is Latin-1: a single em dash in a comment doubles the 650 KB chunk to 1.3 MB of UTF-16.
// esbuild already escapes non-ASCII in strings and regexps; what is left is in comments, where an
// escape changes nothing.
for (const file of outputs) {
  const text = file.text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  mkdirSync(dirname(file.path), { recursive: true });
  writeFileSync(file.path, text);
}
