// Whole Ethernet frames announcing a VIP, ready for an AF_PACKET send:
// a gratuitous ARP (RFC 5227 §3 announcement form, as keepalived and FRR send it) for IPv4 and an
// unsolicited neighbour advertisement (RFC 4861 §7.2.6) for IPv6.

import { internetChecksum } from "./checksum.js";
import { parseIp } from "./ip.js";

const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const BROADCAST_MAC = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
/** ff02::1 (all nodes) and its Ethernet mapping 33:33:00:00:00:01 (RFC 2464 §7). */
const ALL_NODES_IPV6 = "ff02::1";
const ALL_NODES_MAC = Uint8Array.of(0x33, 0x33, 0x00, 0x00, 0x00, 0x01);
const ICMPV6_NEXT_HEADER = 58;
const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
const NA_FLAG_ROUTER = 0x80;
const NA_FLAG_OVERRIDE = 0x20;
const ND_OPTION_TARGET_LINK_LAYER_ADDRESS = 2;

function requireMac(mac: Uint8Array): Uint8Array {
  if (!(mac instanceof Uint8Array) || mac.length !== 6) throw new Error("frames: srcMac must be 6 bytes");
  return mac;
}

function requireIp(text: string, size: 4 | 16, what: string): Uint8Array {
  const bytes = parseIp(text);
  if (bytes === null || bytes.length !== size) {
    throw new Error(`frames: ${what} ${JSON.stringify(text)} is not an IPv${size === 4 ? 4 : 6} address`);
  }
  return bytes;
}

function ethernetHeader(frame: Uint8Array, dst: Uint8Array, src: Uint8Array, ethertype: number): void {
  frame.set(dst, 0);
  frame.set(src, 6);
  frame[12] = ethertype >> 8;
  frame[13] = ethertype & 0xff;
}

/**
 * Broadcast ARP request whose sender and target protocol addresses are both the VIP, sender
 * hardware address srcMac and target hardware address ff:ff:ff:ff:ff:ff. 42 bytes; the NIC pads.
 */
export function buildGratuitousArp(o: { srcMac: Uint8Array; ip: string }): Uint8Array {
  const mac = requireMac(o.srcMac);
  const ip = requireIp(o.ip, 4, "ip");
  const frame = new Uint8Array(14 + 28);
  ethernetHeader(frame, BROADCAST_MAC, mac, ETHERTYPE_ARP);
  const arp = frame.subarray(14);
  arp.set([0x00, 0x01, ETHERTYPE_IPV4 >> 8, ETHERTYPE_IPV4 & 0xff, 6, 4, 0x00, 0x01]); // Ethernet, IPv4, request
  arp.set(mac, 8);
  arp.set(ip, 14);
  arp.set(BROADCAST_MAC, 18);
  arp.set(ip, 24);
  return frame;
}

/**
 * Unsolicited neighbour advertisement for `target` to all nodes: Override set, Solicited clear,
 * Router as given, with a target link-layer address option carrying srcMac. Hop limit 255.
 * srcIp is the IPv6 source (a link-local address, or the VIP itself as keepalived does).
 */
export function buildUnsolicitedNa(o: {
  srcMac: Uint8Array;
  srcIp: string;
  target: string;
  router: boolean;
}): Uint8Array {
  const mac = requireMac(o.srcMac);
  const src = requireIp(o.srcIp, 16, "srcIp");
  const target = requireIp(o.target, 16, "target");
  const dst = parseIp(ALL_NODES_IPV6) as Uint8Array;
  const icmpLength = 4 + 4 + 16 + 8;
  const frame = new Uint8Array(14 + 40 + icmpLength);
  ethernetHeader(frame, ALL_NODES_MAC, mac, ETHERTYPE_IPV6);
  const ip = frame.subarray(14, 54);
  ip[0] = 0x60; // version 6, traffic class 0, flow label 0
  ip[4] = icmpLength >> 8;
  ip[5] = icmpLength & 0xff;
  ip[6] = ICMPV6_NEXT_HEADER;
  ip[7] = 255;
  ip.set(src, 8);
  ip.set(dst, 24);
  const icmp = frame.subarray(54);
  icmp[0] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
  icmp[4] = NA_FLAG_OVERRIDE | (o.router ? NA_FLAG_ROUTER : 0);
  icmp.set(target, 8);
  icmp[24] = ND_OPTION_TARGET_LINK_LAYER_ADDRESS;
  icmp[25] = 1; // option length in units of 8 bytes
  icmp.set(mac, 26);
  // RFC 8200 §8.1 pseudo-header: src, dst, 32-bit length, zeros, next header 58.
  const pseudo = new Uint8Array(40);
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  pseudo[35] = icmpLength;
  pseudo[39] = ICMPV6_NEXT_HEADER;
  const checksum = internetChecksum(pseudo, icmp);
  icmp[2] = checksum >> 8;
  icmp[3] = checksum & 0xff;
  return frame;
}
