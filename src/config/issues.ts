// Turns zod issues into path-located messages, with "did you mean" for unknown keys.
import type * as z from "zod";

import type { PathKey, Target } from "./positions.js";
import { didYouMean } from "./suggest.js";

export interface PathIssue {
  path: PathKey[];
  target: Target;
  message: string;
}

export function dotted(path: readonly PathKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? p : `.${p}`;
  }
  return out;
}

export function issueAt(path: readonly PathKey[], target: Target, message: string): PathIssue {
  const where = dotted(path);
  return { path: [...path], target, message: where === "" ? message : `${where}: ${message}` };
}

function valueAt(data: unknown, path: readonly PathKey[]): { found: boolean; value: unknown } {
  let cur: unknown = data;
  for (const p of path) {
    if (cur === null || typeof cur !== "object" || !(p in (cur as object)))
      return { found: false, value: undefined };
    cur = (cur as Record<PathKey, unknown>)[p];
  }
  return { found: true, value: cur };
}

function render(v: unknown): string | null {
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return null;
}

// biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definitions
type AnyDef = any;

/** The keys an object schema at `path` accepts (through optional, nullable, records, arrays, unions). */
export function knownKeys(schema: z.ZodType, path: readonly PathKey[]): string[] {
  const out = new Set<string>();
  const visit = (s: AnyDef, rest: readonly PathKey[], depth: number): void => {
    if (!s || depth > 40) return;
    const def = s._zod?.def ?? s.def;
    if (!def) return;
    switch (def.type) {
      case "optional":
      case "nullable":
      case "default":
      case "prefault":
      case "readonly":
      case "catch":
        visit(def.innerType, rest, depth + 1);
        return;
      case "pipe":
        visit(def.in, rest, depth + 1);
        return;
      case "union":
        for (const o of def.options) visit(o, rest, depth + 1);
        return;
      case "object":
        if (rest.length === 0) for (const k of Object.keys(def.shape)) out.add(k);
        else visit(def.shape[String(rest[0])], rest.slice(1), depth + 1);
        return;
      case "record":
        if (rest.length > 0) visit(def.valueType, rest.slice(1), depth + 1);
        return;
      case "array":
        if (rest.length > 0) visit(def.element, rest.slice(1), depth + 1);
        return;
      default:
        return;
    }
  };
  visit(schema, path, 0);
  return [...out];
}

/** Converts zod issues (paths relative to `prefix`) to located messages. */
export function fromZod(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  schema: z.ZodType,
  prefix: readonly PathKey[] = [],
): PathIssue[] {
  const out: PathIssue[] = [];
  for (const issue of issues) {
    const path: PathKey[] = [...prefix, ...(issue.path as PathKey[])];
    switch (issue.code) {
      case "invalid_union": {
        // When exactly one branch accepted the input's type, its errors are the useful ones.
        const fitting = issue.errors.filter(
          (branch) => !branch.every((i) => i.code === "invalid_type" && i.path.length === 0),
        );
        const only = fitting.length === 1 ? fitting[0] : undefined;
        if (only) out.push(...fromZod(only, data, schema, path));
        else out.push(withGot(path, issue.message, data));
        break;
      }
      case "unrecognized_keys": {
        const known = knownKeys(schema, path);
        for (const key of issue.keys) {
          out.push(issueAt([...path, key], "key", `unknown key${didYouMean(key, known)}`));
        }
        break;
      }
      case "invalid_type": {
        const v = valueAt(data, path);
        if (!v.found && path.length > 0) {
          const parent = path.slice(0, -1);
          const name = String(path[path.length - 1]);
          out.push(
            parent.length === 0
              ? issueAt([], "key", `missing required key "${name}"`)
              : issueAt(parent, "key", `missing required key "${name}"`),
          );
        } else {
          out.push(withGot(path, issue.message, data));
        }
        break;
      }
      default:
        out.push(withGot(path, issue.message, data));
    }
  }
  return out;
}

function withGot(path: PathKey[], message: string, data: unknown): PathIssue {
  const v = valueAt(data, path);
  const shown = v.found ? render(v.value) : null;
  // Messages that already show the offending text (they start with it) need no "(got ...)".
  const got = shown !== null && !message.includes(shown) && !message.startsWith('"') ? ` (got ${shown})` : "";
  return issueAt(path, "value", `${message}${got}`);
}
