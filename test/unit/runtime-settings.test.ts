// The runtime settings that shape vipd's memory (V8 flags, glibc malloc variables) are written in
// three places: the unit (production), the bin's shebang (a direct start) and the lab launcher (the
// bench and lab tests, which must run vipd as production does). This keeps them from drifting apart.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const read = (rel: string) => readFileSync(new URL(`../../${rel}`, import.meta.url), "utf8");
const unit = read("systemd/vipd.service");
const launcher = read("test/lab/vipd-agent.ts");
const shebang = read("bin/vipd.js").split("\n")[0] ?? "";

/** Values of the unit's `Environment=` lines, quotes removed. */
function unitEnvironment(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^Environment=(?:"([^=]+)=(.*)"|([^=]+)=(.*))$/.exec(line.trim());
    if (!m) continue;
    const name = m[1] ?? m[3] ?? "";
    const value = (m[2] ?? m[4] ?? "").replace(/^"(.*)"$/, "$1");
    env.set(name, value);
  }
  return env;
}

describe("runtime settings", () => {
  const env = unitEnvironment(unit);

  it("the unit sets the V8 flags and the malloc variables", () => {
    expect(env.get("NODE_OPTIONS")?.split(" ")).toContain("--max-semi-space-size=1");
    expect([...env.keys()].filter((k) => k.startsWith("MALLOC_")).sort()).toEqual([
      "MALLOC_ARENA_MAX",
      "MALLOC_MMAP_THRESHOLD_",
    ]);
  });

  it("the lab launcher passes every malloc variable of the unit with the same value", () => {
    for (const [name, value] of env) {
      if (!name.startsWith("MALLOC_")) continue;
      expect(launcher, name).toContain(`"${name}=${value}"`);
    }
  });

  it("the lab launcher and the bin's shebang pass every V8 flag of the unit", () => {
    const flags = env.get("NODE_OPTIONS")?.split(" ") ?? [];
    expect(flags.length).toBeGreaterThan(0);
    for (const flag of flags) {
      expect(launcher, flag).toContain(`"${flag}"`);
      expect(shebang.split(" "), flag).toContain(flag);
    }
  });

  it("reads quoted and unquoted Environment= lines", () => {
    const parsed = unitEnvironment('Environment="A=1 2"\nEnvironment=B=3\n# Environment=C=4\nX=5');
    expect([...parsed]).toEqual([
      ["A", "1 2"],
      ["B", "3"],
    ]);
  });
});
