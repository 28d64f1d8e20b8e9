// The Vagrant lab: the Vagrantfile validates (Debian's vagrant package; --ignore-provider because
// CI has no VM provider), its scripts parse, and its vipd config is valid for both balancers.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfigText } from "../../src/config/index.js";

const run = promisify(execFile);
const DIR = fileURLToPath(new URL("../../vagrant/", import.meta.url));
const haveVagrant = existsSync("/usr/bin/vagrant");

describe("vagrant/", () => {
  let tmp: string;
  beforeAll(async () => {
    // Validate a copy: vagrant writes a .vagrant/ directory next to the Vagrantfile.
    tmp = await mkdtemp(join(tmpdir(), "vipd-vagrant-"));
    for (const f of ["Vagrantfile", "provision-lb.sh"]) await copyFile(join(DIR, f), join(tmp, f));
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const validate = (cwd: string) =>
    run("vagrant", ["validate", "--ignore-provider"], {
      cwd,
      env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: "1", VAGRANT_CWD: cwd },
      timeout: 60_000,
    });

  it.runIf(haveVagrant)("vagrant validate accepts the Vagrantfile", async () => {
    const r = await validate(tmp);
    expect(r.stdout).toContain("Vagrantfile validated successfully.");
    expect(r.stdout).toMatch(/lb1[\s\S]*lb2[\s\S]*client/);
  });

  it.runIf(haveVagrant)("vagrant validate rejects a broken Vagrantfile (the check is real)", async () => {
    const broken = await mkdtemp(join(tmpdir(), "vipd-vagrant-bad-"));
    try {
      const text = await readFile(join(DIR, "Vagrantfile"), "utf8");
      await writeFile(
        join(broken, "Vagrantfile"),
        text.replace("lb.vm.hostname = name", "lb.vm.hostnam = name"),
      );
      await copyFile(join(DIR, "provision-lb.sh"), join(broken, "provision-lb.sh"));
      await expect(validate(broken)).rejects.toMatchObject({ stderr: expect.stringContaining("hostnam") });
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });

  it("uses TEST-NET-1 addresses only and gives lb1 the higher priority", async () => {
    const text = await readFile(join(DIR, "Vagrantfile"), "utf8");
    const ips = [...text.matchAll(/\b\d+\.\d+\.\d+\.\d+\b/g)].map((m) => m[0]);
    expect(ips.every((ip) => ip.startsWith("192.0.2.") || ip === "255.255.255.0")).toBe(true);
    expect(text).toContain('NET = "192.0.2"');
    expect(text).toMatch(/"lb1" => \{ ip: "#\{NET\}\.11", priority: 150 \}/);
    expect(text).toMatch(/"lb2" => \{ ip: "#\{NET\}\.12", priority: 100 \}/);
  });

  it("the balancers' vipd.yaml is valid for both nodes and tracks nginx", async () => {
    const template = await readFile(join(DIR, "vipd.yaml.in"), "utf8");
    for (const [name, prio] of [
      ["lb1", 150],
      ["lb2", 100],
    ] as const) {
      const c = loadConfigText(
        template.replace("@NAME@", name).replace("@PRIORITY@", String(prio)),
        `${name}.yaml`,
      );
      expect(c.global.routerId).toBe(name);
      expect(c.instances.web?.priority).toBe(prio);
      expect(c.instances.web?.virtualIps.map((v) => v.cidr)).toEqual(["192.0.2.200/24"]);
      expect(c.instances.web?.trackScripts.map((t) => t.name)).toEqual(["chk_nginx"]);
    }
    // lb1 with a failed check must fall below lb2.
    expect(150 - 60).toBeLessThan(100);
  });

  it("its shell scripts parse", async () => {
    for (const f of ["provision-lb.sh", "client-loop.sh"]) await run("bash", ["-n", join(DIR, f)]);
  });

  it("client-loop.sh prints the drill line format", async () => {
    // A URL curl rejects before any traffic, in a bounded loop: only "<ms> fail <code>" lines.
    const r = await run("bash", [join(DIR, "client-loop.sh"), "http://a b/", "50", "300"]);
    const lines = r.stdout.trim().split("\n");
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l).toMatch(/^\d{13} fail \d+$/);
  });
});
