// A small reader for classic pcap files (not pcapng), enough for the golden fixtures: both byte
// orders, micro- and nanosecond timestamps, Ethernet and Linux cooked (SLL, SLL2) link types.

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_LINUX_SLL2 = 276;

export interface PcapRecord {
  /** 1-based, as tshark numbers frames. */
  frameNumber: number;
  timestampS: number;
  originalLength: number;
  data: Uint8Array;
}

export interface Pcap {
  linkType: number;
  records: PcapRecord[];
}

export function readPcap(file: Uint8Array): Pcap {
  if (file.length < 24) throw new Error("pcap: file shorter than the global header");
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = view.getUint32(0, false);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  switch (magic) {
    case 0xa1b2c3d4:
      [littleEndian, nanoseconds] = [false, false];
      break;
    case 0xd4c3b2a1:
      [littleEndian, nanoseconds] = [true, false];
      break;
    case 0xa1b23c4d:
      [littleEndian, nanoseconds] = [false, true];
      break;
    case 0x4d3cb2a1:
      [littleEndian, nanoseconds] = [true, true];
      break;
    default:
      throw new Error(`pcap: unknown magic 0x${magic.toString(16)} (pcapng is not supported)`);
  }
  const linkType = view.getUint32(20, littleEndian) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let offset = 24;
  while (offset < file.length) {
    if (offset + 16 > file.length) throw new Error(`pcap: truncated record header at ${offset}`);
    const seconds = view.getUint32(offset, littleEndian);
    const fraction = view.getUint32(offset + 4, littleEndian);
    const capturedLength = view.getUint32(offset + 8, littleEndian);
    const originalLength = view.getUint32(offset + 12, littleEndian);
    offset += 16;
    if (offset + capturedLength > file.length) throw new Error(`pcap: truncated record at ${offset}`);
    records.push({
      frameNumber: records.length + 1,
      timestampS: seconds + fraction / (nanoseconds ? 1e9 : 1e6),
      originalLength,
      data: file.slice(offset, offset + capturedLength),
    });
    offset += capturedLength;
  }
  return { linkType, records };
}

export interface LinkFrame {
  /** Ethernet II addresses; null for cooked captures, which keep only the source. */
  dstMac: Uint8Array | null;
  srcMac: Uint8Array | null;
  ethertype: number;
  /** The network-layer packet. */
  payload: Uint8Array;
}

/** Strips the link-layer header (Ethernet with optional 802.1Q tags, SLL or SLL2). */
export function linkLayer(linkType: number, data: Uint8Array): LinkFrame {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      let offset = 12;
      let ethertype = view.getUint16(offset);
      while (ethertype === 0x8100 || ethertype === 0x88a8) {
        offset += 4;
        ethertype = view.getUint16(offset);
      }
      return {
        dstMac: data.slice(0, 6),
        srcMac: data.slice(6, 12),
        ethertype,
        payload: data.subarray(offset + 2),
      };
    }
    case LINKTYPE_LINUX_SLL: {
      const addressLength = view.getUint16(4);
      const srcMac = addressLength === 6 ? data.slice(6, 12) : null;
      return { dstMac: null, srcMac, ethertype: view.getUint16(14), payload: data.subarray(16) };
    }
    case LINKTYPE_LINUX_SLL2: {
      const addressLength = data[11] as number;
      const srcMac = addressLength === 6 ? data.slice(12, 18) : null;
      return { dstMac: null, srcMac, ethertype: view.getUint16(0), payload: data.subarray(20) };
    }
    default:
      throw new Error(`pcap: unsupported link type ${linkType}`);
  }
}

export interface IpPacket {
  family: "ipv4" | "ipv6";
  src: Uint8Array;
  dst: Uint8Array;
  /** TTL or hop limit. */
  ttl: number;
  /** IPv4 protocol, or the IPv6 next header (extension headers are not walked). */
  protocol: number;
  payload: Uint8Array;
}

/** Splits an IPv4 or IPv6 packet into header facts and payload; null for other ethertypes. */
export function ipLayer(ethertype: number, packet: Uint8Array): IpPacket | null {
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  if (ethertype === 0x0800) {
    const headerLength = ((packet[0] as number) & 0x0f) * 4;
    const totalLength = view.getUint16(2);
    return {
      family: "ipv4",
      src: packet.slice(12, 16),
      dst: packet.slice(16, 20),
      ttl: packet[8] as number,
      protocol: packet[9] as number,
      payload: packet.subarray(headerLength, totalLength),
    };
  }
  if (ethertype === 0x86dd) {
    const payloadLength = view.getUint16(4);
    return {
      family: "ipv6",
      src: packet.slice(8, 24),
      dst: packet.slice(24, 40),
      ttl: packet[7] as number,
      protocol: packet[6] as number,
      payload: packet.subarray(40, 40 + payloadLength),
    };
  }
  return null;
}
