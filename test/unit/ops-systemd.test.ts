// systemd/vipd.service: `systemd-analyze verify` accepts it and its `systemd-analyze security`
// exposure is below Debian's keepalived.service (9.6 with systemd 252).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const UNIT = new URL("../../systemd/vipd.service", import.meta.url);
const DROP_IN = new URL("../../systemd/vipd.service.d/hooks.conf.example", import.meta.url);
const KEEPALIVED_UNIT = "/lib/systemd/system/keepalived.service";
const haveAnalyze = existsSync("/usr/bin/systemd-analyze") || existsSync("/bin/systemd-analyze");

/** The overall exposure from `systemd-analyze security --offline=true UNIT`. */
async function exposure(unitPath: string): Promise<number> {
  // Exit status is non-zero when the score is above --threshold (default 100): read stdout anyway.
  const r = await run("systemd-analyze", ["security", "--offline=true", "--no-pager", unitPath]).catch(
    (e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? "", stderr: e.stderr ?? "" }),
  );
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout);
  if (!m) throw new Error(`no exposure in systemd-analyze output:\n${r.stdout}\n${r.stderr}`);
  return Number(m[1]);
}

describe.runIf(haveAnalyze)("systemd/vipd.service", () => {
  let dir: string;
  let unitPath: string;
  beforeAll(async () => {
    // verify wants ExecStart's binary to exist: a copy points at a stand-in in a temp dir.
    dir = await mkdtemp(join(tmpdir(), "vipd-unit-"));
    const bin = join(dir, "vipd");
    await writeFile(bin, "#!/bin/sh\nexit 0\n");
    await chmod(bin, 0o755);
    unitPath = join(dir, "vipd.service");
    const text = await readFile(UNIT, "utf8");
    await writeFile(unitPath, text.replaceAll("/usr/local/bin/vipd", bin));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("passes systemd-analyze verify", async () => {
    const r = await run("systemd-analyze", ["verify", unitPath]);
    expect(r.stderr.trim()).toBe("");
  });

  it("fails verify when ExecStart names a missing binary (the check is real)", async () => {
    const broken = join(dir, "broken.service");
    const text = await readFile(unitPath, "utf8");
    await writeFile(broken, text.replace(/^ExecStart=\S+/m, `ExecStart=${join(dir, "missing")}`));
    await expect(run("systemd-analyze", ["verify", broken])).rejects.toMatchObject({
      stderr: expect.stringContaining("missing"),
    });
  });

  it("declares what the runtime relies on", async () => {
    const text = await readFile(UNIT, "utf8");
    const keys = (k: string) => [...text.matchAll(new RegExp(`^${k}=(.*)$`, "gm"))].map((m) => m[1]);
    expect(keys("Type")).toEqual(["notify"]);
    expect(keys("Restart")).toEqual(["on-failure"]);
    expect(keys("WatchdogSec")).toHaveLength(1);
    expect(keys("ExecReload")[0]).toContain("-HUP");
    expect(keys("ExecStopPost")[0]).toMatch(/vipd cleanup$/);
    expect(keys("CapabilityBoundingSet")).toEqual(["CAP_NET_ADMIN CAP_NET_RAW CAP_SYS_NICE CAP_BPF"]);
    expect(keys("AmbientCapabilities")).toEqual(["CAP_NET_ADMIN CAP_NET_RAW CAP_SYS_NICE CAP_BPF"]);
    // the kernel filter (kernel_absorb.h) needs the bpf system call, which @privileged denies
    expect(keys("SystemCallFilter").at(-1)?.split(" ")).toContain("bpf");
    expect(keys("RestrictRealtime")).toEqual(["no"]);
    expect(keys("RestrictAddressFamilies")).toEqual(["AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET"]);
    expect(keys("RuntimeDirectory")).toEqual(["vipd"]);
    expect(keys("MemoryDenyWriteExecute")).toEqual([]);
  });

  it.runIf(existsSync(KEEPALIVED_UNIT))("has a lower exposure score than keepalived.service", async () => {
    const ours = await exposure(unitPath);
    const theirs = await exposure(KEEPALIVED_UNIT);
    console.log(`systemd-analyze security: vipd.service ${ours}, keepalived.service ${theirs}`);
    expect(ours).toBeLessThan(theirs);
    expect(ours).toBeLessThan(3);
  });

  it("the hooks drop-in example widens the sandbox and still verifies", async () => {
    const text = await readFile(DROP_IN, "utf8");
    // Every setting in the example, uncommented, appended to the unit as a stand-in for the drop-in.
    const settings = text
      .split("\n")
      .filter((l) => /^#[A-Za-z]+=/.test(l))
      .map((l) => l.slice(1));
    expect(settings.length).toBeGreaterThan(5);
    const widened = join(dir, "widened.service");
    const unit = await readFile(unitPath, "utf8");
    const [service = "", install = ""] = unit.split("[Install]");
    await writeFile(widened, `${service}${settings.join("\n")}\n\n[Install]${install}`);
    await run("systemd-analyze", ["verify", widened]);
    expect(await exposure(widened)).toBeGreaterThan(await exposure(unitPath));
  });
});
