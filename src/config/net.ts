// Address helpers for config validation. (The pure codec has its own; config may use node:net.)
import { isIP } from "node:net";

import type { Family } from "../core/types.js";

/** Canonical text of an IP address (RFC 5952 for IPv6) and its family, or null when not an address. */
export function parseAddress(text: string): { address: string; family: Family } | null {
  if (text.includes("%") || text.includes("[")) return null; // no zone ids or brackets in config
  const kind = isIP(text);
  if (kind === 4) return { address: text, family: "ipv4" };
  if (kind === 6) {
    // The WHATWG URL parser serialises IPv6 hosts in the RFC 5952 canonical form.
    const host = new URL(`http://[${text}]/`).hostname;
    return { address: host.slice(1, -1), family: "ipv6" };
  }
  return null;
}

export interface Cidr {
  address: string;
  prefixLength: number;
  family: Family;
}

export type CidrResult = { type: "ok"; cidr: Cidr } | { type: "error"; message: string };

/** "192.0.2.100/24" or a bare address (host prefix: /32 or /128, as keepalived does). */
export function parseVipCidr(text: string): CidrResult {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const parsed = parseAddress(addrText.trim());
  if (!parsed) return { type: "error", message: `"${addrText}" is not an IPv4 or IPv6 address` };
  const max = parsed.family === "ipv4" ? 32 : 128;
  let prefixLength = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(p) || Number(p) < 1 || Number(p) > max) {
      return { type: "error", message: `prefix length "${p}" must be 1..${max}` };
    }
    prefixLength = Number(p);
  }
  if (parsed.family === "ipv6" && parsed.address.toLowerCase().startsWith("ff")) {
    return { type: "error", message: `${parsed.address} is a multicast address` };
  }
  if (parsed.family === "ipv4") {
    const first = Number(parsed.address.split(".")[0]);
    if (first >= 224)
      return { type: "error", message: `${parsed.address} is a multicast or reserved address` };
  }
  return { type: "ok", cidr: { address: parsed.address, prefixLength, family: parsed.family } };
}

export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefixLength}`;
}
