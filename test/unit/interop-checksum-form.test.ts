// The engine's report of a VRRPv3 IPv4 peer that uses the other checksum form (keepalived < 2.2.8
// cannot send or accept the RFC 9568 message-only form): counted and logged, the advert still used.
import { describe, expect, it } from "vitest";
import { type ChecksumForm, encodeAdvert } from "../../src/codec/advert.js";
import { BASE_YAML, startEngine } from "./runtime-fakes.js";

const PEER = "192.0.2.12";

function advert(form: ChecksumForm, priority = 200): Uint8Array {
  return encodeAdvert(
    { version: 3, vrid: 51, priority, maxAdverIntCs: 100, addresses: ["192.0.2.100"] },
    { family: "ipv4", src: PEER, dst: "224.0.0.18", checksumForm: form },
  );
}

const MESSAGE_ONLY_YAML = BASE_YAML.replace("virtual_ips:", "checksum: message-only\n    virtual_ips:");

describe("runtime engine: v3 IPv4 checksum form of a peer", () => {
  it("a pseudo-header peer while we send message-only is counted, logged once, and still followed", async () => {
    expect(MESSAGE_ONLY_YAML).toContain("checksum: message-only");
    const { world, engine, lines } = await startEngine(MESSAGE_ONLY_YAML);
    for (let i = 0; i < 5; i++) {
      world.socket.deliver({
        payload: advert("pseudo-header"),
        src: PEER,
        dst: "224.0.0.18",
        ttl: 255,
        ifindex: 2,
      });
      await world.clock.advance(1000);
    }
    const s = engine.status().instances[0]!;
    expect(s.counters.mismatches).toEqual({ checksum: 5 });
    expect(s.counters.discarded).toEqual({});
    expect(s.state).toBe("backup");
    expect(s.master).toBe(PEER);
    expect(s.peers[0]).toMatchObject({ address: PEER, checksumForm: "pseudo-header", advertsReceived: 5 });
    const logged = lines.filter((l) => l.reason === "mismatch-checksum");
    expect(logged).toHaveLength(1);
    expect(String(logged[0]!.detail)).toContain(
      "sends the pseudo-header VRRPv3 checksum, we send message-only",
    );
  });

  it("a peer with our own form is no mismatch, in either form", async () => {
    for (const [yaml, form] of [
      [BASE_YAML, "pseudo-header"],
      [MESSAGE_ONLY_YAML, "message-only"],
    ] as const) {
      const { world, engine, lines } = await startEngine(yaml);
      world.socket.deliver({ payload: advert(form), src: PEER, dst: "224.0.0.18", ttl: 255, ifindex: 2 });
      const s = engine.status().instances[0]!;
      expect(s.counters.advertsReceived).toBe(1);
      expect(s.counters.mismatches).toEqual({});
      expect(lines.filter((l) => l.reason === "mismatch-checksum")).toHaveLength(0);
    }
  });
});
