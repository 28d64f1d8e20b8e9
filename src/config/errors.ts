/** One problem in a config file, located at the offending key or value (1-based line and column). */
export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  message: string;
}

export type ConfigErrorCode = "CONFIG_INVALID" | "CONFIG_UNREADABLE";

/**
 * Marks a ConfigError made by another copy of this module: `vipd run` reads its config through a
 * script of its own (src/cli/config-bundle.ts), whose ConfigError is not this class.
 */
const BRAND = Symbol.for("vipd.ConfigError");

/** An operator error in the config: every issue found, sorted by position. */
export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  readonly issues: ConfigIssue[];

  constructor(code: ConfigErrorCode, issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join("\n"));
    this.name = "ConfigError";
    this.code = code;
    this.issues = issues;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.file}:${issue.line}:${issue.col}: ${issue.message}`;
}

/** A ConfigError of this module or of another copy of it. */
export function isConfigError(e: unknown): e is ConfigError {
  return (
    e instanceof ConfigError ||
    (e instanceof Error && (e as unknown as Record<symbol, unknown>)[BRAND] === true)
  );
}
