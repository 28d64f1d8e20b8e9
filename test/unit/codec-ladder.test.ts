// The receive-validation ladder: for each rung, a packet that fails exactly that rung (and passes
// every earlier one) gets that reason; plus the order between rungs and encode's own errors.

import { describe, expect, it } from "vitest";
import {
  type Advert,
  adverIntervalMs,
  type ChecksumForm,
  type DecodeContext,
  type DecodeResult,
  decodeAdvert,
  encodeAdvert,
  internetChecksum,
  vrrpPseudoHeader,
  type WireContext,
} from "../../src/codec/index.js";

const V4: WireContext = { family: "ipv4", src: "192.0.2.11", dst: "224.0.0.18" };
const V6: WireContext = { family: "ipv6", src: "fe80::11", dst: "ff02::12" };

const v3v4: Advert = { version: 3, vrid: 51, priority: 200, maxAdverIntCs: 100, addresses: ["192.0.2.100"] };
const v3v6: Advert = {
  version: 3,
  vrid: 53,
  priority: 200,
  maxAdverIntCs: 100,
  addresses: ["fe80::1", "2001:db8::100"],
};
const v2: Advert = {
  version: 2,
  vrid: 52,
  priority: 100,
  adverIntS: 1,
  authType: 0,
  authData: new Uint8Array(8),
  addresses: ["192.0.2.100", "192.0.2.101"],
};

interface Case {
  name: string;
  advert: Advert;
  wire: WireContext;
  form: ChecksumForm;
}

const CASES: Case[] = [
  { name: "v3 IPv4 pseudo-header", advert: v3v4, wire: V4, form: "pseudo-header" },
  { name: "v3 IPv4 message-only", advert: v3v4, wire: V4, form: "message-only" },
  { name: "v3 IPv6", advert: v3v6, wire: V6, form: "pseudo-header" },
  { name: "v2 IPv4", advert: v2, wire: V4, form: "pseudo-header" },
];

function encode(c: Case): Uint8Array {
  return encodeAdvert(c.advert, { ...c.wire, checksumForm: c.form });
}

/** Rewrites the checksum after a mutation, in the case's own form, so later rungs are reached. */
function resum(c: Case, payload: Uint8Array): Uint8Array {
  const p = payload.slice();
  p[6] = 0;
  p[7] = 0;
  const usesPseudo = c.advert.version === 3 && (c.wire.family === "ipv6" || c.form === "pseudo-header");
  const pseudo = vrrpPseudoHeader(c.wire, p.length);
  if (pseudo === null) throw new Error("test context must be consistent");
  const sum = usesPseudo ? internetChecksum(pseudo, p) : internetChecksum(p);
  p[6] = sum >> 8;
  p[7] = sum & 0xff;
  return p;
}

function reasonOf(result: DecodeResult): string {
  return result.type === "ok" ? "ok" : result.reason;
}

function decode(c: Case, payload: Uint8Array, extra: Partial<DecodeContext> = {}): DecodeResult {
  return decodeAdvert(payload, { ...c.wire, ttl: 255, ...extra });
}

