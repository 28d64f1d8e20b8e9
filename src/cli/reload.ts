// `vipd reload [--plan]`: --plan prints what a reload would change (nothing applied); without it the
// daemon reloads as on SIGHUP and says whether the new config was applied.
import { formatPlan, type ReloadPlan } from "../runtime/operations.js";
import { type ControlTarget, controlCall } from "./control-call.js";
import { EX_CONFIG, EXIT_OK } from "./exit-codes.js";
import type { CliIo } from "./io.js";

export async function reloadCommand(
  o: ControlTarget & { plan: boolean; json: boolean },
  io: CliIo,
): Promise<number> {
  const r = await controlCall("reload", o, { cmd: "reload", plan: o.plan }, io);
  if (!r.ok) return r.code;
  if (o.plan) {
    const { plan } = r.result as { plan: ReloadPlan };
    io.stdout(o.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
    return EXIT_OK;
  }
  const { applied } = r.result as { applied: boolean };
  if (o.json) io.stdout(`${JSON.stringify({ applied })}\n`);
  else if (applied) io.stdout("reload applied\n");
  else
    io.stderr(
      "vipd reload: the daemon refused the new config and kept the running one (see its log; vipd check shows the problems)\n",
    );
  return applied ? EXIT_OK : EX_CONFIG;
}
