// VRRP advertisements on the wire: VRRPv3 (RFC 9568, IPv4 and IPv6) and VRRPv2 (RFC 3768, IPv4).
//
// The payload is the VRRP message only (what a raw IP socket gives and takes). The IP source and
// destination come in a WireContext because the v3 checksum covers a pseudo-header built from them.
//
// v3 (RFC 9568 §5.1):                         v2 (RFC 3768 §5.1):
//   0: version(4) | type(4)                     0: version(4) | type(4)
//   1: VRID   2: priority   3: address count    1: VRID   2: priority   3: address count
//   4-5: reserved(4) | Max Adver Int(12), cs    4: auth type   5: Adver Int, seconds
//   6-7: checksum                               6-7: checksum
//   8..: N addresses (4 or 16 bytes each)       8..: N IPv4 addresses, then 8 bytes auth data

import type { Family } from "../core/types.js";
import { foldCarries, internetChecksum, sumWords, verifyInternetChecksum } from "./checksum.js";
import { addressLength, formatIp, isIpv6LinkLocalBytes, parseIp } from "./ip.js";

/** IP protocol / next header number of VRRP. */
export const VRRP_PROTOCOL = 112;
export const VRRP_MULTICAST_IPV4 = "224.0.0.18";
export const VRRP_MULTICAST_IPV6 = "ff02::12";
/** The only packet type: ADVERTISEMENT. */
export const VRRP_TYPE_ADVERTISEMENT = 1;
/** RFC 9568 §5.1.1.3 / RFC 3768 §5.1.1.3: the TTL / hop limit a sender sets and a receiver demands. */
export const VRRP_TTL = 255;
export const VRRP_HEADER_LENGTH = 8;
export const VRRP_V2_AUTH_DATA_LENGTH = 8;

/**
 * How a v3 IPv4 checksum is computed: 'pseudo-header' (RFC 5798 style, keepalived's and FRR's
 * default) or 'message-only' (RFC 9568 style). v3 IPv6 always uses the pseudo-header.
 */
export type ChecksumForm = "pseudo-header" | "message-only";

export interface AdvertV3 {
  version: 3;
  vrid: number;
  priority: number;
  /** Max Adver Int in centiseconds (12 bits). */
  maxAdverIntCs: number;
  addresses: string[];
}

export interface AdvertV2 {
  version: 2;
  vrid: number;
  priority: number;
  /** Adver Int in seconds. */
  adverIntS: number;
  /** 0 = none, 1 = simple text password (deprecated; carried through for compatibility). */
  authType: number;
  /** The 8 authentication bytes after the addresses (shorter input is zero-padded on encode). */
  authData: Uint8Array;
  addresses: string[];
}

export type Advert = AdvertV3 | AdvertV2;

/** The real IP source and destination of the packet (unicast peers included). */
export interface WireContext {
  family: Family;
  src: string;
  dst: string;
}

export type InvalidReason =
  | "ttl"
  | "version"
  | "type"
  | "length"
  | "checksum"
  | "address-count"
  | "interval"
  | "link-local"
  | "family";

export type DecodeResult =
  | { type: "ok"; advert: Advert; checksumForm: ChecksumForm | "v2" }
  | { type: "invalid"; reason: InvalidReason; detail: string };

/** The advertisement interval in milliseconds: centiseconds × 10 (v3) or seconds × 1000 (v2). */
export function adverIntervalMs(advert: Advert): number {
  return advert.version === 3 ? advert.maxAdverIntCs * 10 : advert.adverIntS * 1000;
}

// ---------------------------------------------------------------------------------------------
// Checksums

function pseudoHeaderIpv4(src: Uint8Array, dst: Uint8Array, length: number): Uint8Array {
  // RFC 5798 §5.2.8 / RFC 768 style: source, destination, zero, protocol, 16-bit length.
  const p = new Uint8Array(12);
  p.set(src, 0);
  p.set(dst, 4);
  p[9] = VRRP_PROTOCOL;
  p[10] = (length >> 8) & 0xff;
  p[11] = length & 0xff;
  return p;
}

function pseudoHeaderIpv6(src: Uint8Array, dst: Uint8Array, length: number): Uint8Array {
  // RFC 8200 §8.1: source, destination, 32-bit upper-layer length, 3 zero bytes, next header.
  const p = new Uint8Array(40);
  p.set(src, 0);
  p.set(dst, 16);
  new DataView(p.buffer).setUint32(32, length);
  p[39] = VRRP_PROTOCOL;
  return p;
}

/**
 * The pseudo-header a v3 checksum covers for this context, or null when src/dst are not
 * addresses of ctx.family (the 'family' rung reports that).
 */
