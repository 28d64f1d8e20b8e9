// The seam between the CLI and the runtime: `vipd run` loads src/runtime/daemon.ts dynamically and calls
// its `runDaemon` export, which must match RunDaemon. Status answers are DaemonStatus (status.ts).
import type pino from "pino";

import type { VipdConfig } from "../config/types.js";

export interface DaemonHandle {
  /** Resolves with the process exit code once the daemon has stopped (0 after SIGTERM/SIGINT). */
  stopped: Promise<number>;
}

export type RunDaemon = (
  config: VipdConfig,
  o: { configPath: string; logger: pino.Logger },
) => Promise<DaemonHandle>;
