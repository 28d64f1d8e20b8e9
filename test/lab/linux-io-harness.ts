// Test-side driver of linux-io-agent.ts (one agent process per lab host) and the addon build
// check shared by the linux-*.test.ts files.

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { LabHost } from "./netns.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const AGENT = fileURLToPath(new URL("./linux-io-agent.ts", import.meta.url));
export const ADDON = fileURLToPath(new URL("../../native/build/Release/vipd_native.node", import.meta.url));

/** Builds the addon when it is missing (node-gyp against the local Node headers). */
export function ensureAddon(): void {
  if (existsSync(ADDON)) return;
  execFileSync("npm", ["run", "build:native"], { cwd: REPO, stdio: "ignore", timeout: 180_000 });
  if (!existsSync(ADDON)) throw new Error(`npm run build:native did not produce ${ADDON}`);
}

export interface AgentEvent {
  event: string;
  [key: string]: unknown;
}

export class AgentError extends Error {
  readonly code: unknown;
  readonly errno: unknown;
  constructor(e: { name?: string; message?: string; code?: unknown; errno?: unknown }) {
    super(`${e.name ?? "Error"}: ${e.message ?? ""}`);
    this.code = e.code;
    this.errno = e.errno;
  }
}

type Reply = { id: number; ok: boolean; result?: unknown; error?: Record<string, unknown> };

export class IoAgent {
  readonly events: AgentEvent[] = [];
  readonly stderr: string[] = [];
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly #waiters = new Set<() => void>();
  readonly #child: ReturnType<LabHost["spawn"]>;
  #nextId = 1;
  #exited = false;

  constructor(host: LabHost, env?: Record<string, string>) {
    this.#child = host.spawn(
      [process.execPath, "--import", "tsx", AGENT],
      env === undefined ? undefined : { env },
    );
    const out = this.#child.stdout;
    const err = this.#child.stderr;
    if (out === null || err === null) throw new Error("agent spawned without pipes");
    createInterface({ input: out }).on("line", (line) => this.#onLine(line));
    createInterface({ input: err }).on("line", (line) => this.stderr.push(line));
    this.#child.on("exit", () => {
      this.#exited = true;
      for (const p of this.#pending.values()) p.reject(new Error(`agent exited: ${this.stderr.join("\n")}`));
      this.#pending.clear();
      this.#wake();
    });
  }

  #onLine(line: string): void {
    const msg = JSON.parse(line) as Reply | AgentEvent;
    if ("id" in msg && typeof msg.id === "number") {
      const p = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      if (msg.ok) p?.resolve(msg.result);
      else p?.reject(new AgentError(msg.error ?? {}));
    } else {
      this.events.push(msg as AgentEvent);
      this.#wake();
    }
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  /** Sends one command; rejects with AgentError when the agent's call threw. */
  call<T = unknown>(op: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(`agent exited: ${this.stderr.join("\n")}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`agent command ${op} timed out; stderr: ${this.stderr.join("\n")}`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#child.stdin?.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Resolves with the first `count` events matching pred (also those already received). */
  waitFor(
    pred: (e: AgentEvent) => boolean,
    o: { count?: number; timeoutMs?: number } = {},
  ): Promise<AgentEvent[]> {
    const count = o.count ?? 1;
    const timeoutMs = o.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.events.filter(pred);
        if (found.length >= count) {
          finish();
          resolve(found.slice(0, count));
          return true;
        }
        if (this.#exited) {
          finish();
          reject(new Error(`agent exited while waiting; stderr: ${this.stderr.join("\n")}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new Error(
            `timed out waiting for ${count} event(s); got ${JSON.stringify(this.events.filter(pred))}`,
          ),
        );
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      const waiter = (): void => {
        check();
      };
      if (!check()) this.#waiters.add(waiter);
    });
  }

  /** Waits for the agent's start-up line. */
  ready(): Promise<AgentEvent[]> {
    return this.waitFor((e) => e.event === "ready", { timeoutMs: 20_000 });
  }

  /** Graceful: closes stdin, the agent closes its sockets and exits. */
  stop(): void {
    this.#child.stdin?.end();
  }

  /** SIGKILL, like a crash; resolves once the process is gone. */
  kill(): Promise<void> {
    if (this.#exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.#child.once("exit", () => resolve());
      this.#child.kill("SIGKILL");
    });
  }
}

export async function startAgent(host: LabHost, env?: Record<string, string>): Promise<IoAgent> {
  const agent = new IoAgent(host, env);
  await agent.ready();
  return agent;
}
