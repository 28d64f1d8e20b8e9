// Fuzzing decodeAdvert: mutated captures, mutated fresh adverts and random bytes, with random
// receive contexts. Used by codec-fuzz.test.ts (a bounded run in CI) and by `npm run fuzz -- N`
// for long runs. Every result is checked for shape, and every accepted packet must re-encode to
// the bytes it came from (up to the ignored reserved bits), so "never throws" is not all it proves.

import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  type ChecksumForm,
  type DecodeContext,
  type DecodeResult,
  decodeAdvert,
  encodeAdvert,
  type InvalidReason,
  internetChecksum,
  parseIp,
  vrrpPseudoHeader,
} from "../../src/codec/index.js";
import { ipLayer, linkLayer, readPcap } from "./pcap.js";

const FIXTURES = new URL("../../../shared/fixtures/", import.meta.url);

export interface Seed {
  payload: Uint8Array;
  ctx: DecodeContext;
}

/** Every VRRP payload in the fixture captures, with the context it was received in. */
export function fixtureSeeds(): Seed[] {
  const seeds: Seed[] = [];
  for (const name of readdirSync(FIXTURES).filter((n) => n.endsWith(".pcap"))) {
    const pcap = readPcap(new Uint8Array(readFileSync(new URL(name, FIXTURES))));
    for (const record of pcap.records) {
      const link = linkLayer(pcap.linkType, record.data);
      const ip = ipLayer(link.ethertype, link.payload);
      if (ip === null || ip.protocol !== 112) continue;
      const text = (b: Uint8Array) => formatBytesIp(b);
      seeds.push({
        payload: ip.payload.slice(),
        ctx: { family: ip.family, src: text(ip.src), dst: text(ip.dst), ttl: ip.ttl },
      });
    }
  }
  return seeds;
}

function formatBytesIp(b: Uint8Array): string {
  // Kept independent of the codec's formatIp so the seeds do not depend on the code under test.
  if (b.length === 4) return Array.from(b).join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16));
  return groups.join(":");
}

/** sfc32: small, fast and seedable (plain 32-bit arithmetic), so a failing run can be replayed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.next32();
  }
  next32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  int(n: number): number {
    return this.next32() % n;
  }
  chance(p: number): boolean {
    return this.next32() / 0x100000000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next32() & 0xff;
    return out;
  }
}

const ODD_ADDRESSES = [
  "",
  "x",
  "1.2.3",
  "::g",
  "192.0.2.1/24",
  "fe80::1%eth0",
  "999.0.0.1",
  "::ffff:1.2.3.4",
];

function randomAddress(rng: Rng, family: "ipv4" | "ipv6"): string {
  const b = rng.bytes(family === "ipv4" ? 4 : 16);
  if (family === "ipv6" && rng.chance(0.5)) b.set([0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
  return formatBytesIp(b);
}

function randomContext(rng: Rng, base?: DecodeContext): DecodeContext {
  const family = base !== undefined && rng.chance(0.8) ? base.family : rng.pick(["ipv4", "ipv6"] as const);
  const pickAddress = (fallback: string | undefined) => {
    if (fallback !== undefined && rng.chance(0.7)) return fallback;
    if (rng.chance(0.1)) return rng.pick(ODD_ADDRESSES);
    return randomAddress(rng, rng.chance(0.9) ? family : family === "ipv4" ? "ipv6" : "ipv4");
  };
  const ttl = rng.chance(0.85) ? 255 : rng.pick([0, 1, 64, 254, 256, -1, Number.NaN]);
  const ctx: DecodeContext = { family, src: pickAddress(base?.src), dst: pickAddress(base?.dst), ttl };
  if (rng.chance(0.5)) ctx.requireLinkLocalFirst = rng.chance(0.5);
  return ctx;
}

function randomAdvertSeed(rng: Rng): Seed {
  const family = rng.pick(["ipv4", "ipv6"] as const);
  const version = family === "ipv4" && rng.chance(0.4) ? 2 : 3;
  const count = rng.chance(0.05) ? 0 : 1 + rng.int(version === 2 ? 8 : 4);
  const addresses = Array.from({ length: count }, () => randomAddress(rng, family));
  const common = { vrid: rng.int(256), priority: rng.int(256), addresses };
  const ctx = { family, src: randomAddress(rng, family), dst: randomAddress(rng, family) };
  const checksumForm: ChecksumForm = rng.chance(0.5) ? "pseudo-header" : "message-only";
  const payload =
    version === 3
      ? encodeAdvert({ version: 3, ...common, maxAdverIntCs: rng.int(4096) }, { ...ctx, checksumForm })
      : encodeAdvert(
          { version: 2, ...common, adverIntS: rng.int(256), authType: rng.int(3), authData: rng.bytes(8) },
          { ...ctx, checksumForm },
        );
  return { payload, ctx: { ...ctx, ttl: 255 } };
}

/** Recomputes the checksum for ctx so that mutations reach the rungs after the checksum. */
function refreshChecksum(payload: Uint8Array, ctx: DecodeContext, rng: Rng): void {
  if (payload.length < 8) return;
  payload[6] = 0;
  payload[7] = 0;
  const pseudo = vrrpPseudoHeader(ctx, payload.length);
  const usePseudo =
    (payload[0] as number) >> 4 !== 2 && pseudo !== null && (ctx.family === "ipv6" || rng.chance(0.5));
  const sum = usePseudo && pseudo !== null ? internetChecksum(pseudo, payload) : internetChecksum(payload);
  payload[6] = sum >> 8;
  payload[7] = sum & 0xff;
}

