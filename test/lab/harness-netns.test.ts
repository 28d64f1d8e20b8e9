// The lab harness itself: a LAN in namespaces that works, and teardown that leaves nothing behind.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, type Lab, labAvailable, labNamespacesLeft, labPing, withLab } from "./netns.js";

function processesWithMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").startsWith(marker)) pids.push(Number(d));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

async function rootLinks(): Promise<Set<string>> {
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn("ip", ["-o", "link", "show"], { stdio: ["ignore", "pipe", "inherit"] });
    let s = "";
    c.stdout.setEncoding("utf8").on("data", (d: string) => {
      s += d;
    });
    c.on("error", reject);
    c.on("close", () => resolve(s));
  });
  return new Set(out.split("\n").map((l) => l.split(":")[1]?.trim().split("@")[0] ?? ""));
}

describe("createLab input", () => {
  it.each([
    [[], /at least one host/],
    [["a", "a"], /given twice/],
    [["client"], /reserved/],
    [["switch"], /reserved/],
    [["Bad_Name"], /must match/],
    [["x".repeat(21)], /must match/],
  ])("refuses hosts %j", async (hosts, message) => {
    await expect(createLab({ hosts })).rejects.toThrow(message);
  });

  it("has no host that was not asked for", async () => {
    await withLab({ hosts: ["a"] }, async (lab) => {
      expect(() => lab.host("client")).toThrow(/has no host 'client'/);
    });
  });
});

