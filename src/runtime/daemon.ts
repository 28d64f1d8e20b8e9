// `vipd run`: the engine on the real Linux ports, the config loader and the control socket.

import type { Logger } from "pino";
import { loadConfigFile, type VipdConfig } from "../config/index.js";
import { configToSpecs } from "./config-view.js";
import { Engine, EXIT_OSERR } from "./engine.js";
import { linuxPorts } from "./linux-ports.js";
import type { RuntimePorts } from "./ports.js";
import type { DaemonStatus } from "./status.js";

export interface DaemonHandle {
  /** Resolves with the process exit code once the daemon has stopped. */
  stopped: Promise<number>;
  stop(): Promise<number>;
  reload(): Promise<boolean>;
  status(): DaemonStatus;
  /** The engine, for hooks (events, inputs) and metrics; null when the ports could not open. */
  engine: Engine<VipdConfig> | null;
}

export interface RunDaemonOptions {
  configPath: string;
  logger: Logger;
  /** Tests and the simulator pass their own ports; default: the Linux ports. */
  ports?: RuntimePorts & { timerKind?: string };
  loadConfig?: (path: string) => Promise<VipdConfig>;
}

/**
 * Starts vipd for an already-validated config. Never rejects: a startup failure is logged and
 * `stopped` resolves with a non-zero exit code.
 */
export async function runDaemon(config: VipdConfig, o: RunDaemonOptions): Promise<DaemonHandle> {
  let ports: RuntimePorts & { timerKind?: string };
  try {
    ports = o.ports ?? (await linuxPorts());
  } catch (err) {
    o.logger.error({ err }, `cannot open the Linux interfaces: ${(err as Error).message}`);
    return failedHandle(EXIT_OSERR);
  }
  const engine = new Engine<VipdConfig>({
    configPath: o.configPath,
    logger: o.logger,
    ports,
    loadConfig: o.loadConfig ?? loadConfigFile,
    toSpecs: configToSpecs,
    ...(ports.timerKind === undefined ? {} : { timerKind: ports.timerKind }),
  });
  try {
    await engine.start(config);
  } catch {
    // Logged by the engine; `stopped` carries the exit code.
  }
  return {
    stopped: engine.stopped,
    stop: () => engine.stop(),
    reload: () => engine.reload(),
    status: () => engine.status(),
    engine,
  };
}

function failedHandle(code: number): DaemonHandle {
  return {
    stopped: Promise.resolve(code),
    stop: () => Promise.resolve(code),
    reload: () => Promise.resolve(false),
    status: () => {
      throw new Error("vipd did not start");
    },
    engine: null,
  };
}
