import pino from "pino";

import type { RunDaemon } from "../runtime/daemon-api.js";
import { loadOrReport } from "./check.js";
import { EX_CONFIG, EX_NOPERM, EX_OSERR, EX_SOFTWARE } from "./exit-codes.js";
import type { CliIo } from "./io.js";
import type { LogLevel } from "./run-args.js";

export { LOG_LEVELS, type LogLevel } from "./run-args.js";

// Loaded on demand (the other commands never load the runtime); a literal specifier, so that the
// bundle (scripts/bundle.mjs) carries the runtime as a chunk of its own.
async function loadRunDaemon(): Promise<RunDaemon> {
  const mod = (await import("../runtime/daemon.js")) as { runDaemon?: RunDaemon };
  if (typeof mod.runDaemon !== "function") throw new Error("../runtime/daemon.js has no runDaemon export");
  return mod.runDaemon;
}

export function createLogger(level: LogLevel): pino.Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

export async function runCommand(
  o: { config: string; logLevel: LogLevel },
  io: CliIo,
  deps: {
    loadRunDaemon?: () => Promise<RunDaemon>;
    logger?: pino.Logger;
    /** Called once runDaemon resolved: READY was sent (or the start failed and `stopped` settles). */
    onStarted?: (logger: pino.Logger) => void;
  } = {},
): Promise<number> {
  const config = await loadOrReport(o.config, io);
  if (!config) return EX_CONFIG;
  const logger = deps.logger ?? createLogger(o.logLevel);
  let runDaemon: RunDaemon;
  try {
    runDaemon = await (deps.loadRunDaemon ?? loadRunDaemon)();
  } catch (err) {
    logger.fatal({ err }, "the vipd runtime is missing from this build");
    io.stderr(`vipd run: the runtime is missing from this build: ${(err as Error).message}\n`);
    return EX_SOFTWARE;
  }
  try {
    const handle = await runDaemon(config, { configPath: o.config, logger });
    deps.onStarted?.(logger);
    return await handle.stopped;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    logger.fatal({ err }, "vipd stopped on an error");
    io.stderr(`vipd run: ${(err as Error).message}\n`);
    if (code === "NEEDS_CAP_NET_RAW") return EX_NOPERM;
    if (code === "NO_SUCH_INTERFACE") return EX_CONFIG;
    return typeof code === "string" ? EX_OSERR : EX_SOFTWARE;
  }
}
