// Parsing of tcpdump and tshark output by the lab's watchers (no root needed).
import { describe, expect, it } from "vitest";
import { parseTsharkFields, vrrpProblems } from "./capture.js";
import { parseAnnouncement } from "./client-watch.js";

const ETH = "02:00:00:00:00:0c > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42:";

describe("parseAnnouncement", () => {
  it("reads a gratuitous ARP request with its time and source MAC", () => {
    const a = parseAnnouncement(
      `1795318663.542908 ${ETH} Request who-has 192.0.2.200 (ff:ff:ff:ff:ff:ff) tell 192.0.2.200, length 28`,
    );
    expect(a).toMatchObject({ type: "garp", ip: "192.0.2.200", srcMac: "02:00:00:00:00:0c" });
    expect(a?.atMs).toBeCloseTo(1795318663542.908, 2);
    expect(parseAnnouncement(`1.5 ${ETH} Request who-has 192.0.2.200 tell 192.0.2.200, length 28`)?.ip).toBe(
      "192.0.2.200",
    );
  });

  it("reads a broadcast ARP reply and an unsolicited NA", () => {
    expect(parseAnnouncement(`1.0 ${ETH} Reply 192.0.2.200 is-at 02:00:00:00:00:0c, length 28`)?.type).toBe(
      "garp",
    );
    const na = parseAnnouncement(
      "2.0 02:00:00:00:00:0c > 33:33:00:00:00:01, ethertype IPv6 (0x86dd), length 86: fe80::ff:fe00:c > ff02::1: ICMP6, neighbor advertisement, tgt is 2001:db8::200, length 32",
    );
    expect(na).toMatchObject({ type: "na", ip: "2001:db8::200", srcMac: "02:00:00:00:00:0c", atMs: 2000 });
  });

  it("ignores ordinary ARP requests, unicast replies, solicited NAs and other lines", () => {
    expect(
      parseAnnouncement(`1.0 ${ETH} Request who-has 192.0.2.12 tell 192.0.2.11, length 28`),
    ).toBeUndefined();
    expect(
      parseAnnouncement(
        "1.0 02:00:00:00:00:0c > 02:00:00:00:00:0b, ethertype ARP (0x0806), length 42: Reply 192.0.2.12 is-at 02:00:00:00:00:0c, length 28",
      ),
    ).toBeUndefined();
    expect(
      parseAnnouncement(
        "1.0 02:00:00:00:00:0c > 02:00:00:00:00:0b, ethertype IPv6 (0x86dd), length 86: 2001:db8::12 > 2001:db8::11: ICMP6, neighbor advertisement, tgt is 2001:db8::12, length 32",
      ),
    ).toBeUndefined();
    expect(parseAnnouncement("listening on eth0, link-type EN10MB (Ethernet)")).toBeUndefined();
    expect(parseAnnouncement("")).toBeUndefined();
  });
});

describe("parseTsharkFields and vrrpProblems", () => {
  const good = "1\t1795318663.500000\t192.0.2.11\t\t224.0.0.18\t\t255\t\t3\t51\t200\t1\t";
  it("reads IPv4 and IPv6 packets", () => {
    const six = "2\t1.25\t\tfe80::ff:fe00:b\t\tff02::12\t\t255\t3\t51\t200\t1\t";
    const [p4, p6] = parseTsharkFields(`${good}\n${six}\n`);
    expect(p4).toMatchObject({
      frame: 1,
      src: "192.0.2.11",
      dst: "224.0.0.18",
      ttl: 255,
      version: 3,
      vrid: 51,
    });
    expect(p4?.checksumStatus).toBe("good");
    expect(p6).toMatchObject({
      src: "fe80::ff:fe00:b",
      dst: "ff02::12",
      ttl: 255,
      atMs: 1250,
      priority: 200,
    });
    expect(vrrpProblems([p4!, p6!])).toEqual([]);
  });

  it("reports bad or unverified checksums, a wrong TTL, malformed and undecoded packets", () => {
    const rows = [
      "1\t1.0\t192.0.2.11\t\t224.0.0.18\t\t255\t\t3\t51\t200\t0\t",
      "2\t1.0\t192.0.2.11\t\t224.0.0.18\t\t255\t\t3\t51\t200\t2\t",
      "3\t1.0\t192.0.2.11\t\t224.0.0.18\t\t64\t\t3\t51\t200\t1\t",
      "4\t1.0\t192.0.2.11\t\t224.0.0.18\t\t255\t\t3\t51\t200\t1\t1",
      "5\t1.0\t192.0.2.11\t\t224.0.0.18\t\t255\t\t\t\t\t\t",
    ];
    expect(vrrpProblems(parseTsharkFields(rows.join("\n")))).toEqual([
      "frame 1 (192.0.2.11 > 224.0.0.18): checksum bad",
      "frame 2 (192.0.2.11 > 224.0.0.18): checksum unverified",
      "frame 3 (192.0.2.11 > 224.0.0.18): TTL/hop limit 64, not 255",
      "frame 4 (192.0.2.11 > 224.0.0.18): malformed",
      "frame 5 (192.0.2.11 > 224.0.0.18): not decoded as VRRP",
    ]);
  });
});
