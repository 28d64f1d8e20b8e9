/** Operator errors raised while reading a keepalived configuration. */
export type KeepalivedErrorCode =
  | "NOT_KEEPALIVED" // the text is not keepalived syntax (CLI: exit 65, EX_DATAERR)
  | "INCLUDE_NOT_FOUND" // an `include` names a file that does not exist
  | "INCLUDE_CYCLE" // an `include` leads back to a file that is already being read
  | "UNREADABLE"; // the file exists but cannot be read

export class KeepalivedImportError extends Error {
  readonly code: KeepalivedErrorCode;
  readonly file: string;
  readonly line: number;

  constructor(code: KeepalivedErrorCode, file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = "KeepalivedImportError";
    this.code = code;
    this.file = file;
    this.line = line;
  }
}

export interface ImportWarning {
  file: string;
  line: number;
  /** `keyword: why` */
  message: string;
}
