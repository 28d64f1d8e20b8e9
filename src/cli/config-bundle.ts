// In dist/bundle/run.cjs, this module stands in for src/config/load.ts (scripts/bundle.mjs swaps
// them). The config loader (yaml, zod, the schema and the semantic checks) is a script of its own,
// dist/bundle/config.cjs, compiled with its own code cache on each load, at start and at reload,
// and dropped as soon as the config is read: its code and objects (1.6 MiB of V8 heap, measured by
// test/unit/cli-launcher.test.ts) are garbage from then on instead of staying in the daemon for its
// whole life. A VipdConfig is plain
// data (objects, arrays, strings, numbers), so nothing of the script outlives the call.
import { fileURLToPath } from "node:url";

import type * as Load from "../config/load.js";
import type { VipdConfig } from "../config/types.js";
import { codeCacheDir, loadCommonJsWithCache } from "./code-cache.js";

/** The cache file of config.cjs, beside run.cjs's. */
export const CONFIG_CACHE_FILE = "config.v8cache";

/**
 * The globals zod sets on its first load and reads back on the next: its registry and its config
 * (which holds its error-message functions). Either would keep the whole script alive; they are
 * removed after each load and made afresh by the next.
 */
export const LOADER_GLOBALS = ["__zod_globalRegistry", "__zod_globalConfig"] as const;

/** Loads the script at scriptPath (a bundle of config/load.ts), reads the config with it, drops it. */
export async function loadConfigIsolated(
  scriptPath: string,
  cacheDir: string | null,
  path: string,
): Promise<VipdConfig> {
  const script = loadCommonJsWithCache(scriptPath, cacheDir, { cacheFile: CONFIG_CACHE_FILE });
  try {
    return await (script.exports as unknown as typeof Load).loadConfigFile(path);
  } finally {
    // After a miss, the cache holds what this load compiled; the next load (a reload, the next
    // start) is a hit. A failed write only costs that.
    script.saveCache();
    const g = globalThis as Record<string, unknown>;
    for (const name of LOADER_GLOBALS) delete g[name];
  }
}

/** config/load.ts's loadConfigFile, through dist/bundle/config.cjs beside this bundle. */
export function loadConfigFile(path: string): Promise<VipdConfig> {
  const script = fileURLToPath(new URL("./config.cjs", import.meta.url));
  const dir = fileURLToPath(new URL(".", import.meta.url));
  return loadConfigIsolated(script, codeCacheDir(process.env, dir), path);
}
