// Property tests (fast-check): encode -> decode round trips for random valid adverts of every
// kind, and the checksum binding each encoded advert to its bytes and its IP addresses.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Advert,
  type ChecksumForm,
  decodeAdvert,
  encodeAdvert,
  formatIp,
  pseudoHeaderSum,
  type WireContext,
} from "../../src/codec/index.js";

const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map(formatIp);
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(formatIp);
const linkLocal = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((tail) => {
  const b = new Uint8Array(16);
  b.set([0xfe, 0x80]);
  b.set(tail, 8);
  return formatIp(b);
});
const byte = fc.integer({ min: 0, max: 255 });
const form = fc.constantFrom<ChecksumForm>("pseudo-header", "message-only");

interface Sample {
  advert: Advert;
  wire: WireContext;
  checksumForm: ChecksumForm;
}

const v3v4: fc.Arbitrary<Sample> = fc.record({
  advert: fc.record({
    version: fc.constant(3 as const),
    vrid: fc.integer({ min: 1, max: 255 }),
    priority: byte,
    maxAdverIntCs: fc.integer({ min: 1, max: 4095 }),
    addresses: fc.array(ipv4, { minLength: 1, maxLength: 20 }),
  }),
  wire: fc.record({ family: fc.constant("ipv4" as const), src: ipv4, dst: ipv4 }),
  checksumForm: form,
});

const v3v6: fc.Arbitrary<Sample> = fc.record({
  advert: fc.record({
    version: fc.constant(3 as const),
    vrid: fc.integer({ min: 1, max: 255 }),
    priority: byte,
    maxAdverIntCs: fc.integer({ min: 1, max: 4095 }),
    addresses: fc
      .tuple(linkLocal, fc.array(ipv6, { maxLength: 10 }))
      .map(([first, rest]) => [first, ...rest]),
  }),
  wire: fc.record({
    family: fc.constant("ipv6" as const),
    src: linkLocal,
    dst: fc.oneof(fc.constant("ff02::12"), ipv6),
  }),
  checksumForm: form,
});

const v2: fc.Arbitrary<Sample> = fc.record({
  advert: fc.record({
    version: fc.constant(2 as const),
    vrid: fc.integer({ min: 1, max: 255 }),
    priority: byte,
    adverIntS: fc.integer({ min: 1, max: 255 }),
    authType: fc.constantFrom(0, 1),
    authData: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    addresses: fc.array(ipv4, { minLength: 1, maxLength: 20 }),
  }),
  wire: fc.record({
    family: fc.constant("ipv4" as const),
    src: ipv4,
    dst: fc.oneof(fc.constant("224.0.0.18"), ipv4),
  }),
  checksumForm: form,
});

const anyAdvert = fc.oneof(v3v4, v3v6, v2);

/** The form decode must report: v2 and v3 IPv6 are fixed; v3 IPv4 reports what was sent, unless
 * the pseudo-header happens to add ones' complement zero (0xffff), when both forms verify and the
 * pseudo-header, tried first, wins. */
function expectedForm(s: Sample, length: number): ChecksumForm | "v2" {
  if (s.advert.version === 2) return "v2";
  if (s.wire.family === "ipv6") return "pseudo-header";
  return pseudoHeaderSum(s.wire, length) === 0xffff ? "pseudo-header" : s.checksumForm;
}

describe("advert properties", () => {
  it("decode(encode(advert)) returns the advert and the checksum form", () => {
    fc.assert(
      fc.property(anyAdvert, (s) => {
        const payload = encodeAdvert(s.advert, { ...s.wire, checksumForm: s.checksumForm });
        const result = decodeAdvert(payload, { ...s.wire, ttl: 255, requireLinkLocalFirst: true });
        expect(result).toEqual({
          type: "ok",
          advert: s.advert,
          checksumForm: expectedForm(s, payload.length),
        });
        // And encoding the decoded advert again gives the same bytes.
        if (result.type === "ok") {
          const again = encodeAdvert(result.advert, { ...s.wire, checksumForm: s.checksumForm });
          expect(again).toEqual(payload);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("any single-bit error is caught (never accepted in the form it was sent)", () => {
    fc.assert(
      fc.property(anyAdvert, fc.nat(), (s, flip) => {
        const payload = encodeAdvert(s.advert, { ...s.wire, checksumForm: s.checksumForm });
        const bit = flip % (payload.length * 8);
        payload[bit >> 3] = (payload[bit >> 3] as number) ^ (1 << (bit & 7));
        const result = decodeAdvert(payload, { ...s.wire, ttl: 255 });
        if (s.advert.version === 2 || s.wire.family === "ipv6") {
          expect(result.type).toBe("invalid");
        } else if (result.type === "ok") {
          // Only the other v3 IPv4 form can match by coincidence.
          expect(result.checksumForm).not.toBe(s.checksumForm);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("a pseudo-header checksum is bound to the IP source and destination", () => {
    const sample = fc.oneof(
      v3v6,
      v3v4.map((s) => ({ ...s, checksumForm: "pseudo-header" as const })),
    );
    fc.assert(
      fc.property(sample, fc.boolean(), (s, changeSrc) => {
        const payload = encodeAdvert(s.advert, { ...s.wire, checksumForm: s.checksumForm });
        const other = s.wire.family === "ipv4" ? "198.51.100.7" : "fe80::dead:beef";
        const moved = changeSrc ? { ...s.wire, src: other } : { ...s.wire, dst: other };
        // Addresses whose 16-bit words add up to the same ones' complement sum are indistinguishable.
        fc.pre(pseudoHeaderSum(moved, payload.length) !== pseudoHeaderSum(s.wire, payload.length));
        const result = decodeAdvert(payload, { ...moved, ttl: 255 });
        if (s.wire.family === "ipv6") {
          expect(result.type === "invalid" && result.reason).toBe("checksum");
        } else if (result.type === "ok") {
          // v3 IPv4 may still verify as message-only by coincidence, never as pseudo-header.
          expect(result.checksumForm).toBe("message-only");
        }
      }),
      { numRuns: 800 },
    );
  });
});