export function vrrpPseudoHeader(ctx: WireContext, length: number): Uint8Array | null {
  const src = parseIp(ctx.src);
  const dst = parseIp(ctx.dst);
  const size = addressLength(ctx.family);
  if (src === null || dst === null || src.length !== size || dst.length !== size) return null;
  return ctx.family === "ipv4" ? pseudoHeaderIpv4(src, dst, length) : pseudoHeaderIpv6(src, dst, length);
}

/**
 * The ones' complement sum of the pseudo-header's words straight from the parsed addresses (no
 * pseudo-header built), unfolded; null when they are not addresses of `family`. Adding it to the
 * message's words gives the same folded sum as summing vrrpPseudoHeader() and the message.
 */
function pseudoWordsSum(
  family: Family,
  src: Uint8Array | null,
  dst: Uint8Array | null,
  length: number,
): number | null {
  const size = addressLength(family);
  if (src === null || dst === null || src.length !== size || dst.length !== size) return null;
  const addresses = sumWords(dst, sumWords(src));
  // IPv4: zero byte + protocol, then the 16-bit length. IPv6: the 32-bit length, then 3 zero bytes + next header.
  return family === "ipv4"
    ? addresses + VRRP_PROTOCOL + (length & 0xffff)
    : addresses + Math.floor(length / 0x10000) + (length & 0xffff) + VRRP_PROTOCOL;
}

/** The ones' complement sum of the pseudo-header alone (test helper: 0xffff means it adds nothing). */
export function pseudoHeaderSum(ctx: WireContext, length: number): number | null {
  const p = vrrpPseudoHeader(ctx, length);
  return p === null ? null : sumWords(p);
}

// ---------------------------------------------------------------------------------------------
// Encode

function assertByte(name: string, value: number, min = 0, max = 255): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`encodeAdvert: ${name} ${value} is outside ${min}..${max}`);
  }
}

/**
 * Serializes an advert with its checksum. Values must fit their wire fields (anything else is a
 * programmer error and throws); protocol validity (interval ≥ 1, at least one address…) is the
 * sender's business, so tests can build packets that the receive ladder rejects.
 * `checksumForm` matters only for v3 IPv4; v3 IPv6 always uses the pseudo-header, v2 the message.
 */
