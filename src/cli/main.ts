// Process entry point (bin/vipd.js imports the built form of this file).
// `vipd run` with plain options skips yargs and the other commands' modules: they are loaded only
// for the full command line (help, errors, every other command).
import { processIo } from "./io.js";
import { parseRunArgs } from "./run-args.js";

const args = process.argv.slice(2);
const runArgs = parseRunArgs(args);
let code: number;
if (runArgs) {
  const { runCommand } = await import("./run.js");
  code = await runCommand(runArgs, processIo);
} else {
  const { runCli } = await import("./app.js");
  code = await runCli(args, processIo);
}
if (args[0] === "run") {
  // The daemon has stopped: leave now even if a library left a handle open.
  process.exit(code);
}
process.exitCode = code;
