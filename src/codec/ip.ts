// IPv4 and IPv6 addresses as text and as network-order bytes, without node:net.
// Text out is canonical: dotted quad for IPv4, RFC 5952 for IPv6.

import type { Family } from "../core/types.js";

export function familyOfLength(length: number): Family | null {
  if (length === 4) return "ipv4";
  if (length === 16) return "ipv6";
  return null;
}

export function addressLength(family: Family): 4 | 16 {
  return family === "ipv4" ? 4 : 16;
}

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Strict dotted quad: four decimal octets, no leading zeros (they read as octal elsewhere). */
function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] as string;
    if (!DECIMAL_OCTET.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

/** Parses a run of colon-separated hex groups; an IPv4 tail is allowed when `allowV4Tail`. */
function parseGroups(text: string, allowV4Tail: boolean): number[] | null {
  if (text === "") return [];
  const parts = text.split(":");
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (allowV4Tail && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIpv4(part);
      if (v4 === null) return null;
      groups.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
    } else {
      if (!HEX_GROUP.test(part)) return null;
      groups.push(Number.parseInt(part, 16));
    }
  }
  return groups;
}

/** IPv6 text (with optional "::" and optional embedded IPv4 tail); zone ids are not addresses. */
function parseIpv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  const doubleColon = text.indexOf("::");
  let groups: number[];
  if (doubleColon === -1) {
    const all = parseGroups(text, true);
    if (all === null || all.length !== 8) return null;
    groups = all;
  } else {
    if (text.indexOf("::", doubleColon + 1) !== -1) return null;
    const head = parseGroups(text.slice(0, doubleColon), false);
    const tail = parseGroups(text.slice(doubleColon + 2), true);
    if (head === null || tail === null) return null;
    // "::" stands for at least one zero group.
    if (head.length + tail.length > 7) return null;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = groups[i] as number;
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  }
  return out;
}

/** 4 or 16 network-order bytes, or null when `text` is not an IPv4 or IPv6 address. */
export function parseIp(text: string): Uint8Array | null {
  if (typeof text !== "string") return null;
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

function formatIpv4(b: Uint8Array, offset: number): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[2 * i] as number) << 8) | (b[2 * i + 1] as number));
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted tail.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(b, 12)}`;
  }
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(":");
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** Canonical text for 4 or 16 bytes. Any other length is a programmer error. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return formatIpv4(bytes, 0);
  if (bytes.length === 16) return formatIpv6(bytes);
  throw new Error(`formatIp: expected 4 or 16 bytes, got ${bytes.length}`);
}

/** Canonical form of an address text, or null when it is not an address. */
export function canonicalIp(text: string): string | null {
  const bytes = parseIp(text);
  return bytes === null ? null : formatIp(bytes);
}

/**
 * Compares two addresses as unsigned network-order integers (<0, 0, >0), the VRRP tie-break
 * (RFC 9568 §6.4.3). IPv4 sorts before IPv6. An unparsable address is a programmer error.
 */
export function compareIp(a: string, b: string): number {
  const x = parseIp(a);
  const y = parseIp(b);
  if (x === null || y === null) throw new Error(`compareIp: not an address: ${x === null ? a : b}`);
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) {
    const d = (x[i] as number) - (y[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

/** "address/prefix" with a prefix length valid for the family; the address comes back canonical. */
export function parseCidr(text: string): { address: string; prefixLength: number; family: Family } | null {
  if (typeof text !== "string") return null;
  const slash = text.indexOf("/");
  if (slash === -1) return null;
  const bytes = parseIp(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (bytes === null || !/^(0|[1-9][0-9]{0,2})$/.test(lengthText)) return null;
  const family = familyOfLength(bytes.length) as Family;
  const prefixLength = Number(lengthText);
  if (prefixLength > bytes.length * 8) return null;
  return { address: formatIp(bytes), prefixLength, family };
}

/** True for an IPv6 address in fe80::/10. */
export function isIpv6LinkLocalBytes(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes[0] === 0xfe && ((bytes[1] as number) & 0xc0) === 0x80;
}

/** True for IPv6 text in fe80::/10; false for anything else, IPv4 and non-addresses included. */
export function isIpv6LinkLocal(text: string): boolean {
  const bytes = parseIp(text);
  return bytes !== null && isIpv6LinkLocalBytes(bytes);
}