describe.each(CASES)("ladder: $name", (c) => {
  it("accepts the valid packet and reports its checksum form", () => {
    const result = decode(c, encode(c));
    expect(result).toEqual({
      type: "ok",
      advert: c.advert,
      checksumForm: c.advert.version === 2 ? "v2" : c.wire.family === "ipv6" ? "pseudo-header" : c.form,
    });
  });

  it("ttl: rejects a TTL / hop limit other than 255", () => {
    for (const ttl of [254, 64, 1, 0]) {
      const result = decode(c, encode(c), { ttl });
      expect(reasonOf(result)).toBe("ttl");
      expect(result.type === "invalid" && result.detail).toContain(String(ttl));
    }
  });

  it("version: rejects versions other than 2 and 3", () => {
    for (const version of [0, 1, 4, 15]) {
      const p = encode(c);
      p[0] = (version << 4) | 1;
      expect(reasonOf(decode(c, p))).toBe("version");
    }
  });

  it("type: rejects packet types other than 1 (advertisement)", () => {
    for (const type of [0, 2, 15]) {
      const p = encode(c);
      p[0] = ((p[0] as number) & 0xf0) | type;
      expect(reasonOf(decode(c, p))).toBe("type");
    }
  });

  it("length: rejects truncated, padded and count-inconsistent packets", () => {
    const p = encode(c);
    expect(reasonOf(decode(c, p.subarray(0, 7)))).toBe("length");
    expect(reasonOf(decode(c, p.subarray(0, p.length - 1)))).toBe("length");
    expect(reasonOf(decode(c, Uint8Array.from([...p, 0, 0, 0, 0])))).toBe("length");
    const moreAddresses = p.slice();
    moreAddresses[3] = (moreAddresses[3] as number) + 1;
    expect(reasonOf(decode(c, resum(c, moreAddresses)))).toBe("length");
    expect(reasonOf(decode(c, new Uint8Array(0)))).toBe("length");
  });

  it("checksum: rejects a corrupted checksum or body", () => {
    const p = encode(c);
    p[7] = (p[7] as number) ^ 0x01;
    expect(reasonOf(decode(c, p))).toBe("checksum");
    const q = encode(c);
    q[q.length - 1] = (q[q.length - 1] as number) ^ 0x80;
    const result = decode(c, q);
    expect(reasonOf(result)).toBe("checksum");
    expect(result.type === "invalid" && result.detail).toMatch(/^checksum 0x[0-9a-f]{4} /);
  });

  it("address-count: rejects a count of zero (erratum 8299)", () => {
    const header = encode(c).subarray(0, 8);
    const trailer = c.advert.version === 2 ? new Uint8Array(8) : new Uint8Array(0);
    const p = Uint8Array.from([...header, ...trailer]);
    p[3] = 0;
    expect(reasonOf(decode(c, resum(c, p)))).toBe("address-count");
  });

  it("interval: rejects a zero interval", () => {
    const p = encode(c);
    p[4] = c.advert.version === 2 ? (p[4] as number) : 0;
    p[5] = 0;
    expect(reasonOf(decode(c, resum(c, p)))).toBe("interval");
  });

  it("family: rejects a source or destination of the wrong family", () => {
    const otherFamily = c.wire.family === "ipv4" ? "2001:db8::1" : "192.0.2.1";
    for (const bad of [{ src: otherFamily }, { dst: otherFamily }, { src: "not-an-address" }]) {
      const result = decode(c, encode(c), bad);
      // The v3 pseudo-header cannot be built from such addresses: the family rung reports it,
      // and the message-only form reaches the family rung through a valid checksum.
      expect(reasonOf(result)).toBe("family");
    }
  });

  it("reports the earliest failing rung when several fail", () => {
    const p = encode(c);
    p[0] = 0x41; // bad version
    p[7] = (p[7] as number) ^ 1; // and bad checksum
    expect(reasonOf(decode(c, p, { ttl: 64 }))).toBe("ttl");
    expect(reasonOf(decode(c, p))).toBe("version");
    const q = encode(c);
    q[3] = 0; // count 0 makes the length wrong before address-count is reached
    expect(reasonOf(decode(c, q))).toBe("length");
    const r = encode(c);
    r[5] = 0; // zero interval with a stale checksum: checksum first
    expect(reasonOf(decode(c, r))).toBe("checksum");
  });
});

