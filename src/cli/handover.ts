// `vipd handover INSTANCE [--to NODE]`: a verified planned handover. The daemon resigns with
// priority 0, waits until another node is master and its advert is heard, then rejoins.
import type { HandoverResult } from "../runtime/operations.js";
import { type ControlTarget, controlCall } from "./control-call.js";
import { EXIT_FAILURE, EXIT_OK } from "./exit-codes.js";
import type { CliIo } from "./io.js";

export async function handoverCommand(
  o: ControlTarget & { instance: string; to: string | undefined; wait: number | undefined; json: boolean },
  io: CliIo,
): Promise<number> {
  const request: { cmd: string; [k: string]: unknown } = { cmd: "handover", instance: o.instance };
  if (o.to !== undefined) request.to = o.to;
  if (o.wait !== undefined) request.timeoutMs = o.wait;
  // The daemon answers once the handover is over: leave room for its own wait.
  const timeout = Math.max(o.timeout, (o.wait ?? 20_000) + 5000);
  const r = await controlCall("handover", { ...o, timeout }, request, io);
  if (!r.ok) return r.code;
  const h = r.result as HandoverResult;
  if (o.json) io.stdout(`${JSON.stringify(h, null, 2)}\n`);
  else (h.ok ? io.stdout : io.stderr)(`${h.ok ? "handover done" : "handover FAILED"}: ${h.message}\n`);
  return h.ok ? EXIT_OK : EXIT_FAILURE;
}
