// The pure VRRP codec: addresses, advertisements, checksums and announcement frames.

export * from "./advert.js";
export * from "./checksum.js";
export * from "./frames.js";
export * from "./ip.js";
export * from "./mac.js";
