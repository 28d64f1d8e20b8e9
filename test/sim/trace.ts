// The run's event trace: every line goes into a running SHA-256 (the replay fingerprint) and into a
// bounded ring that a failure report prints. With `keepAll` the whole trace is kept (CLI --trace).

import { createHash, type Hash } from "node:crypto";

export class Trace {
  private readonly hash: Hash = createHash("sha256");
  private readonly ring: string[] = [];
  private readonly all: string[] | null;
  private lines = 0;
  private pending: string[] = [];

  constructor(
    private readonly ringSize = 60,
    keepAll = false,
  ) {
    this.all = keepAll ? [] : null;
  }

  add(timeMs: number, line: string): void {
    const text = `${formatTime(timeMs)} ${line}`;
    this.pending.push(text);
    if (this.pending.length >= 512) this.flush();
    this.lines++;
    this.ring.push(text);
    if (this.ring.length > this.ringSize) this.ring.shift();
    this.all?.push(text);
  }

  get count(): number {
    return this.lines;
  }

  /** The most recent lines, oldest first. */
  tail(): string[] {
    return [...this.ring];
  }

  full(): string[] | null {
    return this.all === null ? null : [...this.all];
  }

  /** Hex digest of everything so far. */
  digest(): string {
    this.flush();
    return this.hash.copy().digest("hex");
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.hash.update(`${this.pending.join("\n")}\n`);
    this.pending = [];
  }
}

export function formatTime(ms: number): string {
  return `${(ms / 1000).toFixed(3).padStart(10, " ")}s`;
}
