// decodeAdvert never throws and always returns a well-formed result, whatever the bytes and the
// context: 120,000 mutated captures, mutated fresh adverts and random buffers per CI run.
// `npm run fuzz -- <count> [seed]` runs the same engine for longer; FUZZ_SEED replays a seed here.

import { describe, expect, it } from "vitest";
import { INVALID_REASONS, runFuzz } from "./fuzz-long.js";

const CASES = 120_000;
const SEED = Number(process.env.FUZZ_SEED ?? 20261122);

describe("decodeAdvert fuzz", () => {
  it(`survives ${CASES} mutated and random buffers (seed ${SEED}) and reaches every rung`, () => {
    const stats = runFuzz(CASES, SEED);
    console.log(
      `fuzz: ${stats.runs} cases in ${(stats.elapsedMs / 1000).toFixed(2)} s, seed ${SEED}: ${JSON.stringify(stats.outcomes)}`,
    );
    expect(Object.values(stats.outcomes).reduce((a, b) => a + b, 0)).toBe(CASES);
    for (const outcome of ["ok", ...INVALID_REASONS]) {
      expect(stats.outcomes[outcome] ?? 0, `outcome ${outcome}`).toBeGreaterThan(0);
    }
  });
});
