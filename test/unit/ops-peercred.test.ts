// SO_PEERCRED through the native addon: the control socket learns who is calling.
import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { peerCredentials } from "../../src/linux/native.js";
import { addonBuilt } from "./native-built.js";

const built = addonBuilt();

describe.runIf(built)("peerCredentials", () => {
  it("reads pid, uid and gid of the other end of a Unix socket", async () => {
    const dir = await mkdtemp(join(tmpdir(), "vipd-peercred-"));
    const path = join(dir, "s.sock");
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer((s) => {
        resolve(s);
        server.close();
      });
      server.listen(path);
    });
    const client = createConnection(path);
    const s = await accepted;
    try {
      const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
      expect(peerCredentials(fd)).toEqual({
        pid: process.pid,
        uid: process.getuid?.(),
        gid: process.getgid?.(),
      });
    } finally {
      client.destroy();
      s.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("fails with a typed error on a descriptor that is not a socket, and on a bad argument", () => {
    expect(() => peerCredentials(0x7ffffff0)).toThrow(/SO_PEERCRED/);
    expect(() => peerCredentials(-1)).toThrow(/must not be negative/);
  });
});
