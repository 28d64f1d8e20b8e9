// Loads a CommonJS bundle (dist/bundle/run.cjs, the whole `vipd run` path) as a classic script
// through node:vm, with a V8 code cache kept in a file. Node 20 has no compile cache of its own:
// without one, every start parses the bundle and compiles each function it calls. With the cache,
// V8 takes the bytecode of every function the previous start had compiled.
//
// The cache is a plain optimisation: a missing, stale, corrupt or unsafe file is a miss (the script
// compiles from source), never an error. A miss leaves a fresh cache behind when the directory is
// writable (saveCache, called by vipd once it is running), so the next start is a hit.
//
// File: magic, then a JSON header (its length in 4 bytes), then V8's cached data. The header's key
// names the exact source file (device, inode, size, modification and change times in nanoseconds:
// any rewrite of the file changes them), Node and V8 versions, architecture and V8 flags; the
// payload's length catches a torn file. Damage inside the data is V8's to find: release builds of
// V8 neither write nor verify the checksum of a code cache, and a damaged one can crash the process
// while it is read (checked: a flipped byte aborts node). --verify-snapshot-checksum turns both on,
// so loadCommonJsWithCache sets it before it makes or reads a cache; V8 then rejects damaged data
// (cachedDataRejected) and compiles from source. It is also part of V8's own flag check, so a cache
// made without it is refused, not trusted. Hashing the files in JavaScript instead cost 16-27 ms
// at each start (the loop runs in the interpreter), node:zlib's crc32 6-9 ms and 1.4 MiB RSS.
//
// Where: $VIPD_CODE_CACHE_DIR, else $CACHE_DIRECTORY (systemd's CacheDirectory=), else the bundle's
// own directory. VIPD_CODE_CACHE_DIR=off turns the cache off. The file is only read when owned by
// this user (or root) and not writable by group or others: it holds code this process will run.

