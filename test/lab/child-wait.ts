// Waiting on a child process of a lab test: conditions over what its output has recorded so far, and
// stopping its process group (LabHost.spawn makes each child a group leader).
import type { ChildProcess } from "node:child_process";

/** Why a wait fails; each message is built when the wait fails, so it can quote the output so far. */
export interface WaitFailure {
  /** A message once the child is gone (the condition can no longer come true), else undefined. */
  ended(): string | undefined;
  timedOut(): string;
}

/** Pending waits over state that grows as a child's output arrives: notify() after each change. */
export class Waiters {
  readonly #pending = new Set<() => void>();

  /** Re-checks every pending wait (call after recording output, and when the child closes). */
  notify(): void {
    for (const w of [...this.#pending]) w();
  }

  /** Resolves with check()'s first defined value; rejects when the child ended or after timeoutMs. */
  until<T>(timeoutMs: number, check: () => T | undefined, fail: WaitFailure): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.#pending.delete(attempt);
      };
      const attempt = () => {
        const v = check();
        if (v !== undefined) {
          finish();
          resolve(v);
          return;
        }
        const ended = fail.ended();
        if (ended !== undefined) {
          finish();
          reject(new Error(ended));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(fail.timedOut()));
      }, timeoutMs);
      this.#pending.add(attempt);
      attempt();
    });
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

/**
 * Sends `first` (default SIGTERM) to child's process group, SIGKILL to the group killAfterMs later
 * (never when null), and waits for `closed`. Nothing to do when the child closed or never started.
 */
export async function stopGroup(
  child: ChildProcess,
  o: { closed: Promise<void>; isClosed: boolean; first?: NodeJS.Signals; killAfterMs: number | null },
): Promise<void> {
  const pid = child.pid;
  if (o.isClosed || pid === undefined) return;
  signalGroup(pid, o.first ?? "SIGTERM");
  if (o.killAfterMs === null) return o.closed;
  const timer = setTimeout(() => {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone already
    }
  }, o.killAfterMs);
  await o.closed;
  clearTimeout(timer);
}
