// Process entry point (bin/vipd.js imports the built form of this file).
import { runCli } from "./app.js";
import { processIo } from "./io.js";

const args = process.argv.slice(2);
const code = await runCli(args, processIo);
if (args[0] === "run") {
  // The daemon has stopped: leave now even if a library left a handle open.
  process.exit(code);
}
process.exitCode = code;
