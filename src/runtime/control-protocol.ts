// The control socket's wire format: one JSON object per line each way.
//   request:  {"cmd":"status", ...}
//   response: {"ok":true,"result":...} | {"ok":false,"error":{"code":"...","message":"..."}}

export interface ControlRequest {
  cmd: string;
  [key: string]: unknown;
}

export type ControlResponse =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: ControlRemoteCode; message: string } };

export type ControlRemoteCode = "BAD_REQUEST" | "UNKNOWN_COMMAND" | "FORBIDDEN" | "FAILED" | "TOO_LARGE";

/** Longest accepted line, either way. */
export const MAX_LINE_BYTES = 1 << 20;
