// The checks behind the periodic trackers and the witness: a program (argv, exit 0 = ok), an HTTP
// request (node:http/https, expected status), a TCP connect, an ICMP echo through ping(8).

import type * as Http from "node:http";
import { createRequire } from "node:module";
import { connect } from "node:net";

import { describeRun, type RunOptions, runOk, runProgram } from "../process.js";
import type { CheckOutcome } from "./periodic.js";

const require = createRequire(import.meta.url);

export async function programCheck(
  argv: readonly string[],
  o: Omit<RunOptions, "signal">,
  signal: AbortSignal,
): Promise<CheckOutcome> {
  const r = await runProgram(argv, { ...o, signal });
  return { ok: runOk(r), detail: `${argv[0]}: ${describeRun(r)}` };
}

export function httpCheck(
  url: string,
  statuses: readonly number[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckOutcome> {
  return new Promise<CheckOutcome>((resolve) => {
    let done = false;
    const finish = (o: CheckOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(o);
    };
    // Loaded on the first check: the HTTP and TLS stacks are start-up time and RSS the daemon
    // only needs with an HTTP tracker or witness.
    const request = (require(url.startsWith("https:") ? "node:https" : "node:http") as typeof Http).request;
    const req = request(url, { method: "GET", agent: false, signal, headers: { "user-agent": "vipd" } });
    const timer = setTimeout(
      () => finish({ ok: false, detail: `GET ${url}: no answer in ${timeoutMs} ms` }),
      timeoutMs,
    );
    req.on("response", (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      finish(
        statuses.includes(code)
          ? { ok: true, detail: `GET ${url}: ${code}` }
          : { ok: false, detail: `GET ${url}: status ${code}, expected ${statuses.join(" or ")}` },
      );
    });
    req.on("error", (err) => finish({ ok: false, detail: `GET ${url}: ${err.message}` }));
    req.end();
  });
}

export function tcpCheck(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CheckOutcome> {
  const where = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise<CheckOutcome>((resolve) => {
    let done = false;
    const finish = (o: CheckOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(o);
    };
    const socket = connect({ host, port });
    const timer = setTimeout(
      () => finish({ ok: false, detail: `connect ${where}: no answer in ${timeoutMs} ms` }),
      timeoutMs,
    );
    const onAbort = (): void => finish({ ok: false, detail: `connect ${where}: cancelled` });
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("connect", () => finish({ ok: true, detail: `connect ${where}: ok` }));
    socket.on("error", (err) => finish({ ok: false, detail: `connect ${where}: ${err.message}` }));
  });
}

/** One echo request through the system's ping (ICMP needs a raw socket or ping's capability). */
export async function pingCheck(host: string, timeoutMs: number, signal: AbortSignal): Promise<CheckOutcome> {
  const waitS = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  const argv = ["ping", host.includes(":") ? "-6" : "-4", "-n", "-q", "-c", "1", "-W", waitS, host];
  const r = await runProgram(argv, { timeoutMs: timeoutMs + 500, signal });
  return { ok: runOk(r), detail: `ping ${host}: ${runOk(r) ? "answered" : describeRun(r)}` };
}
