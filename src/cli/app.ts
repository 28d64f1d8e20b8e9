// The vipd command line (yargs). `runCli` returns the exit code; main.ts is the process entry point.
import yargs from "yargs";

import { checkCommand } from "./check.js";
import { EX_USAGE } from "./exit-codes.js";
import { importKeepalivedCommand } from "./import-keepalived.js";
import type { CliIo } from "./io.js";
import { LOG_LEVELS, type LogLevel, runCommand } from "./run.js";
import { statusCommand } from "./status.js";

export const DEFAULT_CONFIG = "/etc/vipd/vipd.yaml";
export const VERSION = "0.1.0";

class UsageError extends Error {}

export async function runCli(args: string[], io: CliIo): Promise<number> {
  let code: number | null = null;
  const configOption = {
    alias: "c",
    type: "string",
    default: DEFAULT_CONFIG,
    describe: "the vipd.yaml file",
    requiresArg: true,
  } as const;

  const parser = yargs(args)
    .scriptName("vipd")
    .usage("vipd <command> [options]\n\nVRRP virtual-IP manager (keepalived and FRR compatible).")
    .exitProcess(false)
    .strict()
    .recommendCommands()
    .demandCommand(1, "a command is required")
    .help()
    .alias("h", "help")
    .version(VERSION)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .option("log-level", {
      type: "string",
      choices: LOG_LEVELS,
      default: "info",
      describe: "log level (pino JSON on stdout)",
      global: true,
    })
    .fail((msg, err) => {
      // yargs' own usage errors come as msg; anything else thrown by a handler is re-thrown as is.
      if (err && !msg) throw err;
      throw new UsageError(msg ?? err?.message ?? "bad usage");
    })
    .command(
      "run",
      "run the daemon",
      (y) => y.option("config", configOption),
      async (a) => {
        code = await runCommand({ config: a.config, logLevel: a.logLevel as LogLevel }, io);
      },
    )
    .command(
      "check",
      "validate the config and print a summary (exit 78 when invalid)",
      (y) => y.option("config", configOption),
      async (a) => {
        code = await checkCommand({ config: a.config }, io);
      },
    )
    .command(
      "status",
      "ask the running daemon for each instance's state (exit 69 when it is not running)",
      (y) =>
        y
          .option("json", { type: "boolean", default: false, describe: "print the full status as JSON" })
          .option("socket", {
            type: "string",
            requiresArg: true,
            describe: "control socket (default: from the config)",
          })
          .option("config", configOption)
          .option("timeout", {
            type: "number",
            default: 5000,
            describe: "milliseconds to wait for an answer",
          }),
      async (a) => {
        code = await statusCommand(
          { socket: a.socket, config: a.config, json: a.json, timeout: a.timeout },
          io,
        );
      },
    )
    .command(
      "import-keepalived <file>",
      "convert a keepalived.conf to vipd.yaml on stdout (warnings on stderr)",
      (y) => y.positional("file", { type: "string", demandOption: true, describe: "keepalived.conf" }),
      async (a) => {
        code = await importKeepalivedCommand({ file: a.file }, io);
      },
    );

  try {
    const output = await new Promise<string>((resolve, reject) => {
      parser.parseAsync(args, {}, (err, _argv, out) => (err ? reject(err) : resolve(out))).catch(reject);
    });
    if (output) io.stdout(`${output}\n`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    let message = e.message;
    if (message.startsWith("Did you mean")) message = `unknown command "${firstWord(args)}". ${message}`;
    else if (message.startsWith("Unknown argument") && code === null && isUnknownCommand(args)) {
      message = `unknown command "${firstWord(args)}"`;
    }
    io.stderr(`vipd: ${message}\nRun "vipd --help" for usage.\n`);
    return EX_USAGE;
  }
  return code ?? 0;
}

const COMMANDS = new Set(["run", "check", "status", "import-keepalived"]);

function firstWord(args: string[]): string | undefined {
  return args.find((a) => !a.startsWith("-"));
}

function isUnknownCommand(args: string[]): boolean {
  const first = firstWord(args);
  return first !== undefined && !COMMANDS.has(first);
}