describe("ladder: version and family specifics", () => {
  it("rejects VRRPv2 over IPv6", () => {
    const p = encodeAdvert(v2, { ...V4, checksumForm: "pseudo-header" });
    const result = decodeAdvert(p, { ...V6, ttl: 255 });
    expect(reasonOf(result)).toBe("version");
    expect(result.type === "invalid" && result.detail).toContain("IPv6");
  });

  it("v3 IPv6 does not accept a message-only checksum", () => {
    const p = encodeAdvert(v3v6, { ...V6, checksumForm: "pseudo-header" });
    p[6] = 0;
    p[7] = 0;
    const sum = internetChecksum(p);
    p[6] = sum >> 8;
    p[7] = sum & 0xff;
    expect(reasonOf(decodeAdvert(p, { ...V6, ttl: 255 }))).toBe("checksum");
  });

  it("v3 IPv4 tries the pseudo-header first and accepts either form", () => {
    for (const form of ["pseudo-header", "message-only"] as const) {
      const p = encodeAdvert(v3v4, { ...V4, checksumForm: form });
      const result = decodeAdvert(p, { ...V4, ttl: 255 });
      expect(result.type === "ok" && result.checksumForm).toBe(form);
    }
  });

  it("the pseudo-header uses the real destination (unicast peers)", () => {
    const unicast = { ...V4, dst: "192.0.2.12" };
    const p = encodeAdvert(v3v4, { ...unicast, checksumForm: "pseudo-header" });
    expect(reasonOf(decodeAdvert(p, { ...unicast, ttl: 255 }))).toBe("ok");
    expect(reasonOf(decodeAdvert(p, { ...V4, ttl: 255 }))).toBe("checksum");
    const q = encodeAdvert(v3v6, { ...V6, dst: "fe80::12", checksumForm: "pseudo-header" });
    expect(reasonOf(decodeAdvert(q, { ...V6, dst: "fe80::12", ttl: 255 }))).toBe("ok");
    expect(reasonOf(decodeAdvert(q, { ...V6, ttl: 255 }))).toBe("checksum");
  });

  it("interval: v3 ignores the 4 reserved bits (erratum 8301) and masks to 12 bits", () => {
    const c = CASES[0] as Case;
    const p = encode(c);
    p[4] = 0xf0 | ((p[4] as number) & 0x0f); // reserved bits set, interval still 100 cs
    const result = decode(c, resum(c, p));
    expect(result.type === "ok" && result.advert).toEqual(v3v4);
    const zero = encode(c);
    zero[4] = 0xf0; // reserved bits set, interval 0: still invalid
    zero[5] = 0;
    expect(reasonOf(decode(c, resum(c, zero)))).toBe("interval");
    const max = { ...v3v4, maxAdverIntCs: 4095 };
    const m = decodeAdvert(encodeAdvert(max, { ...V4, checksumForm: "pseudo-header" }), { ...V4, ttl: 255 });
    expect(m.type === "ok" && m.advert).toEqual(max);
  });

  it("link-local: with requireLinkLocalFirst, a v3 IPv6 advert must start with a link-local address", () => {
    const c: Case = {
      name: "global first",
      advert: { ...v3v6, addresses: ["2001:db8::100", "fe80::1"] },
      wire: V6,
      form: "pseudo-header",
    };
    const p = encode(c);
    const strict = decode(c, p, { requireLinkLocalFirst: true });
    expect(reasonOf(strict)).toBe("link-local");
    expect(strict.type === "invalid" && strict.detail).toContain("2001:db8::100");
    // keepalived sends global-first adverts: by default they are accepted.
    expect(reasonOf(decode(c, p))).toBe("ok");
    // A link-local first address passes in strict mode; the rule does not apply to IPv4.
    expect(
      reasonOf(decode(CASES[2] as Case, encode(CASES[2] as Case), { requireLinkLocalFirst: true })),
    ).toBe("ok");
    expect(
      reasonOf(decode(CASES[0] as Case, encode(CASES[0] as Case), { requireLinkLocalFirst: true })),
    ).toBe("ok");
    // The link-local rung comes after the interval rung.
    const zeroInterval = p.slice();
    zeroInterval[5] = 0;
    expect(reasonOf(decode(c, resum(c, zeroInterval), { requireLinkLocalFirst: true }))).toBe("interval");
  });

  it("carries v2 simple-text authentication through", () => {
    const withAuth: Advert = { ...v2, authType: 1, authData: new TextEncoder().encode("secret\0\0") };
    const p = encodeAdvert(withAuth, { ...V4, checksumForm: "pseudo-header" });
    expect(p.length).toBe(8 + 2 * 4 + 8);
    expect(new TextDecoder().decode(p.subarray(16))).toBe("secret\0\0");
    const result = decodeAdvert(p, { ...V4, ttl: 255 });
    expect(result.type === "ok" && result.advert).toEqual(withAuth);
    // Short auth data is zero-padded on the wire.
    const short = encodeAdvert(
      { ...v2, authType: 1, authData: Uint8Array.of(0x61) },
      { ...V4, checksumForm: "pseudo-header" },
    );
    expect(Array.from(short.subarray(16))).toEqual([0x61, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("decodes from a Node Buffer and copies the auth data out of it", () => {
    const withAuth: Advert = { ...v2, authType: 1, authData: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) };
    const buffer = Buffer.from(encodeAdvert(withAuth, { ...V4, checksumForm: "pseudo-header" }));
    const result = decodeAdvert(buffer, { ...V4, ttl: 255 });
    buffer.fill(0);
    expect(result.type === "ok" && result.advert).toEqual(withAuth);
  });

  it("adverIntervalMs converts centiseconds and seconds", () => {
    expect(adverIntervalMs(v3v4)).toBe(1000);
    expect(adverIntervalMs({ ...v3v4, maxAdverIntCs: 1 })).toBe(10);
    expect(adverIntervalMs({ ...v3v4, maxAdverIntCs: 4095 })).toBe(40950);
    expect(adverIntervalMs({ ...v2, adverIntS: 3 })).toBe(3000);
  });
});

describe("encodeAdvert programmer errors", () => {
  const ctx = { ...V4, checksumForm: "pseudo-header" as const };
  it.each([
    ["vrid above 255", { ...v3v4, vrid: 256 }, /vrid 256/],
    ["negative priority", { ...v3v4, priority: -1 }, /priority -1/],
    ["fractional priority", { ...v3v4, priority: 1.5 }, /priority 1.5/],
    ["interval beyond 12 bits", { ...v3v4, maxAdverIntCs: 4096 }, /maxAdverIntCs 4096/],
    ["v2 interval beyond a byte", { ...v2, adverIntS: 256 }, /adverIntS 256/],
    ["auth data over 8 bytes", { ...v2, authData: new Uint8Array(9) }, /authData is 9 bytes/],
    ["an IPv6 address in an IPv4 advert", { ...v3v4, addresses: ["2001:db8::1"] }, /not an ipv4 address/],
    ["a non-address", { ...v3v4, addresses: ["192.0.2.300"] }, /not an ipv4 address/],
    ["256 addresses", { ...v3v4, addresses: new Array(256).fill("192.0.2.1") }, /address count 256/],
  ] as [string, Advert, RegExp][])("throws on %s", (_name, advert, message) => {
    expect(() => encodeAdvert(advert, ctx)).toThrow(message);
  });

  it("throws on VRRPv2 over IPv6 and on a pseudo-header that cannot be built", () => {
    expect(() => encodeAdvert(v2, { ...V6, checksumForm: "pseudo-header" })).toThrow(/IPv4 only/);
    expect(() => encodeAdvert(v3v4, { ...ctx, dst: "ff02::12" })).toThrow(/not ipv4 addresses/);
  });
});
