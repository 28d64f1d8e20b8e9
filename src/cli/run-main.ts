// `vipd run` as one classic script: scripts/bundle.mjs bundles this file (and all it loads) into
// dist/bundle/run.cjs, which bin/vipd.js compiles with a V8 code cache (code-cache.ts).
import type { Logger } from "pino";
import type { CacheLoad, CacheSave } from "./code-cache.js";
import { processIo } from "./io.js";
import { runCommand } from "./run.js";
import { parseRunArgs } from "./run-args.js";

/** The code cache the script was loaded with (bin/vipd.js passes loadCommonJsWithCache's result). */
export interface BootCodeCache {
  load: CacheLoad;
  cachePath: string | null;
  saveCache(): CacheSave;
}

/**
 * A missed cache is written this long after READY: after the first takeover rehearsal, so that the
 * takeover path's bytecode is in it too, and early enough for short runs. One synchronous
 * serialisation (~10-15 ms for the whole bundle), only after a miss.
 */
export const CACHE_SAVE_DELAY_MS = 500;

/** Runs `vipd run` and resolves with its exit code; null when args are not a plain `run` line. */
export async function runMain(
  args: readonly string[],
  boot: { codeCache?: BootCodeCache } = {},
): Promise<number | null> {
  const runArgs = parseRunArgs(args);
  if (!runArgs) return null;
  const cache = boot.codeCache;
  return runCommand(runArgs, processIo, cache ? { onStarted: (log) => afterStart(cache, log) } : {});
}

/** Logs how the code cache was used and, after a miss, writes a fresh one a little later. */
export function afterStart(
  cache: BootCodeCache,
  log: Logger,
  schedule: (fn: () => void, ms: number) => void = (fn, ms) => setTimeout(fn, ms).unref(),
): void {
  const l = cache.load;
  const path = cache.cachePath;
  if (l.type === "hit") log.debug({ path, bytes: l.bytes }, "code cache used");
  else if (l.type === "off") log.debug("code cache off");
  else if (l.type === "rejected") log.info({ path }, "code cache refused by V8: started without it");
  else log.info({ path, reason: l.reason }, `code cache not used: ${l.reason}`);
  if (l.type !== "miss" && l.type !== "rejected") return;
  schedule(() => {
    const s = cache.saveCache();
    if (s.type === "written")
      log.info({ path: s.path, bytes: s.bytes, ms: Math.round(s.ms) }, "code cache written");
    else if (s.type === "failed")
      log.warn({ path: s.path, error: s.error }, `code cache not written: ${s.error}`);
  }, CACHE_SAVE_DELAY_MS);
}
