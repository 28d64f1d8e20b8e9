// Ethernet MAC addresses and the VRRP virtual router MACs (RFC 9568 §7.3).

import type { Family } from "../core/types.js";

const MAC_TEXT = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

/** Six bytes from "aa:bb:cc:dd:ee:ff" (or with '-' separators), or null. */
export function parseMac(text: string): Uint8Array | null {
  if (typeof text !== "string" || !MAC_TEXT.test(text)) return null;
  return Uint8Array.from(text.split(/[:-]/), (part) => Number.parseInt(part, 16));
}

/** Lower-case colon-separated text. Anything but six bytes is a programmer error. */
export function formatMac(bytes: Uint8Array): string {
  if (bytes.length !== 6) throw new Error(`formatMac: expected 6 bytes, got ${bytes.length}`);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6. */
export function virtualMac(family: Family, vrid: number): Uint8Array {
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255) throw new Error(`virtualMac: bad VRID ${vrid}`);
  return Uint8Array.of(0x00, 0x00, 0x5e, 0x00, family === "ipv4" ? 0x01 : 0x02, vrid);
}
