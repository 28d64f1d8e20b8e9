// Golden tests: every VRRP packet, gratuitous ARP and neighbour advertisement captured from
// keepalived and FRR (../shared/fixtures/*.pcap) against the tshark decoding stored beside it.
// Expected values come from parsing the .txt files, never from constants in this test.

import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  buildGratuitousArp,
  buildUnsolicitedNa,
  type ChecksumForm,
  decodeAdvert,
  encodeAdvert,
  formatIp,
  isIpv6LinkLocal,
  parseMac,
  VRRP_PROTOCOL,
} from "../../src/codec/index.js";
import { ipLayer, linkLayer, readPcap } from "./pcap.js";

const FIXTURES = new URL("../../../shared/fixtures/", import.meta.url);

interface ListEntry {
  frameNumber: number;
  src: string;
  dst: string;
  protocol: string;
  length: number;
  info: string;
}

interface DetailFrame {
  frameNumber: number;
  /** Field lines of the tshark tree, trimmed, without the bit-pattern prefix. */
  fields: string[];
  hexBytes: Uint8Array;
}

interface TsharkText {
  list: Map<number, ListEntry>;
  details: DetailFrame[];
  /** tshark's names for MACs ("IETF-VRRP-VRID_34" -> 00:00:5e:00:01:34). */
  macNames: Map<string, string>;
}

function parseTsharkText(text: string): TsharkText {
  const lines = text.split("\n");
  const list = new Map<number, ListEntry>();
  const listLine = /^\s+(\d+)\s+[\d.]+\s+(\S+)\s+→\s+(\S+)\s+(\S+)\s+(\d+)\s+(.*)$/;
  const details: DetailFrame[] = [];
  let current: { frameNumber: number; fields: string[]; hex: number[] } | null = null;
  const flush = () => {
    if (current !== null) {
      details.push({
        frameNumber: current.frameNumber,
        fields: current.fields,
        hexBytes: Uint8Array.from(current.hex),
      });
    }
    current = null;
  };
  const macNames = new Map<string, string>();
  for (const line of lines) {
    for (const m of line.matchAll(/([\w.-]+) \(([0-9a-f]{2}(?::[0-9a-f]{2}){5})\)/g)) {
      macNames.set(m[1] as string, m[2] as string);
    }
    const frameStart = /^Frame (\d+): /.exec(line);
    if (frameStart) {
      flush();
      current = { frameNumber: Number(frameStart[1]), fields: [], hex: [] };
      continue;
    }
    if (line.startsWith("====")) {
      flush();
      continue;
    }
    if (current === null) {
      const m = listLine.exec(line);
      if (m) {
        list.set(Number(m[1]), {
          frameNumber: Number(m[1]),
          src: m[2] as string,
          dst: m[3] as string,
          protocol: m[4] as string,
          length: Number(m[5]),
          info: m[6] as string,
        });
      }
      continue;
    }
    const hex = /^[0-9a-f]{4} {2}((?:[0-9a-f]{2} )*[0-9a-f]{2})/.exec(line);
    if (hex) {
      current.hex.push(...(hex[1] as string).split(" ").map((h) => Number.parseInt(h, 16)));
      continue;
    }
    // Drop the "0011 .... = " bit-pattern prefix tshark puts before packed fields.
    current.fields.push(line.trim().replace(/^[.01 ]+= /, ""));
  }
  flush();
  return { list, details, macNames };
}

/** The value of the first field "Name: value" in a section starting at `after` (a line prefix). */
function fieldIn(fields: string[], name: string, after?: string): string | undefined {
  const start = after === undefined ? 0 : fields.findIndex((f) => f.startsWith(after));
  if (start === -1) return undefined;
  const prefix = `${name}: `;
  return fields
    .slice(start)
    .find((f) => f.startsWith(prefix))
    ?.slice(prefix.length);
}

const VRRP_SECTION = "Virtual Router Redundancy Protocol";

const fixtureNames = readdirSync(FIXTURES)
  .filter((name) => name.endsWith(".pcap"))
  .sort();

