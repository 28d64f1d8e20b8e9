// `vipd explain INSTANCE`: why this node is in its state, in words.
import type { ExplainResult } from "../runtime/operations.js";
import { type ControlTarget, controlCall } from "./control-call.js";
import { EXIT_OK } from "./exit-codes.js";
import type { CliIo } from "./io.js";

export async function explainCommand(
  o: ControlTarget & { instance: string; json: boolean },
  io: CliIo,
): Promise<number> {
  const r = await controlCall("explain", o, { cmd: "explain", instance: o.instance }, io);
  if (!r.ok) return r.code;
  const e = r.result as ExplainResult;
  io.stdout(o.json ? `${JSON.stringify(e, null, 2)}\n` : `${e.lines.join("\n")}\n`);
  return EXIT_OK;
}
