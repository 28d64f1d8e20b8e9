// npm run sim -- --seed N            replay one seed (prints the run, the outcome and the trace hash)
// npm run sim -- --sweep --seconds 60 run consecutive seeds for a wall-clock budget
//   (--start-seed S --seeds N fixes the seed range, to compare runs)
// add --canary [kind] to run with a deliberately broken router; success then means "caught".

import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { CANARY_KINDS, type CanaryKind, isCanaryKind } from "./canary.js";
import { realCore } from "./core.js";
import { describeRun, formatFailure, runSeed } from "./run.js";
import { formatSummary, sweep } from "./sweep.js";

const argv = yargs(hideBin(process.argv))
  .scriptName("npm run sim --")
  .option("seed", { type: "number", describe: "replay this one seed" })
  .option("sweep", { type: "boolean", default: false, describe: "run many seeds" })
  .option("seconds", { type: "number", default: 60, describe: "wall-clock budget of a sweep" })
  .option("start-seed", { type: "number", describe: "first seed of a sweep (default: random)" })
  .option("seeds", { type: "number", describe: "stop a sweep after this many seeds (for comparable runs)" })
  .option("canary", {
    type: "string",
    describe: `run a deliberately broken router: ${CANARY_KINDS.join(", ")} (bare --canary: ${CANARY_KINDS[0]})`,
  })
  .option("strict-fencing", {
    type: "boolean",
    default: false,
    describe:
      "with fencing, fail on every VIP overlap, also those needing a witness (boot without a master heard, rival fencers)",
  })
  .option("trace", { type: "boolean", default: false, describe: "print the whole event trace of --seed" })
  .check((a) => {
    if (a.seed === undefined && !a.sweep) throw new Error("give --seed N or --sweep");
    if (a.seed !== undefined && a.sweep) throw new Error("--seed and --sweep exclude each other");
    for (const [name, v] of [
      ["seed", a.seed],
      ["start-seed", a["start-seed"]],
    ] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
        throw new Error(`--${name} must be an integer in 0..4294967295`);
      }
    }
    if (!(a.seconds > 0)) throw new Error("--seconds must be positive");
    if (a.seeds !== undefined && !(Number.isInteger(a.seeds) && a.seeds > 0)) {
      throw new Error("--seeds must be a positive integer");
    }
    if (a.canary !== undefined && a.canary !== "" && !isCanaryKind(a.canary)) {
      throw new Error(`unknown canary "${a.canary}"; one of ${CANARY_KINDS.join(", ")}`);
    }
    return true;
  })
  .strict()
  .help()
  .parseSync();

const canary: CanaryKind | undefined =
  argv.canary === undefined ? undefined : argv.canary === "" ? CANARY_KINDS[0] : (argv.canary as CanaryKind);

if (argv.seed !== undefined) {
  const t0 = performance.now();
  const r = runSeed(realCore, argv.seed, {
    keepTrace: argv.trace,
    strictFencing: argv["strict-fencing"],
    ...(canary === undefined ? {} : { canary }),
  });
  const ms = performance.now() - t0;
  if (r.fullTrace !== null) for (const line of r.fullTrace) console.log(line);
  console.log(`seed ${r.seed}: ${describeRun(r)}`);
  console.log(
    `  ${r.stats.events} events, ${r.stats.takeovers} takeovers, ${r.stats.fencesRequested} fences, ` +
      `${(r.stats.nodeRunningMs / 3_600_000).toFixed(2)} node-hours in ${(ms / 1000).toFixed(2)}s`,
  );
  console.log(`  trace ${r.traceHash}`);
  if (r.violation !== null) console.log(formatFailure(r, canary));
  else console.log("  all invariants held");
  const failed = r.violation !== null;
  process.exitCode = canary === undefined ? (failed ? 1 : 0) : failed ? 0 : 1;
} else {
  const startSeed = argv["start-seed"] ?? Math.floor(Math.random() * 0x1_0000_0000);
  const summary = sweep(realCore, {
    startSeed,
    wallMs: argv.seconds * 1000,
    ...(argv.seeds === undefined ? {} : { maxSeeds: argv.seeds }),
    stopOnFailure: canary !== undefined,
    strictFencing: argv["strict-fencing"],
    ...(canary === undefined ? {} : { canary }),
    onFailure: (r) => console.log(formatFailure(r, canary)),
  });
  console.log(formatSummary(summary));
  const failed = summary.failures.length > 0;
  if (canary !== undefined) console.log(failed ? `canary ${canary} caught` : `canary ${canary} NOT caught`);
  process.exitCode = canary === undefined ? (failed ? 1 : 0) : failed ? 0 : 1;
}
