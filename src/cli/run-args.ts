// The common `vipd run` command lines, parsed without yargs (whose import alone costs ~100-300 ms
// of start-up). Anything this does not recognise exactly returns null and goes to the full yargs
// command line in app.ts, which owns help, errors and every other command.

export const DEFAULT_CONFIG = "/etc/vipd/vipd.yaml";
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface RunArgs {
  config: string;
  logLevel: LogLevel;
}

const isLevel = (v: string): v is LogLevel => (LOG_LEVELS as readonly string[]).includes(v);

/**
 * `run` followed by at most one each of --config/-c FILE and --log-level LEVEL (also in the
 * `--name=value` form), or null for any other command line.
 */
export function parseRunArgs(args: readonly string[]): RunArgs | null {
  if (args[0] !== "run") return null;
  let config: string | undefined;
  let logLevel: string | undefined;
  for (let i = 1; i < args.length; i++) {
    const arg = args[i] as string;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    let value: string | undefined;
    if (name !== arg) value = arg.slice(eq + 1);
    else {
      value = args[i + 1];
      // A missing value or one that looks like an option: leave the message to yargs.
      if (value === undefined || value.startsWith("-")) return null;
      i++;
    }
    if ((name === "--config" || name === "-c") && config === undefined) config = value;
    else if (name === "--log-level" && logLevel === undefined) logLevel = value;
    else return null;
  }
  if (config === "") return null;
  const level = logLevel ?? "info";
  if (!isLevel(level)) return null;
  return { config: config ?? DEFAULT_CONFIG, logLevel: level };
}
