// The daemon's control socket: a Unix stream socket speaking newline-delimited JSON (control-protocol.ts).
// Root only (0600) by default; with global.control_group it is 0660 and that group may run read commands.
import * as fs from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { promisify } from "node:util";

import type pino from "pino";

import {
  type ControlRemoteCode,
  type ControlRequest,
  type ControlResponse,
  MAX_LINE_BYTES,
} from "./control-protocol.js";

// The callback API, promisified: not node:fs/promises, which would load streams and readline into
// the daemon (src/config/load.ts).
const chmod = promisify(fs.chmod);
const chown = promisify(fs.chown);
const lstat = promisify(fs.lstat);
const mkdir = promisify(fs.mkdir);
const readFile = promisify(fs.readFile);
const stat = promisify(fs.stat);
const unlink = promisify(fs.unlink);

export type ControlAccess = "read" | "admin";

/** Who is on the other end of a connection (SO_PEERCRED); Node alone cannot learn it. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export type ControlHandler = (
  request: ControlRequest,
  context: { peer: PeerCredentials | null; connection: number },
) => unknown;

export type ControlErrorCode =
  | "CONTROL_SOCKET_IN_USE"
  | "CONTROL_SOCKET_NOT_A_SOCKET"
  | "CONTROL_GROUP_UNKNOWN"
  | "CONTROL_SOCKET_FAILED";

export class ControlError extends Error {
  readonly code: ControlErrorCode;
  constructor(code: ControlErrorCode, message: string) {
    super(message);
    this.name = "ControlError";
    this.code = code;
  }
}

export interface ControlServerOptions {
  path: string;
  /** Group name or numeric gid allowed read commands; null = root only. */
  group: string | null;
  logger: pino.Logger;
  /** Peer credentials of a connection when available (a native SO_PEERCRED helper); default: unknown. */
  peerCredentials?: (socket: Socket) => PeerCredentials | null;
  /** A connection idle this long is closed. */
  idleTimeoutMs?: number;
  maxConnections?: number;
}

export interface ControlServer {
  readonly path: string;
  /** Registers the handler for one command; read commands are open to control_group members. */
  handle(cmd: string, access: ControlAccess, handler: ControlHandler): void;
  /** Stops listening, closes connections and removes the socket file (if it is still ours). */
  close(): Promise<void>;
}

/** Resolves a group name (from /etc/group) or a numeric gid. */
export async function resolveGroupId(group: string, groupFile = "/etc/group"): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  let text = "";
  try {
    text = await readFile(groupFile, "utf8");
  } catch (e) {
    throw new ControlError("CONTROL_GROUP_UNKNOWN", `cannot read ${groupFile}: ${(e as Error).message}`);
  }
  for (const line of text.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new ControlError("CONTROL_GROUP_UNKNOWN", `control_group "${group}" is not a group on this host`);
}

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** True when something accepts connections on the socket at `path`. */
function socketAnswers(path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(true); // a listener that does not even accept in time is still a listener
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once("error", (e) => {
      clearTimeout(timer);
      resolve(!(errnoOf(e) === "ECONNREFUSED" || errnoOf(e) === "ENOENT"));
    });
  });
}

/** Removes a stale socket left by a dead daemon; refuses to touch a live socket or a non-socket. */
async function clearStaleSocket(path: string, logger: pino.Logger): Promise<void> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(path);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return;
    throw e;
  }
  if (!st.isSocket()) {
    throw new ControlError(
      "CONTROL_SOCKET_NOT_A_SOCKET",
      `${path} exists and is not a socket; remove it or set global.control_socket`,
    );
  }
  if (await socketAnswers(path, 1000)) {
    throw new ControlError("CONTROL_SOCKET_IN_USE", `${path} is in use: is another vipd running?`);
  }
  logger.info({ path }, "removing stale control socket");
  try {
    await unlink(path);
  } catch (e) {
    if (errnoOf(e) !== "ENOENT") throw e;
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    // The bind happens synchronously inside listen(): a tight umask covers it, so the socket is never
    // reachable with looser permissions than the chmod below sets.
    const old = process.umask(0o177);
    try {
      server.once("listening", () => {
        server.off("error", onError);
        resolve();
      });
      listenWithoutCluster(server, path);
    } finally {
      process.umask(old);
    }
  });
}

/**
 * net.Server#listen always loads node:cluster (and with it node:child_process and node:dgram) to ask
 * whether this process is a cluster worker: about 0.5-0.9 MiB RSS for the daemon's life. vipd is
 * never a cluster worker, so it calls the step listen() takes in a primary process, _listen2(path,
 * port -1, address type -1, backlog, fd, flags), which binds and listens on a Unix socket and emits
 * 'listening' or 'error' as listen() does. It is not documented: where it is missing, listen().
 */
function listenWithoutCluster(server: Server, path: string): void {
  const internal = server as Server & {
    _listen2?: (
      address: string,
      port: number,
      addressType: number,
      backlog: number,
      fd?: number,
      flags?: number,
    ) => void;
  };
  if (typeof internal._listen2 === "function") internal._listen2(path, -1, -1, 511, undefined, 0);
  else server.listen(path);
}

