// Adds inert placeholder entries to package-lock.json for optional dependencies that the registry
// does not serve (e.g. biome's binaries for platforms the registry lacks), where the lock file has
// no entry for them. Without them, npm 11 `npm ci` rejects the lock file as out of sync ("Missing:
// name@ from lock file", with an empty version) although `npm install` wrote it that way
// (npm/cli#9846). A placeholder has no version, so if the package does resolve, `npm ci` still
// reports the lock file as out of sync: this only covers the unresolvable case.
// Usage: node .ci/lock-placeholders.cjs [package-lock.json]   (prints what it added)
"use strict";
const fs = require("node:fs");

const file = process.argv[2] ?? "package-lock.json";
const lock = JSON.parse(fs.readFileSync(file, "utf8"));
if (!lock.packages || typeof lock.packages !== "object") {
  console.error(`${file}: no "packages" section (lockfileVersion ${lock.lockfileVersion})`);
  process.exit(1);
}
const packages = lock.packages;

// Where npm looks a dependency up from a package at `loc`: its own node_modules, then each parent's.
function resolves(loc, name) {
  let dir = loc;
  for (;;) {
    const prefix = dir === "" ? "" : `${dir}/`;
    if (packages[`${prefix}node_modules/${name}`]) return true;
    if (dir === "") return false;
    const i = dir.lastIndexOf("/node_modules/");
    dir = i < 0 ? "" : dir.slice(0, i);
  }
}

const added = [];
for (const [loc, meta] of Object.entries(packages)) {
  if (loc === "" || meta.link) continue;
  for (const name of Object.keys(meta.optionalDependencies ?? {})) {
    if (resolves(loc, name)) continue;
    const key = `${loc}/node_modules/${name}`;
    packages[key] = meta.dev ? { dev: true, optional: true } : { optional: true };
    added.push(key);
  }
}
if (added.length > 0) {
  // npm keeps the entries sorted by location (the root "" first).
  const sorted = {};
  for (const k of Object.keys(packages).sort((a, b) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b, "en"))))
    sorted[k] = packages[k];
  lock.packages = sorted;
  fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
  console.log(`${file}: added ${added.length} inert placeholder(s): ${added.join(" ")}`);
}