describe.runIf(labAvailable())("lab LAN (root)", () => {
  let lab: Lab;
  let linksBefore: Set<string>;
  beforeAll(async () => {
    linksBefore = await rootLinks();
    lab = await createLab({ hosts: ["a", "b"], client: true });
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it("creates nothing in the root namespace but the namespaces", async () => {
    const added = [...(await rootLinks())].filter((l) => !linksBefore.has(l));
    expect(added.filter((l) => /^(br0|eth0|p\d+)$/.test(l))).toEqual([]);
    expect(labNamespacesLeft(lab.id).sort()).toEqual(
      [`${lab.id}-a`, `${lab.id}-b`, `${lab.id}-client`, `${lab.id}-switch`].sort(),
    );
  });

  it("gives each node the documented addresses, MAC and a usable link-local address", async () => {
    const a = lab.host("a");
    expect([a.ipv4, a.ipv6, a.mac, a.ipv6LinkLocal]).toEqual([
      "192.0.2.11",
      "2001:db8::11",
      "02:00:00:00:00:0b",
      "fe80::ff:fe00:b",
    ]);
    expect(lab.host("b").ipv4).toBe("192.0.2.12");
    expect(lab.host("client").ipv4).toBe("192.0.2.100");
    for (const h of lab.hosts()) {
      const r = await h.exec(["ip", "-j", "addr", "show", "dev", "eth0"]);
      const [link] = JSON.parse(r.stdout) as {
        address: string;
        operstate: string;
        addr_info: { local: string; prefixlen: number; tentative?: boolean }[];
      }[];
      expect(link?.address).toBe(h.mac);
      expect(link?.operstate).toBe("UP");
      const addrs = link?.addr_info.map((x) => `${x.local}/${x.prefixlen}`);
      expect(addrs).toEqual(expect.arrayContaining([h.ipv4Cidr, h.ipv6Cidr, `${h.ipv6LinkLocal}/64`]));
      expect(link?.addr_info.filter((x) => x.tentative)).toEqual([]);
      const lo = await h.exec(["ip", "-br", "link", "show", "lo"]);
      expect(lo.stdout).toMatch(/UNKNOWN|UP/);
    }
  });

  it("connects every pair over IPv4, IPv6 and IPv6 link-local", async () => {
    const nodes = lab.hosts();
    for (const from of nodes) {
      for (const to of nodes) {
        if (from === to) continue;
        for (const ip of [to.ipv4, to.ipv6, `${to.ipv6LinkLocal}%eth0`]) {
          expect(await labPing(from, ip), `${from.name} -> ${ip}`).toBe(true);
        }
      }
    }
  });

  it("answers nothing for an address no node has", async () => {
    expect(await labPing(lab.host("a"), "192.0.2.250", { timeoutMs: 400 })).toBe(false);
  });

  it("links down and up inside a host, which the host sees", async () => {
    const b = lab.host("b");
    await b.linkDown();
    expect((await b.exec(["ip", "-br", "link", "show", "eth0"])).stdout).toMatch(/\bDOWN\b/);
    expect(await labPing(lab.host("a"), b.ipv4, { timeoutMs: 400 })).toBe(false);
    await b.linkUp();
    expect(await labPing(lab.host("a"), b.ipv4)).toBe(true);
  });

  it("cuts a cable silently: the host keeps carrier but nothing passes", async () => {
    const b = lab.host("b");
    await b.cableCut(true);
    const link = (await b.exec(["ip", "-br", "link", "show", "eth0"])).stdout;
    expect(link).toMatch(/\bUP\b/);
    expect(link).toMatch(/LOWER_UP/);
    expect(await labPing(lab.host("a"), b.ipv6, { timeoutMs: 400 })).toBe(false);
    await b.cableCut(false);
    expect(await labPing(lab.host("a"), b.ipv6)).toBe(true);
  });

  it("drops carrier when the switch-side veth goes down", async () => {
    const b = lab.host("b");
    await b.carrierDown(true);
    expect((await b.exec(["ip", "-br", "link", "show", "eth0"])).stdout).toMatch(/NO-CARRIER/);
    await b.carrierDown(false);
    expect(await labPing(lab.host("a"), b.ipv4)).toBe(true);
  });

  it("reports a command's exit code and output, and times out a hung command", async () => {
    const r = await lab.host("a").exec(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(r).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    await expect(lab.host("a").exec(["sleep", "5"], { timeoutMs: 200 })).rejects.toThrow(
      /timed out after 200 ms/,
    );
  });
});

describe.runIf(labAvailable())("lab teardown (root)", () => {
  it("kills every process (children, grandchildren, daemons) and deletes the namespaces; twice is fine", async () => {
    const marker = `vipd-test-marker-${process.pid}-${Date.now()}`;
    const lab = await createLab({ hosts: ["a"], client: true });
    const a = lab.host("a");
    const plain = a.spawn(["bash", "-c", `exec -a ${marker}-1 sleep 1000`]);
    // A child that ignores SIGTERM, a grandchild in the same group, and one that escapes the group.
    a.spawn(["bash", "-c", `trap '' TERM; (exec -a ${marker}-2 sleep 1000) & wait`]);
    a.spawn(["sh", "-c", `setsid bash -c 'exec -a ${marker}-3 sleep 1000' & wait`], { stdio: "ignore" });
    const deadline = Date.now() + 5000;
    while (processesWithMarker(marker).length < 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(processesWithMarker(marker)).toHaveLength(3);
    await Promise.all([lab.destroy(), lab.destroy()]);
    await lab.destroy();
    expect(processesWithMarker(marker)).toEqual([]);
    expect(plain.exitCode !== null || plain.signalCode !== null).toBe(true);
    expect(labNamespacesLeft(lab.id)).toEqual([]);
    expect(() => a.spawn(["true"])).toThrow(/being destroyed/);
  });

  it("cleans up when the test body throws", async () => {
    let id = "";
    await expect(
      withLab({ hosts: ["a", "b"] }, async (lab) => {
        id = lab.id;
        lab.host("a").spawn(["sleep", "1000"]);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(id).not.toBe("");
    expect(labNamespacesLeft(id)).toEqual([]);
  });

  it.each(["exit", "SIGTERM"])(
    "cleans up when the test process ends by %s without destroy()",
    async (how) => {
      const dir = mkdtempSync(join(tmpdir(), "vipd-lab-test-"));
      try {
        const netns = fileURLToPath(new URL("./netns.ts", import.meta.url));
        const script = join(dir, "orphan.mts");
        writeFileSync(
          script,
          `import { createLab } from ${JSON.stringify(netns)};
const lab = await createLab({ hosts: ['a'] });
lab.host('a').spawn(['sleep', '1000']);
console.log(lab.id);
if (process.argv[2] === 'exit') process.exit(3);
setInterval(() => {}, 1000);
`,
        );
        const child = spawn(process.execPath, ["--import", "tsx", script, how], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stderr.setEncoding("utf8").on("data", (d: string) => {
          err += d;
        });
        const id = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no lab id from the child: ${err}`)), 15_000);
          child.stdout.setEncoding("utf8").on("data", (d: string) => {
            out += d;
            if (out.includes("\n")) {
              clearTimeout(timer);
              resolve(out.trim());
            }
          });
        });
        expect(id).toMatch(/^vipd-\d+-[0-9a-f]{6}$/);
        if (how === "SIGTERM") child.kill("SIGTERM");
        const status = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
          if (child.exitCode !== null) resolve({ code: child.exitCode, signal: null });
          else child.once("close", (code, signal) => resolve({ code, signal }));
        });
        expect(status).toEqual(
          how === "exit" ? { code: 3, signal: null } : { code: null, signal: "SIGTERM" },
        );
        expect(labNamespacesLeft(id)).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
