// keepalived's enable_script_security for vipd: a hook program is refused when it, or any directory
// on the way to it, can be changed by someone other than root. Checked when the config is loaded
// (`vipd check` and `vipd run` report it) and again before the daemon uses the path.

import { accessSync, constants, readFileSync, realpathSync, statSync } from "node:fs";
import { delimiter, dirname, isAbsolute, join } from "node:path";

import { HOOK_PATH } from "./process.js";

export interface ScriptUser {
  name: string;
  uid: number;
  gid: number;
}

/** Resolves `script_user`: a name from /etc/passwd, or "uid" / "uid:gid". Null when unknown. */
export function resolveScriptUser(spec: string, passwd = "/etc/passwd"): ScriptUser | null {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec);
  if (numeric) {
    const uid = Number(numeric[1]);
    return { name: spec, uid, gid: numeric[2] === undefined ? uid : Number(numeric[2]) };
  }
  let text: string;
  try {
    text = readFileSync(passwd, "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === spec && f[2] !== undefined && f[3] !== undefined) {
      return { name: spec, uid: Number(f[2]), gid: Number(f[3]) };
    }
  }
  return null;
}

/** A bare program name is looked up on the hooks' PATH (like keepalived does); null when not found. */
export function resolveProgram(program: string, path = HOOK_PATH): string | null {
  if (isAbsolute(program)) return program;
  if (program.includes("/")) return null;
  for (const dir of path.split(delimiter)) {
    const candidate = join(dir, program);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/**
 * Why `program` must not run, or null when it may. With `secure` false only existence and the execute
 * bit are checked. Group-writable counts when the group is not root's (gid 0).
 */
export function scriptProblem(program: string, o: { secure: boolean }): string | null {
  const resolved = resolveProgram(program);
  if (resolved === null) return `${program}: not found on PATH (${HOOK_PATH}); give an absolute path`;
  let real: string;
  try {
    real = realpathSync(resolved);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `${resolved}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`;
  }
  const st = statSync(real);
  if (!st.isFile()) return `${real}: not a regular file`;
  if ((st.mode & 0o111) === 0) return `${real}: not executable (chmod +x it)`;
  try {
    accessSync(real, constants.X_OK);
  } catch {
    return `${real}: not executable by vipd`;
  }
  if (!o.secure) return null;
  // The file itself, then every directory up to /. A symlink is judged by its target.
  let path = real;
  let what = "the script";
  for (;;) {
    const s = statSync(path);
    const owner = s.uid === 0 ? null : `owned by uid ${s.uid}`;
    const group = (s.mode & 0o020) !== 0 && s.gid !== 0 ? `writable by group ${s.gid}` : null;
    const world = (s.mode & 0o002) !== 0 && !(s.isDirectory() && (s.mode & 0o1000) !== 0 && s.uid === 0);
    const why = owner ?? group ?? (world ? "writable by everyone" : null);
    if (why !== null) {
      const at = path === real ? `${real}` : `${real}: directory ${path}`;
      return `${at} is ${why}, so a non-root user could change ${what} (enable_script_security)`;
    }
    if (path === "/") return null;
    path = dirname(path);
    what = "what runs";
  }
}