export function encodeAdvert(advert: Advert, ctx: WireContext & { checksumForm: ChecksumForm }): Uint8Array {
  assertByte("vrid", advert.vrid);
  assertByte("priority", advert.priority);
  assertByte("address count", advert.addresses.length);
  if (advert.version === 2 && ctx.family !== "ipv4") throw new Error("encodeAdvert: VRRPv2 is IPv4 only");
  const size = addressLength(ctx.family);
  const authLength = advert.version === 2 ? VRRP_V2_AUTH_DATA_LENGTH : 0;
  const out = new Uint8Array(VRRP_HEADER_LENGTH + advert.addresses.length * size + authLength);
  out[0] = (advert.version << 4) | VRRP_TYPE_ADVERTISEMENT;
  out[1] = advert.vrid;
  out[2] = advert.priority;
  out[3] = advert.addresses.length;
  if (advert.version === 3) {
    assertByte("maxAdverIntCs", advert.maxAdverIntCs, 0, 0x0fff);
    out[4] = advert.maxAdverIntCs >> 8;
    out[5] = advert.maxAdverIntCs & 0xff;
  } else {
    assertByte("authType", advert.authType);
    assertByte("adverIntS", advert.adverIntS);
    if (advert.authData.length > VRRP_V2_AUTH_DATA_LENGTH) {
      throw new Error(`encodeAdvert: authData is ${advert.authData.length} bytes, at most 8`);
    }
    out[4] = advert.authType;
    out[5] = advert.adverIntS;
    out.set(advert.authData, out.length - VRRP_V2_AUTH_DATA_LENGTH);
  }
  advert.addresses.forEach((text, i) => {
    const bytes = parseIp(text);
    if (bytes === null || bytes.length !== size) {
      throw new Error(`encodeAdvert: ${JSON.stringify(text)} is not an ${ctx.family} address`);
    }
    out.set(bytes, VRRP_HEADER_LENGTH + i * size);
  });
  let checksum: number;
  if (advert.version === 2 || (ctx.family === "ipv4" && ctx.checksumForm === "message-only")) {
    checksum = internetChecksum(out);
  } else {
    const pseudo = vrrpPseudoHeader(ctx, out.length);
    if (pseudo === null) {
      throw new Error(`encodeAdvert: src ${ctx.src} / dst ${ctx.dst} are not ${ctx.family} addresses`);
    }
    checksum = internetChecksum(pseudo, out);
  }
  out[6] = checksum >> 8;
  out[7] = checksum & 0xff;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decode: the receive-validation ladder. Each rung is a small function returning null (pass) or
// the failure; decodeAdvert runs them in order and stops at the first failure.

type Invalid = Extract<DecodeResult, { type: "invalid" }>;
/**
 * What decodeAdvert needs besides the bytes: the real IP source/destination, the received TTL or
 * hop limit, and whether to enforce the link-local-first rule for v3 IPv6 (see checkLinkLocal).
 */
export type DecodeContext = WireContext & { ttl: number; requireLinkLocalFirst?: boolean };

function invalid(reason: InvalidReason, detail: string): Invalid {
  return { type: "invalid", reason, detail };
}

/** RFC 9568 §7.1 / RFC 3768 §7.1: TTL / hop limit must be 255 (the packet came from this link). */
export function checkTtl(ctx: DecodeContext): Invalid | null {
  return ctx.ttl === VRRP_TTL ? null : invalid("ttl", `TTL/hop limit ${ctx.ttl}, must be ${VRRP_TTL}`);
}

/** Version 3, or 2 over IPv4 only. A buffer too short to read the field fails as 'length'. */
export function checkVersion(payload: Uint8Array, ctx: DecodeContext): Invalid | null {
  const first = payload[0];
  if (first === undefined) return invalid("length", "empty payload");
  const version = first >> 4;
  if (version === 3) return null;
  if (version === 2) return ctx.family === "ipv4" ? null : invalid("version", "VRRPv2 over IPv6");
  return invalid("version", `version ${version}, expected 2 or 3`);
}

/** Type 1 (ADVERTISEMENT) is the only type. */
export function checkType(payload: Uint8Array): Invalid | null {
  const type = (payload[0] as number) & 0x0f;
  return type === VRRP_TYPE_ADVERTISEMENT ? null : invalid("type", `type ${type}, expected 1`);
}

/** Fixed header present and the size exactly right for the address count. */
export function checkLength(payload: Uint8Array, ctx: DecodeContext): Invalid | null {
  const version = (payload[0] as number) >> 4;
  const trailer = version === 2 ? VRRP_V2_AUTH_DATA_LENGTH : 0;
  if (payload.length < VRRP_HEADER_LENGTH + trailer) {
    return invalid(
      "length",
      `${payload.length} bytes, shorter than the ${VRRP_HEADER_LENGTH + trailer}-byte minimum`,
    );
  }
  const count = payload[3] as number;
  const expected = VRRP_HEADER_LENGTH + count * addressLength(ctx.family) + trailer;
  return payload.length === expected
    ? null
    : invalid(
        "length",
        `${payload.length} bytes, expected ${expected} for ${count} ${ctx.family} address(es)`,
      );
}

/**
 * v2: over the message. v3 IPv6: with the RFC 8200 pseudo-header. v3 IPv4: the pseudo-header form
 * first, then the message-only form; the form that matched is returned.
 */
export function checkChecksum(
  payload: Uint8Array,
  ctx: DecodeContext,
): Invalid | { type: "checksum-ok"; form: ChecksumForm | "v2" } {
  return checkChecksumOf(payload, ctx, parseIp(ctx.src), parseIp(ctx.dst));
}

const CHECKSUM_V2: { type: "checksum-ok"; form: ChecksumForm | "v2" } = { type: "checksum-ok", form: "v2" };
const CHECKSUM_PSEUDO: { type: "checksum-ok"; form: ChecksumForm | "v2" } = {
  type: "checksum-ok",
  form: "pseudo-header",
};
const CHECKSUM_MESSAGE: { type: "checksum-ok"; form: ChecksumForm | "v2" } = {
  type: "checksum-ok",
  form: "message-only",
};

/** The stored checksum as text, for failure details only. */
function storedChecksum(payload: Uint8Array): string {
  return `0x${(((payload[6] as number) << 8) | (payload[7] as number)).toString(16).padStart(4, "0")}`;
}

/** checkChecksum with the IP source and destination already parsed (decodeAdvert parses them once). */
function checkChecksumOf(
  payload: Uint8Array,
  ctx: DecodeContext,
  src: Uint8Array | null,
  dst: Uint8Array | null,
): Invalid | { type: "checksum-ok"; form: ChecksumForm | "v2" } {
  const version = (payload[0] as number) >> 4;
  if (version === 2) {
    return verifyInternetChecksum(payload)
      ? CHECKSUM_V2
      : invalid("checksum", `checksum ${storedChecksum(payload)} does not match the VRRPv2 message`);
  }
  const pseudo = pseudoWordsSum(ctx.family, src, dst, payload.length);
  if (pseudo !== null && foldCarries(sumWords(payload, pseudo)) === 0xffff) return CHECKSUM_PSEUDO;
  if (ctx.family === "ipv4" && verifyInternetChecksum(payload)) return CHECKSUM_MESSAGE;
  // Without a pseudo-header the checksum cannot be judged: the context itself is inconsistent.
  if (pseudo === null) return checkFamilyOf(ctx, src, dst) ?? invalid("checksum", "no pseudo-header");
  const stored = storedChecksum(payload);
  const detail =
    ctx.family === "ipv6"
      ? `checksum ${stored} does not match the IPv6 pseudo-header form`
      : `checksum ${stored} matches neither the pseudo-header nor the message-only form`;
  return invalid("checksum", detail);
}

/** RFC erratum 8299: an advert must carry at least one address. */
export function checkAddressCount(payload: Uint8Array): Invalid | null {
  return payload[3] === 0 ? invalid("address-count", "address count 0, at least 1 required") : null;
}

/** v3: Max Adver Int is the low 12 bits (erratum 8301), 1..4095 cs. v2: Adver Int ≥ 1 s. */
export function checkInterval(payload: Uint8Array): Invalid | null {
  if ((payload[0] as number) >> 4 === 2) {
    const seconds = payload[5] as number;
    return seconds >= 1 ? null : invalid("interval", "VRRPv2 Adver Int 0 s, at least 1 required");
  }
  const cs = (((payload[4] as number) << 8) | (payload[5] as number)) & 0x0fff;
  return cs >= 1 ? null : invalid("interval", "Max Adver Int 0 cs, must be 1..4095");
}

/**
 * RFC 9568 §5.2.9 and erratum 8300: in a v3 IPv6 advert the first address is the virtual router's
 * link-local address. Enforced only when ctx.requireLinkLocalFirst is true: keepalived 2.2.7 sends
 * the configured VIPs as they are (its golden capture's only address is fd00:db8::100) and merely
 * logs a warning, so rejecting such adverts by default would make a mixed cluster split-brain.
 */
export function checkLinkLocal(payload: Uint8Array, ctx: DecodeContext): Invalid | null {
  if (ctx.family !== "ipv6" || ctx.requireLinkLocalFirst !== true) return null;
  const first = payload.subarray(VRRP_HEADER_LENGTH, VRRP_HEADER_LENGTH + 16);
  return isIpv6LinkLocalBytes(first)
    ? null
    : invalid("link-local", `first address ${formatIp(first)} is not link-local (fe80::/10)`);
}

/** The packet's IP source and destination must be addresses of the family the socket is for. */
export function checkFamily(ctx: DecodeContext): Invalid | null {
  return checkFamilyOf(ctx, parseIp(ctx.src), parseIp(ctx.dst));
}

/** checkFamily with the IP source and destination already parsed. */
function checkFamilyOf(ctx: DecodeContext, src: Uint8Array | null, dst: Uint8Array | null): Invalid | null {
  const size = addressLength(ctx.family);
  if (src === null || src.length !== size) {
    return invalid("family", `IP source ${JSON.stringify(ctx.src)} is not an ${ctx.family} address`);
  }
  if (dst === null || dst.length !== size) {
    return invalid("family", `IP destination ${JSON.stringify(ctx.dst)} is not an ${ctx.family} address`);
  }
  return null;
}

function readAdvert(payload: Uint8Array, family: Family): Advert {
  const size = addressLength(family);
  const count = payload[3] as number;
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const start = VRRP_HEADER_LENGTH + i * size;
    addresses.push(formatIp(payload.subarray(start, start + size)));
  }
  const common = { vrid: payload[1] as number, priority: payload[2] as number };
  if ((payload[0] as number) >> 4 === 3) {
    const maxAdverIntCs = (((payload[4] as number) << 8) | (payload[5] as number)) & 0x0fff;
    return { version: 3, ...common, maxAdverIntCs, addresses };
  }
  return {
    version: 2,
    ...common,
    adverIntS: payload[5] as number,
    authType: payload[4] as number,
    // A copy in a plain Uint8Array: a Buffer's slice would share the receive buffer's memory.
    authData: Uint8Array.from(payload.subarray(payload.length - VRRP_V2_AUTH_DATA_LENGTH)),
    addresses,
  };
}

/**
 * Validates and decodes a received VRRP message. Never throws, whatever the bytes: every failure
 * is an 'invalid' result naming the first rung of the ladder that failed.
 */
export function decodeAdvert(payload: Uint8Array, ctx: DecodeContext): DecodeResult {
  const early =
    checkTtl(ctx) ?? checkVersion(payload, ctx) ?? checkType(payload) ?? checkLength(payload, ctx);
  if (early !== null) return early;
  // The IP source and destination, parsed once for the checksum and the family rungs.
  const src = parseIp(ctx.src);
  const dst = parseIp(ctx.dst);
  const checksum = checkChecksumOf(payload, ctx, src, dst);
  if (checksum.type === "invalid") return checksum;
  const late =
    checkAddressCount(payload) ??
    checkInterval(payload) ??
    checkLinkLocal(payload, ctx) ??
    checkFamilyOf(ctx, src, dst);
  if (late !== null) return late;
  return { type: "ok", advert: readAdvert(payload, ctx.family), checksumForm: checksum.form };
}
