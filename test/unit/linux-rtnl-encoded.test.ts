// src/linux/rtnl.ts RtnlSocket.requestEncoded: a request encoded ahead in full, sent through the
// library's raw socket, its reply taken from the library's request table. A fake raw socket stands
// in for the kernel here (the lab tests send real ones): replies, error replies, a failed send and a
// timeout, each settling once and leaving the request table empty.
import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { RtnlSocket } from "../../src/linux/rtnl.js";

const PORT = 4242;
const RTM_NEWADDR = 20;
const NLMSG_ERROR = 2;

/** What the library's NetlinkSocket needs of its raw socket; sends are kept, replies pushed by hand. */
class FakeRaw extends EventEmitter {
  sent: { msg: Buffer; callback: (error?: Error) => void }[] = [];
  send(msg: Buffer, _options: unknown, callback: (error?: Error) => void): void {
    this.sent.push({ msg: Buffer.from(msg), callback });
  }
  address(): { port: number; groups: number } {
    return { port: PORT, groups: 0 };
  }
  ref(): void {}
  unref(): void {}
  close(): void {}
  /** The kernel's answer to a sent message: NLMSG_ERROR with `errno` (0 is an ACK). */
  answer(sent: Buffer, errno: number): void {
    const reply = Buffer.alloc(16 + 4 + 16);
    reply.writeUInt32LE(reply.length, 0);
    reply.writeUInt16LE(NLMSG_ERROR, 4);
    reply.writeUInt16LE(0x100, 6); // NLM_F_CAPPED: the request's header only
    reply.writeUInt32LE(sent.readUInt32LE(8), 8);
    reply.writeUInt32LE(PORT, 12);
    reply.writeInt32LE(-errno, 16);
    sent.copy(reply, 20, 0, 16);
    this.emit("message", reply, { port: 0, groups: 0 });
  }
}

function open(): { raw: FakeRaw; sock: RtnlSocket; message: Buffer } {
  const raw = new FakeRaw();
  const sock = new RtnlSocket(raw as never);
  const message = RtnlSocket.encode(RTM_NEWADDR, 0x600, [Buffer.from([2, 32, 0, 0, 7, 0, 0, 0])]);
  return { raw, sock, message };
}

function pending(sock: RtnlSocket): number {
  return (sock as unknown as { requests: Map<number, unknown> }).requests.size;
}

describe("RtnlSocket.requestEncoded", () => {
  it("sends a copy with a fresh seq and our port; an ACK resolves with no reply", async () => {
    const { raw, sock, message } = open();
    const before = Buffer.from(message);
    const first = sock.requestEncoded(message, 1000);
    const second = sock.requestEncoded(message, 1000);
    expect(raw.sent).toHaveLength(2);
    const [a, b] = raw.sent.map((s) => s.msg);
    expect(a!.readUInt32LE(8)).not.toBe(b!.readUInt32LE(8));
    expect(a!.readUInt32LE(12)).toBe(PORT);
    expect(a!.readUInt16LE(4)).toBe(RTM_NEWADDR);
    expect(a!.readUInt16LE(6) & 0x5).toBe(0x5); // NLM_F_REQUEST | NLM_F_ACK
    expect(message.equals(before)).toBe(true); // the prepared message is never written
    raw.answer(b!, 0);
    raw.answer(a!, 0);
    await expect(first).resolves.toEqual([]);
    await expect(second).resolves.toEqual([]);
    expect(pending(sock)).toBe(0);
  });

  it("an error reply rejects as the library's request() does", async () => {
    const { raw, sock, message } = open();
    const req = sock.requestEncoded(message, 1000);
    raw.answer(raw.sent[0]!.msg, 17);
    await expect(req).rejects.toThrow("Request rejected: EEXIST");
    expect(pending(sock)).toBe(0);
  });

  it("a failed send rejects with its error; a reply after that is ignored", async () => {
    const { raw, sock, message } = open();
    const req = sock.requestEncoded(message, 1000);
    const error = Object.assign(new Error("sendmsg: no buffer space"), { code: "ENOBUFS" });
    raw.sent[0]!.callback(error);
    await expect(req).rejects.toBe(error);
    expect(pending(sock)).toBe(0);
    raw.answer(raw.sent[0]!.msg, 0); // nobody waits for it any more: only the library's event
  });

  it("no reply: rejects at the timeout, and a late reply is ignored", async () => {
    const { raw, sock, message } = open();
    const req = sock.requestEncoded(message, 20);
    await expect(req).rejects.toThrow("Timeout has been reached");
    expect(pending(sock)).toBe(0);
    raw.answer(raw.sent[0]!.msg, 0);
  });
});
