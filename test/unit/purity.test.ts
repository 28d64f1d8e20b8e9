// src/codec and src/core are pure: no Node built-ins, no clock, no randomness, no I/O.
// biome's noRestrictedImports rule says so in the editor; this test makes CI say it too.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith(".ts")) out.push(rel);
  }
  return out;
}

/** Module specifiers of static and dynamic imports and re-exports. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s+(?:type\s+)?(?:\{[^}]*\}|\*(?:\s+as\s+\w+)?|\w+(?:\s*,\s*\{[^}]*\})?)\s+from\s+["']([^"']+)["']/gm,
    /^\s*import\s+["']([^"']+)["']/gm,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) found.push(m[1]!);
  return found;
}

/** Ambient things a pure module must not reach for. Comments are stripped first. */
const forbidden: [RegExp, string][] = [
  [/\bDate\.now\s*\(|\bnew Date\s*\(/, "reads the wall clock"],
  [/\bperformance\.now\s*\(|\bprocess\.hrtime\b/, "reads a clock"],
  [/\bMath\.random\s*\(|\bcrypto\.getRandomValues\b/, "uses randomness"],
  [/\bsetTimeout\s*\(|\bsetInterval\s*\(|\bsetImmediate\s*\(|\bqueueMicrotask\s*\(/, "schedules work itself"],
  [/\bprocess\.|\brequire\s*\(|\bglobalThis\b|\bconsole\./, "touches the process or the console"],
  [/\bfetch\s*\(/, "does I/O"],
];

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

describe("pure core and codec", () => {
  const files = [...sources("src/codec"), ...sources("src/core")];

  it("has files to check", () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it.each(files)("%s imports only relative modules inside src/codec and src/core", (file) => {
    const text = stripComments(readFileSync(join(root, file), "utf8"));
    for (const spec of specifiers(text)) {
      expect(spec.startsWith("."), `${file} imports '${spec}'`).toBe(true);
      const target = join(file, "..", spec);
      expect(
        target.startsWith("src/codec/") || target.startsWith("src/core/"),
        `${file} imports '${spec}', outside the pure part`,
      ).toBe(true);
    }
  });

  it.each(files)("%s reaches for no clock, randomness, timer or process state", (file) => {
    const text = stripComments(readFileSync(join(root, file), "utf8"));
    for (const [re, what] of forbidden) {
      const m = re.exec(text);
      expect(m, `${file} ${what}: '${m?.[0]}'`).toBeNull();
    }
  });
});
