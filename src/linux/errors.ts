// Typed errors of the OS layer. Operator-facing: each has a stable `code` and a clear message.

export type VipdOsErrorCode =
  /** Opening a raw or packet socket was refused (EPERM / EACCES): run as root or grant CAP_NET_RAW. */
  | "NEEDS_CAP_NET_RAW"
  /** Changing addresses was refused (EPERM / EACCES on rtnetlink): needs CAP_NET_ADMIN. */
  | "NEEDS_CAP_NET_ADMIN"
  /** The named interface does not exist (ENODEV). */
  | "NO_SUCH_INTERFACE"
  /** The address exists but vipd did not add it (no IFA_PROTO mark): vipd leaves it alone. */
  | "FOREIGN_ADDRESS"
  /** A malformed address, label or similar reached the OS layer. */
  | "INVALID_ARGUMENT"
  /** Any other failure: see errno and syscall. */
  | "OS_ERROR";

export class VipdOsError extends Error {
  override name = "VipdOsError";
  readonly code: VipdOsErrorCode;
  /** Positive errno value (0 when the failure had none). */
  readonly errno: number;
  /** The failing call, e.g. "socket", "sendmsg", "RTM_NEWADDR". */
  readonly syscall: string;

  constructor(
    code: VipdOsErrorCode,
    message: string,
    o: { errno: number; syscall: string; cause?: unknown },
  ) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.code = code;
    this.errno = o.errno;
    this.syscall = o.syscall;
  }
}

export function isVipdOsError(e: unknown): e is VipdOsError {
  return e instanceof VipdOsError;
}