export async function startControlServer(o: ControlServerOptions): Promise<ControlServer> {
  const logger = o.logger.child({ component: "control" });
  const gid = o.group === null ? null : await resolveGroupId(o.group);
  const idleTimeoutMs = o.idleTimeoutMs ?? 30_000;
  const handlers = new Map<string, { access: ControlAccess; handler: ControlHandler }>();
  const sockets = new Set<Socket>();
  let connections = 0;

  const dir = dirname(o.path);
  const created = await mkdir(dir, { recursive: true, mode: gid === null ? 0o700 : 0o750 });
  if (created !== undefined && gid !== null) await chown(dir, process.getuid?.() ?? 0, gid);

  await clearStaleSocket(o.path, logger);

  const server = createServer({ allowHalfOpen: false });
  server.maxConnections = o.maxConnections ?? 32;

  server.on("connection", (socket) => {
    const connection = ++connections;
    sockets.add(socket);
    socket.setEncoding("utf8");
    socket.setTimeout(idleTimeoutMs, () => socket.destroy());
    const peer = o.peerCredentials?.(socket) ?? null;
    let buffer = "";
    let chain: Promise<void> = Promise.resolve();

    const send = (r: ControlResponse) => {
      if (!socket.destroyed) socket.write(`${JSON.stringify(r)}\n`);
    };
    const fail = (code: ControlRemoteCode, message: string) => send({ ok: false, error: { code, message } });

    const serve = async (line: string): Promise<void> => {
      let request: unknown;
      try {
        request = JSON.parse(line);
      } catch {
        fail("BAD_REQUEST", "a request is one JSON object per line");
        return;
      }
      if (
        typeof request !== "object" ||
        request === null ||
        typeof (request as ControlRequest).cmd !== "string"
      ) {
        fail("BAD_REQUEST", 'a request needs a "cmd" string');
        return;
      }
      const req = request as ControlRequest;
      const entry = handlers.get(req.cmd);
      const who = peer === null ? "unknown (no peer credentials)" : `pid ${peer.pid} uid ${peer.uid}`;
      if (!entry) {
        logger.info({ cmd: req.cmd, connection, peer }, `control: unknown command from ${who}`);
        fail("UNKNOWN_COMMAND", `unknown command "${req.cmd}"; known: ${[...handlers.keys()].join(", ")}`);
        return;
      }
      // Admin commands need root. Without peer credentials, only a root-only socket can vouch for that.
      if (entry.access === "admin" && (peer === null ? gid !== null : peer.uid !== 0)) {
        logger.warn({ cmd: req.cmd, connection, peer }, `control: refused admin command from ${who}`);
        fail(
          "FORBIDDEN",
          peer === null
            ? `"${req.cmd}" is refused while control_group is set (the caller cannot be identified)`
            : `"${req.cmd}" needs root`,
        );
        return;
      }
      const level = entry.access === "admin" ? "info" : "debug";
      logger[level]({ cmd: req.cmd, connection, peer }, `control: ${req.cmd} from ${who}`);
      try {
        const result = await entry.handler(req, { peer, connection });
        send({ ok: true, result: result ?? null });
      } catch (e) {
        logger.error({ cmd: req.cmd, connection, err: e }, "control: command failed");
        fail("FAILED", e instanceof Error ? e.message : String(e));
      }
    };

    socket.on("data", (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_LINE_BYTES) {
        fail("TOO_LARGE", `a request line must be under ${MAX_LINE_BYTES} bytes`);
        socket.end();
        buffer = "";
        return;
      }
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line === "") continue;
        // One request at a time per connection, answered in order.
        chain = chain.then(() => serve(line));
      }
    });
    socket.on("error", (e) => logger.debug({ connection, err: e }, "control: connection error"));
    socket.on("close", () => sockets.delete(socket));
  });

  try {
    await listen(server, o.path);
  } catch (e) {
    if (errnoOf(e) === "EADDRINUSE") {
      throw new ControlError("CONTROL_SOCKET_IN_USE", `${o.path} is in use: is another vipd running?`);
    }
    throw new ControlError("CONTROL_SOCKET_FAILED", `cannot listen on ${o.path}: ${(e as Error).message}`);
  }
  await chmod(o.path, gid === null ? 0o600 : 0o660);
  if (gid !== null) await chown(o.path, process.getuid?.() ?? 0, gid);
  const ours = await stat(o.path);
  logger.info(
    { path: o.path, mode: gid === null ? "0600" : "0660", group: o.group },
    "control socket listening",
  );

  let closing: Promise<void> | null = null;
  return {
    path: o.path,
    handle(cmd, access, handler) {
      if (handlers.has(cmd)) throw new Error(`control: "${cmd}" already has a handler`);
      handlers.set(cmd, { access, handler });
    },
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sockets) s.destroy();
        });
        // Remove the file only if it is still the one we created (a new daemon may have replaced it).
        try {
          const now = await stat(o.path);
          if (now.ino === ours.ino && now.dev === ours.dev) await unlink(o.path);
        } catch (e) {
          if (errnoOf(e) !== "ENOENT") throw e;
        }
      })();
      return closing;
    },
  };
}
