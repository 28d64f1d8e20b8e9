// track_files: the file holds an integer (keepalived's vrrp_track_file). A missing or empty file reads
// as 0; text that is not an integer reads as 0 and says so in the reason. Polled.

import { readFile as readFileCb } from "node:fs";
import { promisify } from "node:util";

import { BaseTracker, type LastCheck } from "./status.js";

export const FILE_POLL_MS = 1000;

// Not node:fs/promises, which would load streams and readline into the daemon (src/config/load.ts).
const readFile = promisify(readFileCb);

export async function readTrackFile(path: string): Promise<{ value: number; reason: string }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      value: 0,
      reason: `${path}: ${code === "ENOENT" ? "missing (reads as 0)" : (err as Error).message}`,
    };
  }
  const t = text.trim();
  if (t === "") return { value: 0, reason: `${path}: empty (reads as 0)` };
  if (!/^[+-]?\d{1,9}$/.test(t)) return { value: 0, reason: `${path}: not an integer (reads as 0)` };
  return { value: Number(t), reason: path };
}

export class FileTracker extends BaseTracker {
  readonly #path: string;
  readonly #pollMs: number;
  #timer: NodeJS.Timeout | null = null;
  #stopped = true;
  /** Reads finished since construction. */
  checks = 0;
  lastCheck: LastCheck | null = null;

  constructor(name: string, path: string, pollMs = FILE_POLL_MS) {
    super(name, { type: "value", value: 0, reason: path });
    this.#path = path;
    this.#pollMs = pollMs;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#poll();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #poll(): void {
    // readTrackFile never rejects; a throw here is a programmer error and crashes.
    readTrackFile(this.#path)
      .then((r) => {
        if (this.#stopped) return;
        this.checks++;
        // A file that is there and holds an integer is a good read; missing/empty/garbage is not.
        const ok = r.reason === this.#path;
        this.lastCheck = { ok, detail: ok ? `read ${r.value}` : r.reason, atMs: Date.now() };
        this.set({ type: "value", value: r.value, reason: r.reason });
        this.#timer = setTimeout(() => this.#poll(), this.#pollMs);
      })
      .catch((err: unknown) => {
        throw err;
      });
  }
}