function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  let p = input.slice();
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(9)) {
      case 0: // flip a bit
        if (p.length > 0) {
          const at = rng.int(p.length);
          p[at] = (p[at] as number) ^ (1 << rng.int(8));
        }
        break;
      case 1: // set a byte
        if (p.length > 0) p[rng.int(p.length)] = rng.int(256);
        break;
      case 2: // truncate
        p = p.slice(0, rng.int(p.length + 1));
        break;
      case 3: {
        // extend
        const extra = rng.bytes(rng.int(40));
        const q = new Uint8Array(p.length + extra.length);
        q.set(p);
        q.set(extra, p.length);
        p = q;
        break;
      }
      case 4: // header fields that steer the ladder
        if (p.length > 3) p[3] = rng.pick([0, 1, 2, 3, 255, rng.int(256)]);
        break;
      case 5:
        if (p.length > 0) p[0] = (rng.pick([0, 1, 2, 3, 4, 15]) << 4) | rng.pick([0, 1, 2, 15]);
        break;
      case 6:
        if (p.length > 5) {
          p[4] = rng.int(256);
          p[5] = rng.pick([0, 1, rng.int(256)]);
        }
        break;
      case 7: // address bytes: make the first one (non-)link-local
        if (p.length >= 24) p.set(rng.chance(0.5) ? [0xfe, 0x80] : [0x20, 0x01], 8);
        break;
      default: // duplicate a region
        if (p.length > 1) {
          const start = rng.int(p.length);
          p = Uint8Array.from([...p, ...p.subarray(start, start + rng.int(32))]);
        }
    }
  }
  return p;
}

export type FuzzOutcome = InvalidReason | "ok";

/** Every InvalidReason decodeAdvert may give. */
export const INVALID_REASONS: readonly InvalidReason[] = [
  "ttl",
  "version",
  "type",
  "length",
  "checksum",
  "address-count",
  "interval",
  "link-local",
  "family",
];

export interface FuzzStats {
  runs: number;
  elapsedMs: number;
  outcomes: Record<string, number>;
}

