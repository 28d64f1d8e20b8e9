// scripts/install.sh staged into a temp root (--root, --no-npm) and in --dry-run.
import { execFile } from "node:child_process";
import { lstat, mkdtemp, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("../../scripts/install.sh", import.meta.url));
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempRoot(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "vipd-install-"));
  dirs.push(d);
  return d;
}

describe("scripts/install.sh", () => {
  it("stages code, command link, unit and example config; keeps an existing config", async () => {
    const root = await tempRoot();
    const r = await run("bash", [
      SCRIPT,
      "--root",
      root,
      "--no-npm",
      "--prefix",
      "/srv/vipd",
      "--bindir",
      "/usr/bin",
    ]);
    expect(r.stdout).toContain("systemctl enable --now vipd");
    expect((await stat(join(root, "srv/vipd/package.json"))).isFile()).toBe(true);
    await expect(stat(join(root, "srv/vipd/.git"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(stat(join(root, "srv/vipd/node_modules"))).rejects.toMatchObject({ code: "ENOENT" });
    expect((await lstat(join(root, "usr/bin/vipd"))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(root, "usr/bin/vipd"))).toBe("/srv/vipd/bin/vipd.js");
    const unit = await readFile(join(root, "etc/systemd/system/vipd.service"), "utf8");
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/vipd run --config \/etc\/vipd\/vipd.yaml$/m);
    expect(unit).toMatch(/^ExecStopPost=\/usr\/bin\/vipd cleanup$/m);
    expect(unit).toContain("Documentation=file:/srv/vipd/README.md");
    expect(unit).not.toContain("/usr/local/bin");
    const conf = join(root, "etc/vipd/vipd.yaml");
    expect((await stat(conf)).mode & 0o777).toBe(0o600);
    await writeFile(conf, "# mine\n");
    const again = await run("bash", [SCRIPT, "--root", root, "--no-npm"]);
    expect(again.stdout).toContain("keeping the existing");
    expect(await readFile(conf, "utf8")).toBe("# mine\n");
  });

  it("--dry-run changes nothing and prints the npm steps", async () => {
    const root = await tempRoot();
    const r = await run("bash", [SCRIPT, "--root", root, "--dry-run"]);
    expect(r.stdout).toMatch(/\+ npm --prefix \S+ ci/);
    expect(r.stdout).toMatch(/\+ npm --prefix \S+ run build/);
    expect(r.stdout).toMatch(/\+ npm --prefix \S+ prune --omit=dev/);
    const { readdir } = await import("node:fs/promises");
    expect(await readdir(root)).toEqual([]);
  });

  it("rejects bad options with exit 64 and a missing example with 66", async () => {
    await expect(run("bash", [SCRIPT, "--bogus"])).rejects.toMatchObject({ code: 64 });
    await expect(run("bash", [SCRIPT, "--prefix", "relative", "--dry-run"])).rejects.toMatchObject({
      code: 64,
      stderr: expect.stringContaining("--prefix must be absolute"),
    });
    await expect(run("bash", [SCRIPT, "--example", "nope.yaml", "--dry-run"])).rejects.toMatchObject({
      code: 66,
    });
  });
});
