export { formatDurationMs, parseDurationMs } from "./duration.js";
export { ConfigError, type ConfigErrorCode, type ConfigIssue, formatIssue, isConfigError } from "./errors.js";
export { loadConfigFile, loadConfigText } from "./load.js";
export { toRouterOptions } from "./router-options.js";
export type * from "./types.js";