/** Throws (with the run number and seed) if a decode throws or returns a malformed result. */
export function checkResult(result: DecodeResult, payload: Uint8Array, ctx: DecodeContext): FuzzOutcome {
  if (result.type === "invalid") {
    if (!INVALID_REASONS.includes(result.reason)) throw new Error(`unknown reason ${String(result.reason)}`);
    if (typeof result.detail !== "string" || result.detail.length === 0) throw new Error("empty detail");
    return result.reason;
  }
  if (result.type !== "ok") throw new Error(`unknown result type ${JSON.stringify(result)}`);
  const a = result.advert;
  const size = ctx.family === "ipv4" ? 4 : 16;
  const inByte = (n: number) => Number.isInteger(n) && n >= 0 && n <= 255;
  if (ctx.ttl !== 255) throw new Error("accepted a packet with TTL != 255");
  if (!inByte(a.vrid) || !inByte(a.priority)) throw new Error("field out of range");
  if (a.addresses.length < 1 || a.addresses.some((x) => parseIp(x)?.length !== size)) {
    throw new Error(`bad addresses ${JSON.stringify(a.addresses)}`);
  }
  if (a.version === 3 && !(a.maxAdverIntCs >= 1 && a.maxAdverIntCs <= 4095)) throw new Error("bad interval");
  if (a.version === 2 && (!(a.adverIntS >= 1) || a.authData.length !== 8 || ctx.family !== "ipv4")) {
    throw new Error("bad v2 advert");
  }
  const form = result.checksumForm;
  if (a.version === 2 ? form !== "v2" : form !== "pseudo-header" && form !== "message-only") {
    throw new Error(`bad checksum form ${form}`);
  }
  if (ctx.family === "ipv6" && form === "message-only")
    throw new Error("IPv6 accepted without pseudo-header");
  // The accepted bytes must be exactly what encodeAdvert makes of the decoded advert.
  const again = encodeAdvert(a, { ...ctx, checksumForm: form === "v2" ? "pseudo-header" : form });
  const expected = payload.slice();
  if (a.version === 3) expected[4] = (expected[4] as number) & 0x0f; // reserved bits are ignored
  const storedChecksum = ((expected[6] as number) << 8) | (expected[7] as number);
  const newChecksum = ((again[6] as number) << 8) | (again[7] as number);
  // 0x0000 and 0xffff are the same ones' complement number; a sender may store either.
  const sameChecksum = storedChecksum === newChecksum || (storedChecksum | newChecksum) === 0xffff;
  const reservedBitsCleared = a.version === 3 && expected[4] !== payload[4];
  if (!reservedBitsCleared && !sameChecksum) throw new Error("re-encoded checksum differs");
  expected[6] = again[6] as number;
  expected[7] = again[7] as number;
  if (again.length !== expected.length || again.some((v, i) => v !== expected[i])) {
    throw new Error("accepted bytes do not re-encode identically");
  }
  return "ok";
}

/** Runs `count` cases from `seed`; returns counts per outcome. Throws on the first bad case. */
export function runFuzz(count: number, seed: number, onProgress?: (done: number) => void): FuzzStats {
  const rng = new Rng(seed);
  const fixtures = fixtureSeeds();
  if (fixtures.length === 0) throw new Error("no VRRP packets in the fixtures");
  const fresh = Array.from({ length: 512 }, () => randomAdvertSeed(rng));
  const outcomes: Record<string, number> = {};
  const start = performance.now();
  for (let run = 0; run < count; run++) {
    let payload: Uint8Array;
    let ctx: DecodeContext;
    const kind = rng.int(10);
    if (kind < 2) {
      payload = rng.bytes(rng.int(rng.chance(0.5) ? 24 : 120));
      ctx = randomContext(rng);
      if (rng.chance(0.5)) refreshChecksum(payload, ctx, rng);
    } else {
      const base = kind < 6 ? rng.pick(fixtures) : rng.pick(fresh);
      payload = rng.chance(0.1) ? base.payload.slice() : mutate(rng, base.payload);
      ctx = randomContext(rng, base.ctx);
      if (rng.chance(0.6)) refreshChecksum(payload, ctx, rng);
    }
    let outcome: FuzzOutcome;
    try {
      outcome = checkResult(decodeAdvert(payload, ctx), payload, ctx);
    } catch (error) {
      const hex = Buffer.from(payload).toString("hex");
      throw new Error(
        `fuzz seed ${seed} run ${run}: ${(error as Error).message}\n  payload ${hex}\n  ctx ${JSON.stringify(ctx)}`,
      );
    }
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    if (onProgress !== undefined && (run + 1) % 1_000_000 === 0) onProgress(run + 1);
  }
  return { runs: count, elapsedMs: performance.now() - start, outcomes };
}

function main(): void {
  const count = Number(process.argv[2] ?? 1_000_000);
  const seed = Number(process.argv[3] ?? Date.now() % 0x7fffffff);
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
    console.error("usage: npm run fuzz -- [count] [seed]");
    process.exit(2);
  }
  console.log(`fuzzing decodeAdvert: ${count} cases, seed ${seed}`);
  const started = performance.now();
  const stats = runFuzz(count, seed, (done) => {
    const rate = Math.round(done / ((performance.now() - started) / 1000));
    console.log(`  ${done} cases, ${rate}/s`);
  });
  const rate = Math.round(stats.runs / (stats.elapsedMs / 1000));
  console.log(`done: ${stats.runs} cases in ${(stats.elapsedMs / 1000).toFixed(1)} s (${rate}/s), no throw`);
  console.log(`outcomes: ${JSON.stringify(stats.outcomes)}`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
