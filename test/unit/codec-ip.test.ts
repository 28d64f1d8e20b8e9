// Addresses, MACs, the Internet checksum and the announcement frames.

import { isIP } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  buildGratuitousArp,
  buildUnsolicitedNa,
  canonicalIp,
  compareIp,
  formatIp,
  formatMac,
  internetChecksum,
  isIpv6LinkLocal,
  parseCidr,
  parseIp,
  parseMac,
  verifyInternetChecksum,
  virtualMac,
} from "../../src/codec/index.js";

describe("parseIp / formatIp", () => {
  it.each([
    ["192.0.2.1", "192.0.2.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:DB8::1", "2001:db8::1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    // RFC 5952 §4.2.2: a single zero group is not compressed.
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    // §4.2.3: the longest run is compressed; on a tie, the first one.
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["fe80::ff:fe00:11", "fe80::ff:fe00:11"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
    // §5: IPv4-mapped addresses keep the dotted tail; other embedded IPv4 is plain hex.
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["::FFFF:c000:0201", "::ffff:192.0.2.1"],
    ["64:ff9b::192.0.2.1", "64:ff9b::c000:201"],
  ])("%s -> %s", (input, canonical) => {
    expect(canonicalIp(input)).toBe(canonical);
  });

  it.each([
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.1",
    "01.2.3.4",
    "1.2.3.-4",
    " 1.2.3.4",
    "1.2.3.4 ",
    "0x1.2.3.4",
    ":",
    ":::",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7::8",
    "12345::",
    "g::",
    ":1::",
    "1::2:",
    "fe80::1%eth0",
    "::1.2.3",
    "1.2.3.4::",
    "192.0.2.1/24",
  ])("rejects %j", (input) => {
    expect(parseIp(input)).toBeNull();
  });

  it("agrees with node:net on which fast-check addresses are valid, and round-trips them", () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const bytes = parseIp(text);
        expect(bytes?.length).toBe(({ 4: 4, 6: 16 } as Record<number, number>)[isIP(text)]);
        if (bytes === null) return;
        expect(parseIp(formatIp(bytes))).toEqual(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it("formats IPv6 as the WHATWG URL serializer does (RFC 5952 compression) and round-trips bytes", () => {
    const groupsArb = fc.array(
      fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
      {
        minLength: 8,
        maxLength: 8,
      },
    );
    fc.assert(
      fc.property(groupsArb, (groups) => {
        const bytes = new Uint8Array(16);
        groups.forEach((g, i) => {
          bytes[2 * i] = g >> 8;
          bytes[2 * i + 1] = g & 0xff;
        });
        const text = formatIp(bytes);
        expect(parseIp(text)).toEqual(bytes);
        const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
        if (!mapped) expect(text).toBe(new URL(`http://[${text}]/`).hostname.slice(1, -1));
      }),
      { numRuns: 1000 },
    );
  });

  it("throws on byte arrays that are not addresses", () => {
    expect(() => formatIp(new Uint8Array(5))).toThrow(/4 or 16 bytes/);
  });
});

describe("compareIp", () => {
  it("compares as unsigned network-order integers, not as text", () => {
    expect(compareIp("192.0.2.10", "192.0.2.9")).toBeGreaterThan(0);
    expect(compareIp("10.0.0.1", "9.255.255.255")).toBeGreaterThan(0);
    expect(compareIp("255.0.0.0", "127.0.0.1")).toBeGreaterThan(0);
    expect(compareIp("fe80::10", "fe80::9")).toBeGreaterThan(0);
    expect(compareIp("ffff::", "7fff::")).toBeGreaterThan(0);
    expect(compareIp("2001:db8::1", "2001:0db8:0::1")).toBe(0);
    expect(compareIp("192.0.2.1", "2001:db8::1")).toBeLessThan(0);
  });

  it("matches BigInt order for random addresses", () => {
    const toBig = (b: Uint8Array) => b.reduce((acc, x) => (acc << 8n) | BigInt(x), 0n);
    fc.assert(
      fc.property(
        fc
          .constantFrom(4, 16)
          .chain((n) =>
            fc.tuple(
              fc.uint8Array({ minLength: n, maxLength: n }),
              fc.uint8Array({ minLength: n, maxLength: n }),
            ),
          ),
        ([a, b]) => {
          const expected = Math.sign(Number(toBig(a) - toBig(b)));
          expect(Math.sign(compareIp(formatIp(a), formatIp(b)))).toBe(expected);
          expect(Math.sign(compareIp(formatIp(b), formatIp(a)))).toBe(-expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("throws on a non-address (a programmer error)", () => {
    expect(() => compareIp("192.0.2.1", "nope")).toThrow(/not an address: nope/);
  });
});

describe("parseCidr / isIpv6LinkLocal", () => {
  it("parses address/prefix with the prefix range of the family", () => {
    expect(parseCidr("192.0.2.100/24")).toEqual({ address: "192.0.2.100", prefixLength: 24, family: "ipv4" });
    expect(parseCidr("2001:DB8::100/64")).toEqual({
      address: "2001:db8::100",
      prefixLength: 64,
      family: "ipv6",
    });
    expect(parseCidr("0.0.0.0/0")?.prefixLength).toBe(0);
    expect(parseCidr("::/128")?.prefixLength).toBe(128);
  });

  it.each([
    "192.0.2.1",
    "192.0.2.1/33",
    "2001:db8::1/129",
    "192.0.2.1/",
    "192.0.2.1/024",
    "192.0.2.1/-1",
    "/24",
    "x/24",
    "192.0.2.1/24/1",
  ])("rejects %j", (input) => {
    expect(parseCidr(input)).toBeNull();
  });

  it("knows fe80::/10", () => {
    expect(isIpv6LinkLocal("fe80::1")).toBe(true);
    expect(isIpv6LinkLocal("febf:ffff::1")).toBe(true);
    expect(isIpv6LinkLocal("fec0::1")).toBe(false);
    expect(isIpv6LinkLocal("fd00:db8::100")).toBe(false);
    expect(isIpv6LinkLocal("169.254.0.1")).toBe(false);
    expect(isIpv6LinkLocal("junk")).toBe(false);
  });
});

describe("MAC addresses", () => {
  it("parses and formats", () => {
    expect(parseMac("02:00:00:00:00:11")).toEqual(Uint8Array.of(2, 0, 0, 0, 0, 0x11));
    expect(parseMac("AA-bb-CC-dd-EE-ff")).toEqual(Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff));
    expect(formatMac(Uint8Array.of(0, 0, 0x5e, 0, 1, 0x33))).toBe("00:00:5e:00:01:33");
    for (const bad of [
      "",
      "02:00:00:00:00",
      "02:00:00:00:00:11:22",
      "02:00:00-00:00:11",
      "2:0:0:0:0:11",
      "zz:00:00:00:00:11",
    ]) {
      expect(parseMac(bad), bad).toBeNull();
    }
    expect(() => formatMac(new Uint8Array(5))).toThrow(/6 bytes/);
  });

  it("builds the virtual router MACs", () => {
    expect(formatMac(virtualMac("ipv4", 51))).toBe("00:00:5e:00:01:33");
    expect(formatMac(virtualMac("ipv6", 255))).toBe("00:00:5e:00:02:ff");
    expect(() => virtualMac("ipv4", 0)).toThrow(/VRID/);
    expect(() => virtualMac("ipv4", 256)).toThrow(/VRID/);
  });
});

describe("Internet checksum", () => {
  it("matches the RFC 1071 worked example", () => {
    // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (ones' complement), checksum 220d.
    expect(internetChecksum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7))).toBe(0x220d);
  });

  it("verifies data with its checksum inserted, and detects any single-bit error", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 2, maxLength: 64 }).filter((a) => a.length % 2 === 0),
        fc.nat(),
        (data, flip) => {
          const d = data.slice();
          d[0] = 0;
          d[1] = 0;
          const sum = internetChecksum(d);
          d[0] = sum >> 8;
          d[1] = sum & 0xff;
          expect(verifyInternetChecksum(d)).toBe(true);
          const bit = flip % (d.length * 8);
          d[bit >> 3] = (d[bit >> 3] as number) ^ (1 << (bit & 7));
          expect(verifyInternetChecksum(d)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("pads an odd trailing byte with zero and treats chunks as one message", () => {
    expect(internetChecksum(Uint8Array.of(0x12, 0x34, 0x56))).toBe(
      internetChecksum(Uint8Array.of(0x12, 0x34, 0x56, 0)),
    );
    expect(internetChecksum(Uint8Array.of(1, 2), Uint8Array.of(3, 4))).toBe(
      internetChecksum(Uint8Array.of(1, 2, 3, 4)),
    );
  });
});

function u16(b: Uint8Array, offset: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint16(offset);
}

describe("announcement frames", () => {
  const mac = Uint8Array.of(0x02, 0, 0, 0, 0, 0x11);

  it("gratuitous ARP: broadcast request, sender and target IP both the VIP", () => {
    const f = buildGratuitousArp({ srcMac: virtualMac("ipv4", 52), ip: "192.0.2.100" });
    expect(f.length).toBe(42);
    expect(formatMac(f.subarray(0, 6))).toBe("ff:ff:ff:ff:ff:ff");
    expect(formatMac(f.subarray(6, 12))).toBe("00:00:5e:00:01:34");
    expect(Array.from(f.subarray(12, 22))).toEqual([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    expect(formatMac(f.subarray(22, 28))).toBe("00:00:5e:00:01:34");
    expect(formatIp(f.subarray(28, 32))).toBe("192.0.2.100");
    expect(formatMac(f.subarray(32, 38))).toBe("ff:ff:ff:ff:ff:ff");
    expect(formatIp(f.subarray(38, 42))).toBe("192.0.2.100");
  });

  it("unsolicited NA: all-nodes, hop limit 255, Override, Router as asked, valid ICMPv6 checksum", () => {
    for (const router of [false, true]) {
      const f = buildUnsolicitedNa({
        srcMac: mac,
        srcIp: "fe80::ff:fe00:11",
        target: "2001:db8::100",
        router,
      });
      expect(f.length).toBe(14 + 40 + 32);
      expect(formatMac(f.subarray(0, 6))).toBe("33:33:00:00:00:01");
      expect(u16(f, 12)).toBe(0x86dd);
      const ip = f.subarray(14, 54);
      expect([ip[0], u16(ip, 4), ip[6], ip[7]]).toEqual([0x60, 32, 58, 255]);
      expect(formatIp(ip.subarray(8, 24))).toBe("fe80::ff:fe00:11");
      expect(formatIp(ip.subarray(24, 40))).toBe("ff02::1");
      const icmp = f.subarray(54);
      expect([icmp[0], icmp[1]]).toEqual([136, 0]);
      expect(icmp[4]).toBe(router ? 0xa0 : 0x20);
      expect(formatIp(icmp.subarray(8, 24))).toBe("2001:db8::100");
      expect([icmp[24], icmp[25]]).toEqual([2, 1]);
      expect(icmp.subarray(26, 32)).toEqual(mac);
      const pseudo = new Uint8Array(40);
      pseudo.set(ip.subarray(8, 40));
      pseudo[35] = 32;
      pseudo[39] = 58;
      expect(verifyInternetChecksum(pseudo, icmp)).toBe(true);
    }
  });

  it("rejects bad inputs (programmer errors)", () => {
    expect(() => buildGratuitousArp({ srcMac: new Uint8Array(5), ip: "192.0.2.1" })).toThrow(/6 bytes/);
    expect(() => buildGratuitousArp({ srcMac: mac, ip: "2001:db8::1" })).toThrow(/not an IPv4 address/);
    expect(() =>
      buildUnsolicitedNa({ srcMac: mac, srcIp: "192.0.2.1", target: "2001:db8::1", router: false }),
    ).toThrow(/srcIp .* not an IPv6 address/);
    expect(() => buildUnsolicitedNa({ srcMac: mac, srcIp: "fe80::1", target: "x", router: false })).toThrow(
      /target .* not an IPv6 address/,
    );
  });
});
