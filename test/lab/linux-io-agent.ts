// Runs inside a lab namespace and drives src/linux for linux-*.test.ts: one JSON command per stdin
// line, one JSON reply or event per stdout line. Started by linux-io-harness.ts; exits when stdin
// closes. Buffers travel as hex.

import { execFileSync } from "node:child_process";
import { createInterface } from "node:readline";
import {
  createHighResTimer,
  monotonicNowMs,
  openPacketSocket,
  openVrrpSocket,
  type PacketSocket,
  sdNotify,
  type VrrpSocket,
} from "../../src/linux/native.js";
import { openRtnl, type Rtnl } from "../../src/linux/rtnl.js";

type Command = { id: number; op: string } & Record<string, unknown>;

const vrrp = new Map<number, VrrpSocket>();
const packet = new Map<number, PacketSocket>();
/** Every payload buffer received, kept as delivered, to check later that none was reused. */
const kept: { handle: number; payload: Buffer; hexAtArrival: string }[] = [];
/** Per socket handle: VRIDs whose next datagram arms absorb() from inside the callback (as the engine does). */
const absorbNext = new Map<number, Set<number>>();
/** Per socket handle: how long the callback stays busy before and after that arming. */
const absorbStallMs = new Map<number, [number, number]>();

function busyFor(ms: number): void {
  const until = monotonicNowMs() + ms;
  while (monotonicNowMs() < until) {
    // busy: nothing else runs
  }
}
let nextHandle = 1;
let rtnl: Rtnl | null = null;

function emit(o: object): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function errorJson(e: unknown): object {
  if (e instanceof Error) {
    const x = e as Error & { code?: unknown; errno?: unknown; syscall?: unknown };
    return { name: e.name, message: e.message, code: x.code, errno: x.errno, syscall: x.syscall };
  }
  return { name: "unknown", message: String(e) };
}

async function getRtnl(): Promise<Rtnl> {
  rtnl ??= await openRtnl();
  return rtnl;
}

function str(c: Command, key: string): string {
  const v = c[key];
  if (typeof v !== "string") throw new TypeError(`command ${c.op}: ${key} must be a string`);
  return v;
}

function num(c: Command, key: string): number {
  const v = c[key];
  if (typeof v !== "number") throw new TypeError(`command ${c.op}: ${key} must be a number`);
  return v;
}

function measureTimer(count: number, delayMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const lateness: number[] = [];
    let deadline = 0;
    const timer = createHighResTimer(() => {
      lateness.push(monotonicNowMs() - deadline);
      if (lateness.length >= count) {
        timer.close();
        resolve(lateness);
        return;
      }
      arm();
    });
    const arm = (): void => {
      deadline = monotonicNowMs() + delayMs;
      timer.armAt(deadline);
    };
    try {
      arm();
    } catch (e) {
      timer.close();
      reject(e);
    }
  });
}

