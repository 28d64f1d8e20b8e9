import { readdir, stat } from "node:fs/promises";
import { isAbsolute, join, sep } from "node:path";

const GLOB_CHARS = /[*?[]/;

export function hasGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern);
}

/** Turns one path segment of a glob(3) pattern into an anchored regular expression. */
function segmentRegExp(segment: string): RegExp {
  let out = "^";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else if (c === "[") {
      const close = segment.indexOf("]", i + 2);
      if (close < 0) {
        out += "\\[";
        continue;
      }
      let body = segment.slice(i + 1, close);
      if (body.startsWith("!")) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\/g, "\\\\")}]`;
      i = close;
    } else out += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`${out}$`);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Expands a glob(3)-style pattern (`*`, `?`, `[...]`, per path segment) into the sorted list of
 * regular files it matches. Names starting with a dot match only a segment that starts with a dot.
 */
export async function expandGlob(pattern: string): Promise<string[]> {
  const absolute = isAbsolute(pattern);
  const segments = pattern.split(/\/+/).filter((s) => s !== "" && s !== ".");
  let bases: string[] = [absolute ? sep : ""];
  for (let k = 0; k < segments.length; k++) {
    const segment = segments[k]!;
    const last = k === segments.length - 1;
    const next: string[] = [];
    for (const base of bases) {
      if (!hasGlob(segment)) {
        next.push(base === "" ? segment : join(base, segment));
        continue;
      }
      const dir = base === "" ? "." : base;
      if (!(await isDirectory(dir))) continue;
      const re = segmentRegExp(segment);
      const names = (await readdir(dir)).sort();
      for (const name of names) {
        if (name.startsWith(".") && !segment.startsWith(".")) continue;
        if (re.test(name)) next.push(base === "" ? name : join(base, name));
      }
    }
    bases = next;
    if (!last) {
      const dirs: string[] = [];
      for (const b of bases) if (await isDirectory(b)) dirs.push(b);
      bases = dirs;
    }
  }
  const files: string[] = [];
  for (const b of bases) if (await isFile(b)) files.push(b);
  return files.sort();
}
