// The yargs-free parser for `vipd run` (src/cli/run-args.ts): every command line it accepts must
// mean what the full yargs command line makes of it; everything else must be left to yargs.
import { describe, expect, it, vi } from "vitest";

const seen: { config: string; logLevel: string }[] = [];
vi.mock("../../src/cli/run.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../src/cli/run.js")>();
  return {
    ...real,
    runCommand: async (o: { config: string; logLevel: string }) => {
      seen.push({ config: o.config, logLevel: o.logLevel });
      return 0;
    },
  };
});

const { runCli } = await import("../../src/cli/app.js");
const { DEFAULT_CONFIG, parseRunArgs } = await import("../../src/cli/run-args.js");

const quiet = { stdout: () => {}, stderr: () => {} };

async function viaYargs(args: string[]): Promise<{ config: string; logLevel: string } | null> {
  seen.length = 0;
  const code = await runCli(args, quiet);
  return code === 0 && seen.length === 1 ? (seen[0] ?? null) : null;
}

describe("parseRunArgs", () => {
  const accepted: string[][] = [
    ["run"],
    ["run", "--config", "/tmp/a.yaml"],
    ["run", "-c", "/tmp/a.yaml"],
    ["run", "--config=/tmp/a=b.yaml"],
    ["run", "--log-level", "debug"],
    ["run", "--log-level=warn", "--config", "x.yaml"],
    ["run", "--config", "x.yaml", "--log-level", "trace"],
  ];
  it.each(accepted)("agrees with yargs on %j", async (...args) => {
    const fast = parseRunArgs(args);
    expect(fast).not.toBeNull();
    expect(await viaYargs(args)).toEqual(fast);
  });

  it("defaults to the packaged config path and info", () => {
    expect(parseRunArgs(["run"])).toEqual({ config: DEFAULT_CONFIG, logLevel: "info" });
  });

  const declined: string[][] = [
    [],
    ["check"],
    ["status", "run"],
    ["run", "--help"],
    ["run", "-h"],
    ["run", "--version"],
    ["run", "--config"],
    ["run", "--config="],
    ["run", "--config", "--log-level", "info"],
    ["run", "--log-level", "loud"],
    ["run", "--log-level=loud"],
    ["run", "--config", "a.yaml", "--config", "b.yaml"],
    ["run", "--unknown", "x"],
    ["run", "extra"],
    ["run", "--logLevel", "debug"],
    ["run", "-c=a.yaml"],
    ["run", "--", "--config", "a.yaml"],
  ];
  it.each(declined)("leaves %j to yargs", (...args) => {
    expect(parseRunArgs(args)).toBeNull();
  });

  it("leaves to yargs the lines yargs rejects", async () => {
    for (const args of [
      ["run", "--log-level", "loud"],
      ["run", "extra"],
      ["run", "--config"],
    ])
      expect(await viaYargs(args)).toBeNull();
  });
});
