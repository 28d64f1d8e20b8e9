// The config-time half of script security: every program a config names (track scripts, notify
// scripts, fence agents) must exist, be executable and, with enable_script_security, be safe from
// non-root users; script_user must exist. Problems come back with the config path they belong to,
// so the loader reports them as file:line:col like any other config error.

import type { FenceConfig, NotifyConfig, VipdConfig } from "../config/types.js";
import { resolveScriptUser, scriptProblem } from "./script-security.js";

export interface ScriptIssue {
  path: (string | number)[];
  message: string;
}

const NOTIFY_KEYS: [keyof NotifyConfig, string][] = [
  ["any", "notify"],
  ["master", "notify_master"],
  ["backup", "notify_backup"],
  ["fault", "notify_fault"],
  ["stop", "notify_stop"],
  ["event", "notify_event"],
  ["fenceStarted", "notify_fence_started"],
  ["fenceFailed", "notify_fence_failed"],
  ["splitBrain", "notify_split_brain"],
  ["masterRxLowerPri", "notify_master_rx_lower_pri"],
];

export function checkConfigScripts(config: VipdConfig): ScriptIssue[] {
  const secure = config.global.enableScriptSecurity;
  const out: ScriptIssue[] = [];
  const check = (program: string, path: (string | number)[]): void => {
    const problem = scriptProblem(program, { secure });
    if (problem !== null) out.push({ path, message: `${dotted(path)}: refused: ${problem}` });
  };
  if (resolveScriptUser(config.global.scriptUser) === null) {
    out.push({
      path: ["global", "script_user"],
      message: `global.script_user: no user "${config.global.scriptUser}" on this system`,
    });
  }
  for (const s of Object.values(config.trackScripts)) {
    check(s.argv[0] ?? "", ["track_scripts", s.name, "script"]);
  }
  const notify = (n: NotifyConfig, at: (string | number)[]): void => {
    for (const [k, key] of NOTIFY_KEYS) {
      const p = n[k];
      if (p !== null) check(p, [...at, key]);
    }
  };
  const fence = (f: FenceConfig | null, at: (string | number)[]): void => {
    f?.levels.forEach((level, i) => {
      level.forEach((a, j) => {
        check(a.agent, [...at, "fence", "levels", i, j, "agent"]);
      });
    });
  };
  fence(config.global.fence, ["global"]);
  for (const inst of Object.values(config.instances)) {
    notify(inst.notify, ["instances", inst.name]);
    if (inst.fence !== config.global.fence) fence(inst.fence, ["instances", inst.name]);
  }
  for (const g of Object.values(config.syncGroups)) notify(g.notify, ["sync_groups", g.name]);
  return out;
}

function dotted(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}