import {
  accessSync,
  type BigIntStats,
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";

const MAGIC = Buffer.from("vipd-v8cache-2\n", "latin1");
/** File name of the cache of run.cjs inside its directory (the default of loadCommonJsWithCache). */
export const CACHE_FILE = "run.v8cache";
/**
 * Parameters of the function expression the file is: scripts/bundle.mjs writes run.cjs as
 * `(function (exports, ...) {...})`, so that the file's text is the script's source as it is (no
 * second copy made by wrapping it here). `import.meta.url` is defined as the last one.
 */
export const WRAPPER_PARAMS = [
  "exports",
  "require",
  "module",
  "__filename",
  "__dirname",
  "__vipdImportMetaUrl",
];

/** How the cache was used at load time. */
export type CacheLoad =
  | { type: "off" }
  | { type: "hit"; bytes: number }
  | { type: "miss"; reason: string }
  /** The file passed vipd's checks but V8 refused it (another V8 build or flags). */
  | { type: "rejected"; bytes: number };

/** What saveCache did. */
export type CacheSave =
  | { type: "not-needed" }
  | { type: "written"; path: string; bytes: number; ms: number }
  | { type: "failed"; path: string; error: string };

export interface LoadedScript {
  /** The script's module.exports. */
  exports: Record<string, unknown>;
  load: CacheLoad;
  /** The cache file's path (null: off). */
  cachePath: string | null;
  /** Writes a fresh cache after a miss or rejection (no-op after a hit, when off or unwritable). */
  saveCache(): CacheSave;
}

/** The cache directory for a bundle in scriptDir, from the environment (null: off). */
export function codeCacheDir(env: NodeJS.ProcessEnv, scriptDir: string): string | null {
  const own = env.VIPD_CODE_CACHE_DIR;
  if (own !== undefined && own !== "") return own === "off" ? null : own;
  // systemd sets CACHE_DIRECTORY to the CacheDirectory= paths, colon-separated.
  const systemd = env.CACHE_DIRECTORY?.split(":")[0];
  if (systemd !== undefined && systemd !== "") return systemd;
  return scriptDir;
}

/** The identity of a file's contents: what any rewrite of it changes. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** A file's identity from its stat (made with `bigint: true`). */
export function fileIdentity(st: BigIntStats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

/** Identifies what a cache was made for: the source file, the runtime and V8's flags. */
export function cacheKey(source: FileIdentity, execArgv: readonly string[]): string {
  return [
    `node ${process.version}`,
    `v8 ${process.versions.v8}`,
    process.arch,
    `source ${source.dev}:${source.ino} ${source.size} ${source.mtimeNs} ${source.ctimeNs}`,
    `flags ${execArgv.join(" ")}`,
  ].join("; ");
}

interface Header {
  key: string;
  length: number;
}

/** The cache file's bytes for V8's data under key. */
export function encodeCache(key: string, data: Uint8Array): Buffer {
  const json = JSON.stringify({ key, length: data.length } satisfies Header);
  const header = Buffer.from(json);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  return Buffer.concat([MAGIC, len, header, data]);
}

/** V8's data from a cache file's bytes, or why they cannot be used for key. */
export function decodeCache(file: Buffer, key: string): { data: Buffer } | { reason: string } {
  if (file.length < MAGIC.length + 4 || !file.subarray(0, MAGIC.length).equals(MAGIC))
    return { reason: "not a vipd code cache" };
  const headerLength = file.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4 + headerLength;
  if (start > file.length) return { reason: "truncated header" };
  let header: Partial<Header>;
  try {
    header = JSON.parse(file.subarray(MAGIC.length + 4, start).toString("latin1")) as Partial<Header>;
  } catch {
    return { reason: "unreadable header" };
  }
  if (header.key !== key) return { reason: "stale (made for another build, runtime or flags)" };
  const data = file.subarray(start);
  if (data.length !== header.length) return { reason: "truncated data" };
  return { data };
}

/** Reads the cache file if it is safe to run: a regular file of ours, writable by us only. */
function readCacheFile(path: string): { file: Buffer } | { reason: string } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { reason: code === "ENOENT" ? "no cache yet" : `cannot open: ${code ?? String(err)}` };
  }
  try {
    const st = fstatSync(fd);
    const uid = process.getuid?.() ?? 0;
    if (!st.isFile()) return { reason: "not a regular file" };
    if (st.uid !== uid && st.uid !== 0) return { reason: `owned by uid ${st.uid}` };
    if ((st.mode & 0o022) !== 0) return { reason: "writable by group or others" };
    return { file: readFileSync(fd) };
  } catch (err) {
    return { reason: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  } finally {
    closeSync(fd);
  }
}

/** The file's bytes and identity, both from one open file. */
function readSource(path: string): { bytes: Buffer; identity: FileIdentity } {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    const identity = fileIdentity(fstatSync(fd, { bigint: true }));
    return { bytes: readFileSync(fd), identity };
  } finally {
    closeSync(fd);
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiles the file at scriptPath, a function expression of WRAPPER_PARAMS holding a CommonJS
 * module, with the code cache in cacheDir (null: no cache), and runs it. Errors thrown by the
 * script itself propagate.
 */
export function loadCommonJsWithCache(
  scriptPath: string,
  cacheDir: string | null,
  o: { execArgv?: readonly string[]; cacheFile?: string } = {},
): LoadedScript {
  const { bytes, identity } = readSource(scriptPath);
  const cachePath = cacheDir === null ? null : join(cacheDir, o.cacheFile ?? CACHE_FILE);
  const key = cachePath === null ? "" : cacheKey(identity, o.execArgv ?? process.execArgv);
  // Before any cache is read or made (see the top of this file); setting it again changes nothing.
  if (cachePath !== null) v8.setFlagsFromString("--verify-snapshot-checksum");
  // The bundle is ASCII (scripts/bundle.mjs): latin1 makes a one-byte string, no decoding.
  const source = bytes.toString("latin1");
  let load: CacheLoad = { type: "off" };
  let cachedData: Buffer | undefined;
  if (cachePath !== null) {
    const read = readCacheFile(cachePath);
    const decoded = "file" in read ? decodeCache(read.file, key) : read;
    if ("data" in decoded) cachedData = decoded.data;
    else load = { type: "miss", reason: decoded.reason };
  }
  const script = new vm.Script(source, {
    filename: scriptPath,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  if (cachedData !== undefined)
    load = script.cachedDataRejected
      ? { type: "rejected", bytes: cachedData.length }
      : { type: "hit", bytes: cachedData.length };
  cachedData = undefined;
  const fn = script.runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} as Record<string, unknown> };
  const url = pathToFileURL(scriptPath);
  fn(module.exports, createRequire(url), module, scriptPath, dirname(scriptPath), url.href);

  let pending: vm.Script | null = load.type === "miss" || load.type === "rejected" ? script : null;
  return {
    exports: module.exports,
    load,
    cachePath,
    saveCache: () => {
      const s = pending;
      pending = null;
      if (s === null || cachePath === null || !writable(dirname(cachePath))) return { type: "not-needed" };
      const started = performance.now();
      const tmp = `${cachePath}.${process.pid}.tmp`;
      try {
        const file = encodeCache(key, s.createCachedData());
        writeFileSync(tmp, file, { mode: 0o600, flag: "wx" });
        renameSync(tmp, cachePath);
        return { type: "written", path: cachePath, bytes: file.length, ms: performance.now() - started };
      } catch (err) {
        rmSync(tmp, { force: true });
        return { type: "failed", path: cachePath, error: (err as Error).message };
      }
    },
  };
}
