// `sudo npm run demo`: two vipd hosts and a client on a LAN of network namespaces. Shows the
// election, cuts the master's cable and prints the takeover timeline beside the RFC 9568 bound
// (Master_Down_Interval), then removes everything (also on Ctrl-C or an error).
//
// Needs root, iproute2 and tcpdump (the client watches for the gratuitous ARP with it). Runs the
// built vipd (bin/vipd.js -> dist/), which the npm script builds first.
import { execFileSync } from "node:child_process";
import { type ClientWatch, neighbourMac, seedNeighbour, startClientWatch } from "../test/lab/client-watch.js";
import { createLab, type Lab, labVip } from "../test/lab/netns.js";
import {
  masterDownIntervalMs,
  pollUntil,
  skewTimeMs,
  sleep,
  startVipd,
  type VipdAgent,
  type VipdInstance,
  vipHolders,
} from "../test/lab/vipd-agent.js";

const ADVERT_MS = 100;
const PRIORITY = { a: 200, b: 100 } as const;
const VIP = labVip("ipv4");
const MDI = masterDownIntervalMs(ADVERT_MS, PRIORITY.b);

const web = (priority: number): VipdInstance => ({
  name: "web",
  vrid: 51,
  priority,
  advertIntervalMs: ADVERT_MS,
  virtualIps: [`${VIP}/24`],
});

const say = (text: string) => process.stdout.write(`${text}\n`);
const ms = (v: number) => `${v.toFixed(1).padStart(8)} ms`;

function preflight(): void {
  if (process.getuid?.() !== 0)
    throw new Error("the demo needs root (network namespaces): run `sudo npm run demo`");
  for (const [tool, args] of [
    ["ip", ["-V"]],
    ["tcpdump", ["--version"]],
  ] as const) {
    try {
      execFileSync(tool, [...args], { stdio: "ignore" });
    } catch {
      throw new Error(`the demo needs '${tool}' (Debian/Ubuntu: apt-get install iproute2 tcpdump)`);
    }
  }
}

interface Timeline {
  lastAdvertToTransition: number | null;
  transitionToVipAdded: number | null;
  vipAddedToFirstAnnounce: number | null;
}

async function demo(lab: Lab): Promise<void> {
  const [a, b, client] = [lab.host("a"), lab.host("b"), lab.host("client")];
  say(`LAN ${lab.id}: a ${a.ipv4} (${a.mac}), b ${b.ipv4} (${b.mac}), client ${client.ipv4}`);
  say(
    `VRRPv3, vrid 51, advert interval ${ADVERT_MS} ms, VIP ${VIP}/24; priorities a ${PRIORITY.a}, b ${PRIORITY.b}`,
  );
  const watch: ClientWatch = await startClientWatch(client);

  say("\n== election");
  const [va, vb]: VipdAgent[] = await Promise.all([
    startVipd(a, { instances: [web(PRIORITY.a)] }),
    startVipd(b, { instances: [web(PRIORITY.b)] }),
  ]);
  await va!.waitForState("web", "master", { timeoutMs: 10_000 });
  await pollUntil("VIP on a", async () => ((await vipHolders([a], VIP)).length === 1 ? true : undefined));
  await sleep(5 * ADVERT_MS);
  say(
    `a: ${va!.state("web")}, b: ${vb!.state("web")}; VIP held by: ${(await vipHolders([a, b], VIP)).join(", ")}`,
  );
  const seeded = await seedNeighbour(client, VIP);
  say(`client resolves ${VIP} -> ${seeded} (${seeded === a.mac ? "a" : "?"})`);

  say("\n== fault: a's cable is cut (a keeps running and does not notice)");
  const faultAtMs = Date.now();
  await a.cableCut(true);
  const master = await vb!.waitForState("web", "master", { sinceMs: faultAtMs, timeoutMs: 10_000 });
  const garp = await watch.waitFor(VIP, b.mac, { sinceMs: faultAtMs, timeoutMs: 10_000 });
  const tl = await vb!.waitForLog("failover timeline", (l) => l.msg === "failover timeline", {
    sinceMs: faultAtMs,
    timeoutMs: 5000,
  });
  const clientMac = await neighbourMac(client, VIP);
  const d = (tl.fields.timeline ?? {}) as Timeline;

  // Times relative to the fault, on the wall clock. b's own durations (monotonic) are placed back
  // from the first GARP the client captured: b writes its log lines after the advert, the VIP add
  // and the GARP have gone out, so the time the demo reads a line is later than the step it tells.
  const garpAt = garp.atMs - faultAtMs;
  const vipAdded = d.vipAddedToFirstAnnounce === null ? null : garpAt - d.vipAddedToFirstAnnounce;
  const detection =
    vipAdded === null || d.transitionToVipAdded === null
      ? master.atMs - faultAtMs
      : vipAdded - d.transitionToVipAdded;
  const lastAdvert = d.lastAdvertToTransition === null ? null : detection - d.lastAdvertToTransition;
  const rows: [number | null, string, string][] = [
    [lastAdvert, "last advert from a heard by b", ""],
    [0, "fault injected: a's switch port leaves the bridge", ""],
    [
      detection,
      `detection: b's Master_Down timer fires, b -> MASTER`,
      d.lastAdvertToTransition === null
        ? ""
        : `${d.lastAdvertToTransition.toFixed(1)} ms after the last advert; RFC bound Master_Down_Interval ${MDI.toFixed(1)} ms`,
    ],
    [vipAdded, `VIP ${VIP}/24 added on b`, ""],
    [garpAt, "first gratuitous ARP from b seen by the client", garp.line.split(": ")[1] ?? ""],
  ];
  say("\n== timeline (t = 0 at the fault)");
  for (const [t, what, note] of rows.sort((x, y) => (x[0] ?? 0) - (y[0] ?? 0))) {
    say(`${t === null ? "         ? ms" : ms(t)}  ${what}${note ? `\n               (${note})` : ""}`);
  }
  say(
    `\nRFC 9568: Master_Down_Interval = 3 x ${ADVERT_MS} ms + Skew_Time ${skewTimeMs(ADVERT_MS, PRIORITY.b).toFixed(1)} ms = ${MDI.toFixed(1)} ms`,
  );
  if (d.lastAdvertToTransition !== null)
    say(`vipd's overhead beyond the bound: ${(d.lastAdvertToTransition - MDI).toFixed(1)} ms to detect`);
  say(
    `client's neighbour entry for ${VIP}: ${clientMac} (${clientMac === b.mac ? "b: the GARP arrived" : "NOT b"})`,
  );

  say("\n== cleanup");
  await Promise.all([vb!.stop(), va!.stop()]);
  await watch.stop();
}

async function main(): Promise<number> {
  preflight();
  let lab: Lab | undefined;
  process.once("SIGINT", () => {
    // netns.ts removes the lab's processes and namespaces on SIGINT before this runs.
    say("\ninterrupted: lab removed");
    process.exit(130);
  });
  try {
    lab = await createLab({ hosts: ["a", "b"], client: true });
    await demo(lab);
    return 0;
  } finally {
    await lab?.destroy();
    if (lab) say(`lab ${lab.id} removed`);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