describe("golden captures", () => {
  it("has fixtures to test", () => {
    expect(fixtureNames.length).toBeGreaterThanOrEqual(5);
  });

  for (const pcapName of fixtureNames) {
    describe(pcapName, () => {
      const pcap = readPcap(new Uint8Array(readFileSync(new URL(pcapName, FIXTURES))));
      const tshark = parseTsharkText(
        readFileSync(new URL(pcapName.replace(/\.pcap$/, ".txt"), FIXTURES), "utf8"),
      );
      const frames = pcap.records.map((record) => {
        const link = linkLayer(pcap.linkType, record.data);
        return { record, link, ip: ipLayer(link.ethertype, link.payload) };
      });
      const vrrpFrames = frames.filter((f) => f.ip?.protocol === VRRP_PROTOCOL);

      // The form tshark verified with: its default (vrrp.v3_checksum_as_in_v2 off) is the pseudo-header
      // for v3 and the message for v2, so "[correct]" on a detailed frame names the sender's form.
      const expectedForm = (version: number, family: string): ChecksumForm | "v2" => {
        if (version === 2) return "v2";
        const detailed = tshark.details.filter((d) => d.fields.includes(VRRP_SECTION));
        const verdicts = detailed.map((d) => fieldIn(d.fields, "Checksum", VRRP_SECTION) ?? "");
        expect(verdicts.length).toBeGreaterThan(0);
        if (verdicts.every((v) => v.endsWith("[correct]"))) return "pseudo-header";
        expect(family).toBe("ipv4"); // only v3 IPv4 has a message-only form
        return "message-only";
      };

      it("matches the tshark packet list frame by frame", () => {
        expect(pcap.records.length).toBe(tshark.list.size);
        for (const { record } of frames) {
          expect(tshark.list.get(record.frameNumber)?.length).toBe(record.originalLength);
        }
        expect(vrrpFrames.length).toBeGreaterThan(0);
      });

      it("holds the same bytes as the hex dumps of the detailed frames", () => {
        expect(tshark.details.length).toBeGreaterThan(0);
        for (const detail of tshark.details) {
          expect(pcap.records[detail.frameNumber - 1]?.data).toEqual(detail.hexBytes);
        }
      });

      it("decodes every VRRP packet, reports the checksum form, and re-encodes identical bytes", () => {
        for (const { record, ip } of vrrpFrames) {
          if (ip === null) throw new Error("unreachable");
          const entry = tshark.list.get(record.frameNumber);
          const ctx = { family: ip.family, src: formatIp(ip.src), dst: formatIp(ip.dst) };
          expect(entry?.protocol).toBe("VRRP");
          expect([entry?.src, entry?.dst]).toEqual([ctx.src, ctx.dst]);
          const result = decodeAdvert(ip.payload, { ...ctx, ttl: ip.ttl });
          if (result.type !== "ok")
            throw new Error(`frame ${record.frameNumber}: ${result.reason}: ${result.detail}`);
          expect(entry?.info).toContain(`(v${result.advert.version})`);
          expect(result.checksumForm).toBe(expectedForm(result.advert.version, ip.family));
          const checksumForm = result.checksumForm === "v2" ? "pseudo-header" : result.checksumForm;
          expect(encodeAdvert(result.advert, { ...ctx, checksumForm })).toEqual(ip.payload);
        }
      });

      it("binds the v3 checksum to the real IP addresses (another destination fails)", () => {
        for (const { ip } of vrrpFrames) {
          if (ip === null || (ip.payload[0] as number) >> 4 !== 3) continue;
          const otherDst = ip.family === "ipv4" ? "192.0.2.250" : "fe80::250";
          const result = decodeAdvert(ip.payload, {
            family: ip.family,
            src: formatIp(ip.src),
            dst: otherDst,
            ttl: 255,
          });
          expect(result.type === "invalid" && result.reason).toBe("checksum");
        }
      });

      it("rejects keepalived's global-first IPv6 adverts only when link-local-first is required", () => {
        for (const { ip } of vrrpFrames) {
          if (ip === null || ip.family !== "ipv6") continue;
          const ctx = { family: ip.family, src: formatIp(ip.src), dst: formatIp(ip.dst), ttl: ip.ttl };
          const firstIsLinkLocal = isIpv6LinkLocal(formatIp(ip.payload.slice(8, 24)));
          const strict = decodeAdvert(ip.payload, { ...ctx, requireLinkLocalFirst: true });
          expect(strict.type === "invalid" ? strict.reason : "ok").toBe(
            firstIsLinkLocal ? "ok" : "link-local",
          );
        }
      });

      it("decodes the detailed VRRP frames to the fields tshark shows", () => {
        const detailed = tshark.details.filter((d) => d.fields.includes(VRRP_SECTION));
        expect(detailed.length).toBeGreaterThan(0);
        for (const detail of detailed) {
          const frame = frames[detail.frameNumber - 1];
          if (frame?.ip == null) throw new Error(`frame ${detail.frameNumber} is not IP`);
          const { ip } = frame;
          const result = decodeAdvert(ip.payload, {
            family: ip.family,
            src: formatIp(ip.src),
            dst: formatIp(ip.dst),
            ttl: ip.ttl,
          });
          if (result.type !== "ok") throw new Error(`${result.reason}: ${result.detail}`);
          const a = result.advert;
          const f = (name: string) => fieldIn(detail.fields, name, VRRP_SECTION);
          expect(Number(f("VRRP protocol version"))).toBe(a.version);
          expect(f("VRRP packet type")).toBe("Advertisement (1)");
          expect(Number(f("Virtual Rtr ID"))).toBe(a.vrid);
          expect(Number(f("Priority")?.split(" ")[0])).toBe(a.priority);
          expect(Number(f("Addr Count"))).toBe(a.addresses.length);
          expect(Number(f("Adver Int"))).toBe(a.version === 3 ? a.maxAdverIntCs : a.adverIntS);
          const checksum = (ip.payload[6] as number) * 256 + (ip.payload[7] as number);
          expect(f("Checksum")).toBe(`0x${checksum.toString(16).padStart(4, "0")} [correct]`);
          const addressField = ip.family === "ipv4" ? "IP Address: " : "IPv6 Address: ";
          const shown = detail.fields
            .filter((x) => x.startsWith(addressField))
            .map((x) => x.slice(addressField.length));
          expect(shown).toEqual(a.addresses);
          if (a.version === 2) {
            expect(f("Auth Type")).toMatch(new RegExp(`\\(${a.authType}\\)$`));
            expect(a.authData).toEqual(new Uint8Array(8));
          }
        }
      });

      it("builds byte-identical gratuitous ARPs and neighbour advertisements", () => {
        const macOf = (column: string) => parseMac(tshark.macNames.get(column) ?? column);
        let built = 0;
        for (const { record, link, ip } of frames) {
          const entry = tshark.list.get(record.frameNumber);
          if (entry === undefined) throw new Error(`frame ${record.frameNumber} missing from the list`);
          const srcMac = link.srcMac ?? macOf(entry.src);
          if (srcMac === null) throw new Error(`no source MAC for frame ${record.frameNumber}`);
          const garp = /^Gratuitous ARP for (\S+) \(Request\)/.exec(entry.info);
          if (garp) {
            expect(link.ethertype).toBe(0x0806);
            expect(srcMac).toEqual(macOf(entry.src));
            expect(buildGratuitousArp({ srcMac, ip: garp[1] as string })).toEqual(record.data);
            built++;
          }
          const na = /^Neighbor Advertisement (\S+) \(([a-z, ]+)\) is at (\S+)/.exec(entry.info);
          if (na) {
            expect(ip?.protocol).toBe(58);
            const flags = (na[2] as string).split(", ");
            expect(flags).toContain("ovr");
            expect(flags).not.toContain("sol");
            expect(parseMac(na[3] as string)).toEqual(srcMac);
            const frame = buildUnsolicitedNa({
              srcMac,
              srcIp: entry.src,
              target: na[1] as string,
              router: flags.includes("rtr"),
            });
            expect(frame).toEqual(record.data);
            built++;
          }
        }
        const announcements = frames.filter(
          (f) => f.link.ethertype === 0x0806 || (f.ip?.protocol === 58 && f.ip.payload[0] === 136),
        );
        expect(built).toBe(announcements.length);
        expect(built).toBeGreaterThan(0);
      });
    });
  }
});
