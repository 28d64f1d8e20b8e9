// The vipd command line (yargs). `runCli` returns the exit code; main.ts is the process entry point.
import yargs, { type Argv } from "yargs";

import { checkCommand } from "./check.js";
import { cleanupCommand } from "./cleanup.js";
import { EX_USAGE } from "./exit-codes.js";
import { explainCommand } from "./explain.js";
import { handoverCommand } from "./handover.js";
import { importKeepalivedCommand } from "./import-keepalived.js";
import type { CliIo } from "./io.js";
import { maintenanceCommand } from "./maintenance.js";
import { reloadCommand } from "./reload.js";
import { runCommand } from "./run.js";
import { DEFAULT_CONFIG, LOG_LEVELS, type LogLevel } from "./run-args.js";
import { statusCommand } from "./status.js";

export { DEFAULT_CONFIG } from "./run-args.js";
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
      "explain <instance>",
      "say why this node is in its state for an instance (trackers, master, preempt)",
      (y) =>
        controlOptions(y)
          .positional("instance", { type: "string", demandOption: true, describe: "instance name" })
          .option("json", { type: "boolean", default: false, describe: "print JSON" }),
      async (a) => {
        code = await explainCommand({ ...controlArgs(a), instance: a.instance, json: a.json }, io);
      },
    )
    .command(
      "handover <instance>",
      "planned failover: resign with priority 0, wait for another master, rejoin (exit 1 when it did not happen)",
      (y) =>
        controlOptions(y)
          .positional("instance", { type: "string", demandOption: true, describe: "instance name" })
          .option("to", {
            type: "string",
            requiresArg: true,
            describe:
              "expected new master (address, or node name from fence nodes); exit 1 when another node takes over",
          })
          .option("wait", {
            type: "number",
            requiresArg: true,
            describe: "milliseconds to wait for the new master",
          })
          .option("json", { type: "boolean", default: false, describe: "print JSON" }),
      async (a) => {
        code = await handoverCommand(
          { ...controlArgs(a), instance: a.instance, to: a.to, wait: a.wait, json: a.json },
          io,
        );
      },
    )
    .command(
      "maintenance <mode> [instance]",
      "hold this node out of elections (on) or let it back (off); all instances unless one is named",
      (y) =>
        controlOptions(y)
          .positional("mode", { choices: ["on", "off"] as const, demandOption: true, describe: "on or off" })
          .positional("instance", { type: "string", describe: "instance name (default: all)" })
          .option("json", { type: "boolean", default: false, describe: "print JSON" }),
      async (a) => {
        code = await maintenanceCommand(
          { ...controlArgs(a), mode: a.mode, instance: a.instance, json: a.json },
          io,
        );
      },
    )
    .command(
      "reload",
      "re-read the config in the running daemon (as SIGHUP); --plan prints the changes without applying",
      (y) =>
        controlOptions(y)
          .option("plan", { type: "boolean", default: false, describe: "print the diff, apply nothing" })
          .option("json", { type: "boolean", default: false, describe: "print JSON" }),
      async (a) => {
        code = await reloadCommand({ ...controlArgs(a), plan: a.plan, json: a.json }, io);
      },
    )
    .command(
      "cleanup",
      "remove VIPs left by a vipd that died (systemd's ExecStopPost); refuses while vipd runs",
      (y) =>
        y
          .option("config", configOption)
          .option("socket", {
            type: "string",
            requiresArg: true,
            describe: "control socket (default: from the config)",
          })
          .option("force", { type: "boolean", default: false, describe: "skip the running-daemon check" }),
      async (a) => {
        code = await cleanupCommand({ socket: a.socket, config: a.config, force: a.force }, io);
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

const COMMANDS = new Set([
  "run",
  "check",
  "status",
  "import-keepalived",
  "explain",
  "handover",
  "maintenance",
  "reload",
  "cleanup",
]);

/** --socket, --config and --timeout for commands that talk to the daemon. */
function controlOptions<T>(y: Argv<T>) {
  return y
    .option("socket", {
      type: "string",
      requiresArg: true,
      describe: "control socket (default: from the config)",
    })
    .option("config", {
      alias: "c",
      type: "string",
      default: DEFAULT_CONFIG,
      describe: "the vipd.yaml file",
      requiresArg: true,
    })
    .option("timeout", { type: "number", default: 5000, describe: "milliseconds to wait for an answer" });
}

function controlArgs(a: { socket: string | undefined; config: string; timeout: number }) {
  return { socket: a.socket, config: a.config, timeout: a.timeout };
}

function firstWord(args: string[]): string | undefined {
  return args.find((a) => !a.startsWith("-"));
}

function isUnknownCommand(args: string[]): boolean {
  const first = firstWord(args);
  return first !== undefined && !COMMANDS.has(first);
}
