// The CLI's side of the control socket: one request, one answer, with a timeout.
import { createConnection } from "node:net";

import { type ControlRequest, type ControlResponse, MAX_LINE_BYTES } from "./control-protocol.js";

export type ControlClientErrorCode =
  | "DAEMON_NOT_RUNNING"
  | "PERMISSION_DENIED"
  | "TIMEOUT"
  | "PROTOCOL"
  | "REMOTE";

export class ControlClientError extends Error {
  readonly code: ControlClientErrorCode;
  /** For REMOTE: the daemon's error code (e.g. UNKNOWN_COMMAND, FORBIDDEN). */
  readonly remoteCode: string | null;
  constructor(code: ControlClientErrorCode, message: string, remoteCode: string | null = null) {
    super(message);
    this.name = "ControlClientError";
    this.code = code;
    this.remoteCode = remoteCode;
  }
}

/** Sends one request and resolves with the daemon's result; rejects with ControlClientError. */
export function controlRequest(
  path: string,
  request: ControlRequest,
  o: { timeoutMs?: number } = {},
): Promise<unknown> {
  const timeoutMs = o.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = "";
    let settled = false;
    const finish = (err: ControlClientError | null, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(
      () =>
        finish(new ControlClientError("TIMEOUT", `no answer from vipd on ${path} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" || e.code === "ECONNREFUSED") {
        finish(
          new ControlClientError("DAEMON_NOT_RUNNING", `vipd is not running (nothing listens on ${path})`),
        );
      } else if (e.code === "EACCES" || e.code === "EPERM") {
        finish(
          new ControlClientError(
            "PERMISSION_DENIED",
            `permission denied on ${path}: run as root or as a member of global.control_group`,
          ),
        );
      } else {
        finish(new ControlClientError("PROTOCOL", `control socket ${path}: ${e.message}`));
      }
    });
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf("\n");
      if (nl < 0) {
        if (buffer.length > MAX_LINE_BYTES) finish(new ControlClientError("PROTOCOL", "answer too large"));
        return;
      }
      let response: ControlResponse;
      try {
        response = JSON.parse(buffer.slice(0, nl)) as ControlResponse;
      } catch {
        finish(new ControlClientError("PROTOCOL", "the daemon sent an answer that is not JSON"));
        return;
      }
      if (response.ok) finish(null, response.result);
      else finish(new ControlClientError("REMOTE", response.error.message, response.error.code));
    });
    socket.on("close", () =>
      finish(
        new ControlClientError("PROTOCOL", `vipd closed the control connection on ${path} without answering`),
      ),
    );
  });
}
