// vipd.yaml -> VipdConfig, with every problem reported as file:line:col.
import { readFile as readFileCb } from "node:fs";
import { promisify } from "node:util";

import { LineCounter, parseDocument } from "yaml";
import { checkConfigScripts } from "../hooks/config-scripts.js";
import { ConfigError, type ConfigIssue } from "./errors.js";
import { fromZod, type PathIssue } from "./issues.js";
import { locate } from "./positions.js";
import { rootSchema } from "./schema.js";
import { buildConfig } from "./semantic.js";
import type { VipdConfig } from "./types.js";

// The callback API, promisified: node:fs/promises loads streams, readline and file watchers with it
// (about 1.3 MiB RSS for the daemon's life), and `vipd run` has no other use for them.
const readFile = promisify(readFileCb);

/**
 * Parses and validates config text. `file` is used in messages only. Throws ConfigError.
 * `checkScripts` (set by loadConfigFile) also checks every program the config names on this host:
 * present, executable and, with enable_script_security, not writable by non-root users.
 */
export function loadConfigText(text: string, file: string, o: { checkScripts?: boolean } = {}): VipdConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: false });

  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e): ConfigIssue => {
      const pos = lineCounter.linePos(e.pos[0]);
      // yaml's messages may carry a trailing position or context; keep the first line.
      const message = (e.message.split("\n")[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, "");
      return { file, line: pos.line, col: pos.col, message: `YAML: ${message}` };
    });
    throw new ConfigError("CONFIG_INVALID", sortIssues(issues));
  }

  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) {
    throw new ConfigError("CONFIG_INVALID", [
      { file, line: 1, col: 1, message: 'the file is empty: at least "instances" is required' },
    ]);
  }
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError("CONFIG_INVALID", [
      { file, line: 1, col: 1, message: "the top level must be a mapping (global, instances, ...)" },
    ]);
  }

  const toIssues = (list: PathIssue[]): ConfigIssue[] =>
    sortIssues(
      list.map((i) => {
        const pos = locate(doc, lineCounter, i.path, i.target);
        return { file, line: pos.line, col: pos.col, message: i.message };
      }),
    );

  const parsed = rootSchema.safeParse(data);
  if (!parsed.success)
    throw new ConfigError("CONFIG_INVALID", toIssues(fromZod(parsed.error.issues, data, rootSchema)));

  const built = buildConfig(parsed.data, file);
  if (built.type === "error") throw new ConfigError("CONFIG_INVALID", toIssues(built.issues));
  if (o.checkScripts) {
    const scripts = checkConfigScripts(built.config);
    if (scripts.length > 0) {
      throw new ConfigError(
        "CONFIG_INVALID",
        toIssues(scripts.map((i) => ({ path: i.path, target: "value" as const, message: i.message }))),
      );
    }
  }
  return built.config;
}

/** Reads and validates a config file. Throws ConfigError (CONFIG_UNREADABLE when it cannot be read). */
export async function loadConfigFile(path: string): Promise<VipdConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === "ENOENT" ? "no such file" : err.code === "EACCES" ? "permission denied" : err.message;
    throw new ConfigError("CONFIG_UNREADABLE", [
      { file: path, line: 1, col: 1, message: `cannot read the config: ${why}` },
    ]);
  }
  return loadConfigText(text, path, { checkScripts: true });
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues
    .filter((i) => {
      const k = `${i.line}:${i.col}:${i.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.col - b.col);
}
