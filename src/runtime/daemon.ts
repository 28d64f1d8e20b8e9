// `vipd run`: the engine on the real Linux ports, the config loader and the control socket.

import type { Logger } from "pino";
import { loadConfigFile, type VipdConfig } from "../config/index.js";
import { configToSpecs } from "./config-view.js";
import { type ControlServer, startControlServer } from "./control.js";
import type { RunDaemon } from "./daemon-api.js";
import { Engine, EX_OSERR } from "./engine.js";
import { linuxPorts } from "./linux-ports.js";
import type { RuntimePorts } from "./ports.js";
import type { DaemonStatus } from "./status.js";

export interface DaemonHandle {
  /** Resolves with the process exit code once the daemon has stopped (and the control socket closed). */
  stopped: Promise<number>;
  stop(): Promise<number>;
  reload(): Promise<boolean>;
  status(): DaemonStatus;
  /** The engine, for hooks (events, inputs) and metrics; null when vipd could not start at all. */
  engine: Engine<VipdConfig> | null;
}

export interface RunDaemonOptions {
  configPath: string;
  logger: Logger;
  /** Tests and the simulator pass their own ports; default: the Linux ports. */
  ports?: RuntimePorts & { timerKind?: string };
  loadConfig?: (path: string) => Promise<VipdConfig>;
  /** false: no control socket (tests). Default: global.control_socket. */
  control?: boolean;
}

/**
 * Starts vipd for an already-validated config. Never rejects: a startup failure is logged and
 * `stopped` resolves with a non-zero exit code. The control socket comes first: when another vipd
 * owns it, this one stops before touching any address.
 */
export async function runDaemon(config: VipdConfig, o: RunDaemonOptions): Promise<DaemonHandle> {
  const log = o.logger;
  let control: ControlServer | null = null;
  if (o.control !== false) {
    try {
      control = await startControlServer({
        path: config.global.controlSocket,
        group: config.global.controlGroup,
        logger: log,
      });
    } catch (err) {
      log.error({ err }, `cannot open the control socket: ${(err as Error).message}`);
      return failedHandle(EX_OSERR);
    }
  }
  let ports: RuntimePorts & { timerKind?: string };
  try {
    ports = o.ports ?? (await linuxPorts());
  } catch (err) {
    log.error({ err }, `cannot open the Linux interfaces: ${(err as Error).message}`);
    await control?.close();
    return failedHandle(EX_OSERR);
  }
  const engine = new Engine<VipdConfig>({
    configPath: o.configPath,
    logger: log,
    ports,
    loadConfig: o.loadConfig ?? loadConfigFile,
    toSpecs: configToSpecs,
    ...(ports.timerKind === undefined ? {} : { timerKind: ports.timerKind }),
  });
  if (control) {
    control.handle("status", "read", () => engine.status());
    control.handle("reload", "admin", async () => ({ applied: await engine.reload() }));
  }
  const stopped = engine.stopped.then(async (code) => {
    try {
      await control?.close();
    } catch (err) {
      log.error({ err }, "closing the control socket failed");
    }
    return code;
  });
  try {
    await engine.start(config);
  } catch {
    // Logged by the engine; `stopped` carries the exit code.
  }
  return {
    stopped,
    stop: async () => {
      await engine.stop();
      return stopped;
    },
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

// The CLI loads this module dynamically and calls runDaemon as a RunDaemon.
runDaemon satisfies RunDaemon;