async function run(c: Command): Promise<unknown> {
  switch (c.op) {
    case "openVrrp": {
      const family = str(c, "family") as "ipv4" | "ipv6";
      const sock = openVrrpSocket({
        family,
        ifname: str(c, "ifname"),
        multicast: c.multicast === true,
        ...(typeof c.kernelAbsorb === "boolean" ? { kernelAbsorb: c.kernelAbsorb } : {}),
      });
      const handle = nextHandle++;
      vrrp.set(handle, sock);
      sock.onDatagram((d) => {
        const hex = d.payload.toString("hex");
        kept.push({ handle, payload: d.payload, hexAtArrival: hex });
        emit({
          event: "datagram",
          handle,
          payload: hex,
          src: d.src,
          dst: d.dst,
          ttl: d.ttl,
          ifindex: d.ifindex,
          rxMs: d.rxMs,
          readMs: monotonicNowMs(),
        });
        const vrid = d.payload[1];
        const pending = absorbNext.get(handle);
        if (vrid !== undefined && pending?.delete(vrid) === true) {
          // Busy before arming (what comes meanwhile waits in the queue) and after it (what comes
          // then meets the armed kernel filter while the queue is still unread).
          const [before, after] = absorbStallMs.get(handle) ?? [0, 0];
          busyFor(before);
          const ok = sock.absorb(vrid, d);
          busyFor(after);
          emit({ event: "absorbArmed", handle, vrid, ok });
        }
        if (c.closeOnFirst === true) sock.close();
      });
      sock.onError((e) => emit({ event: "error", handle, error: errorJson(e) }));
      return { handle, ifindex: sock.ifindex, kernelAbsorbError: sock.kernelAbsorbError };
    }
    case "send": {
      const sock = vrrp.get(num(c, "handle"));
      if (sock === undefined) throw new Error("no such socket");
      const src = c.src;
      const payload = Buffer.from(str(c, "payload"), "hex");
      if (typeof src === "string") sock.send(payload, str(c, "dst"), src);
      else sock.send(payload, str(c, "dst"));
      return null;
    }
    case "stallThenDrain": {
      // Blocks this process's event loop for `ms` (a stall), then drain(): the datagrams queued
      // meanwhile must be delivered before drain() returns, stamped with their arrival.
      const sock = vrrp.get(num(c, "handle"));
      if (sock === undefined) throw new Error("no such socket");
      const stallStartMs = monotonicNowMs();
      while (monotonicNowMs() - stallStartMs < num(c, "ms")) {
        // busy: nothing else runs
      }
      const stallEndMs = monotonicNowMs();
      let delivered = 0;
      sock.onDatagram(() => {
        delivered++;
      });
      sock.drain();
      const counted = delivered;
      delivered = Number.NaN; // later deliveries are not drain()'s
      return { stallStartMs, stallEndMs, drained: counted };
    }
    case "absorbNext": {
      const handle = num(c, "handle");
      const set = absorbNext.get(handle) ?? new Set<number>();
      set.add(num(c, "vrid"));
      absorbNext.set(handle, set);
      const ms = (k: string) => (typeof c[k] === "number" ? (c[k] as number) : 0);
      absorbStallMs.set(handle, [ms("stallMs"), ms("stallAfterMs")]);
      return null;
    }
    case "absorbed": {
      const sock = vrrp.get(num(c, "handle"));
      if (sock === undefined) throw new Error("no such socket");
      const vrid = num(c, "vrid");
      const counts = sock.absorbed;
      return {
        count: counts[vrid],
        lastMs: counts[256 + vrid],
        nowMs: monotonicNowMs(),
        read: sock.datagramsRead,
      };
    }
    case "absorbRaw": {
      // absorb() with arguments as given (bad-argument tests).
      const sock = vrrp.get(num(c, "handle"));
      if (sock === undefined) throw new Error("no such socket");
      return sock.absorb(num(c, "vrid"), {
        payload: Buffer.from(str(c, "payload"), "hex"),
        src: str(c, "src"),
        dst: str(c, "dst"),
        ttl: 255,
        ifindex: 1,
      });
    }
    case "release": {
      vrrp.get(num(c, "handle"))?.release(num(c, "vrid"));
      return null;
    }
    case "close": {
      const handle = num(c, "handle");
      vrrp.get(handle)?.close();
      packet.get(handle)?.close();
      return null;
    }
    case "kept": {
      const handle = num(c, "handle");
      const mine = kept.filter((k) => k.handle === handle);
      const overlap = mine.some((a, i) =>
        mine.some(
          (b, j) =>
            i !== j &&
            a.payload.buffer === b.payload.buffer &&
            a.payload.byteOffset < b.payload.byteOffset + b.payload.length &&
            b.payload.byteOffset < a.payload.byteOffset + a.payload.length,
        ),
      );
      return {
        count: mine.length,
        unchanged: mine.every((k) => k.payload.toString("hex") === k.hexAtArrival),
        overlap,
      };
    }
    case "openPacket": {
      const sock = openPacketSocket(str(c, "ifname"));
      const handle = nextHandle++;
      packet.set(handle, sock);
      return { handle, ifindex: sock.ifindex };
    }
    case "sendFrame": {
      const sock = packet.get(num(c, "handle"));
      if (sock === undefined) throw new Error("no such socket");
      sock.send(Buffer.from(str(c, "frame"), "hex"));
      return null;
    }
    case "sdNotify": {
      if (typeof c.notifySocket === "string") process.env.NOTIFY_SOCKET = c.notifySocket;
      else delete process.env.NOTIFY_SOCKET;
      return sdNotify(str(c, "state"));
    }
    case "timer":
      return measureTimer(num(c, "count"), num(c, "delayMs"));
    case "rtnl": {
      const r = await getRtnl();
      const args = Array.isArray(c.args) ? (c.args as unknown[]) : [];
      switch (str(c, "method")) {
        case "getLink":
          return r.getLink(String(args[0]));
        case "addAddress":
          return r.addAddress(String(args[0]), String(args[1]), (args[2] ?? {}) as { label?: string });
        case "prepareAddress":
          return r.prepareAddress(String(args[0]), String(args[1]), (args[2] ?? {}) as { label?: string });
        case "addAddressInTurn": {
          // Is the address in the kernel before the caller's first await? (`ip` runs
          // synchronously, so nothing else of this process runs in between.)
          const ifname = String(args[0]);
          const cidr = String(args[1]);
          const added = r.addAddress(ifname, cidr);
          const shown = execFileSync("ip", ["-o", "addr", "show", "dev", ifname], { encoding: "utf8" });
          await added;
          return { inKernelBeforeAwait: shown.includes(` ${cidr} `) };
        }
        case "rehearseAdd":
          return r.rehearseAdd();
        case "addAddressApplied": {
          // Two adds in one turn: which ones say they landed at once (onApplied), and was each
          // address in the kernel right then? (`ip` runs synchronously, nothing else in between.)
          const ifname = String(args[0]);
          const cidrs = (args[1] as unknown[]).map(String);
          const shown = (cidr: string) =>
            execFileSync("ip", ["-o", "addr", "show", "dev", ifname], { encoding: "utf8" }).includes(
              ` ${cidr} `,
            );
          const out = cidrs.map(() => ({
            applied: false,
            inKernelWhenApplied: false,
            inKernelAfterCall: false,
          }));
          const adds = cidrs.map((cidr, i) => {
            const added = r.addAddress(ifname, cidr, {}, () => {
              out[i]!.applied = true;
              out[i]!.inKernelWhenApplied = shown(cidr);
            });
            out[i]!.inKernelAfterCall = shown(cidr);
            return added;
          });
          await Promise.all(adds);
          return out;
        }
        case "removeAddress":
          return r.removeAddress(String(args[0]), String(args[1]));
        case "listVipdAddresses":
          return r.listVipdAddresses(args[0] === undefined ? undefined : String(args[0]));
        case "removeOrphans":
          return r.removeOrphans();
        case "watch":
          r.onLinkChange((e) => emit({ event: "link", ...e }));
          r.onAddressChange((e) => emit({ event: "address", ...e }));
          return null;
        default:
          throw new Error(`unknown rtnl method ${String(c.method)}`);
      }
    }
    default:
      throw new Error(`unknown op ${c.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const c = JSON.parse(line) as Command;
  run(c).then(
    (result) => emit({ id: c.id, ok: true, result: result ?? null }),
    (e: unknown) => emit({ id: c.id, ok: false, error: errorJson(e) }),
  );
});
lines.on("close", () => {
  for (const s of vrrp.values()) s.close();
  for (const s of packet.values()) s.close();
  rtnl?.close();
});
emit({ event: "ready" });
