// `vipd maintenance on|off [INSTANCE]`: hold this node out of elections (priority 0) or let it back.
import type { MaintenanceResult } from "../runtime/operations.js";
import { type ControlTarget, controlCall } from "./control-call.js";
import { EXIT_OK } from "./exit-codes.js";
import type { CliIo } from "./io.js";

export async function maintenanceCommand(
  o: ControlTarget & { mode: "on" | "off"; instance: string | undefined; json: boolean },
  io: CliIo,
): Promise<number> {
  const on = o.mode === "on";
  const r = await controlCall(
    "maintenance",
    o,
    { cmd: "maintenance", on, ...(o.instance === undefined ? {} : { instance: o.instance }) },
    io,
  );
  if (!r.ok) return r.code;
  const m = r.result as MaintenanceResult;
  if (o.json) {
    io.stdout(`${JSON.stringify(m, null, 2)}\n`);
    return EXIT_OK;
  }
  const what = on
    ? "now in maintenance (priority 0, out of elections)"
    : "back in elections with their own priority";
  if (m.changed.length > 0) io.stdout(`${m.changed.join(", ")}: ${what}\n`);
  if (m.unchanged.length > 0)
    io.stdout(`${m.unchanged.join(", ")}: already ${on ? "in maintenance" : "in elections"}\n`);
  return EXIT_OK;
}
