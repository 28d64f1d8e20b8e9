// One control-socket request for an operator command, with the CLI's exit codes for failures.
import { ControlClientError, controlRequest } from "../runtime/control-client.js";
import { EX_NOPERM, EX_SOFTWARE, EX_UNAVAILABLE, EXIT_FAILURE } from "./exit-codes.js";
import type { CliIo } from "./io.js";
import { socketPath } from "./status.js";

export interface ControlTarget {
  socket?: string | undefined;
  config: string;
  timeout: number;
}

/** Sends the request; on failure prints "vipd CMD: message" and returns the exit code instead. */
export async function controlCall(
  command: string,
  target: ControlTarget,
  request: { cmd: string; [key: string]: unknown },
  io: CliIo,
): Promise<{ ok: true; result: unknown } | { ok: false; code: number }> {
  const path = await socketPath(target);
  try {
    return { ok: true, result: await controlRequest(path, request, { timeoutMs: target.timeout }) };
  } catch (e) {
    if (!(e instanceof ControlClientError)) throw e;
    io.stderr(`vipd ${command}: ${e.message}\n`);
    switch (e.code) {
      case "DAEMON_NOT_RUNNING":
      case "TIMEOUT":
        return { ok: false, code: EX_UNAVAILABLE };
      case "PERMISSION_DENIED":
        return { ok: false, code: EX_NOPERM };
      case "REMOTE":
        if (e.remoteCode === "FORBIDDEN") return { ok: false, code: EX_NOPERM };
        if (e.remoteCode === "UNKNOWN_COMMAND") return { ok: false, code: EX_SOFTWARE };
        return { ok: false, code: EXIT_FAILURE };
      case "PROTOCOL":
        return { ok: false, code: EX_SOFTWARE };
    }
  }
}
