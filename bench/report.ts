// The benchmark's output: a markdown table for stdout and an SVG chart of the takeover overheads.
import type { AgentKind } from "./agents.js";
import type { FailoverSample, Fault } from "./failover.js";
import type { FalsePositiveResult } from "./false-positives.js";
import type { OrphanSample, StartupSample } from "./lifecycle.js";
import type { ScaleResult } from "./scale.js";
import { type Summary, summarize, triple } from "./stats.js";

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: { cpus: number; kernel: string; node: string; keepalived: string };
  options: Record<string, unknown>;
  failover: FailoverSample[];
  falsePositives: FalsePositiveResult[];
  scale: ScaleResult[];
  startup: StartupSample[];
  orphan: OrphanSample[];
  errors: string[];
}

const FAULT_TEXT: Record<Fault, string> = {
  cut: "cable cut",
  kill: "SIGKILL",
  stop: "graceful stop",
};

function pick(
  samples: readonly FailoverSample[],
  agent: AgentKind,
  f: (s: FailoverSample) => number | null,
  filter: (s: FailoverSample) => boolean,
): Summary {
  const values = samples
    .filter((s) => s.agent === agent && filter(s))
    .map(f)
    .filter((v): v is number => v !== null);
  return summarize(values);
}

const fmtInterval = (ms: number) => (ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`);
/** " (one CPU's steal around it: N ms)", or nothing when it was not read. */
const fmtSteal = (ms: number | null) => (ms === null ? "" : ` (one CPU's steal around it: ${ms} ms)`);
/** The longest gaps over the budget listed per agent; the JSON has them all. */
const GAPS_LISTED = 5;

function compareP95(v: Summary, k: Summary, limit?: number): string {
  if (v.p95 === null) return "n/a";
  if (limit !== undefined) {
    const d = v.p95 - limit;
    return d <= 0 ? `met (≤ ${limit} ms)` : `missed by ${d.toFixed(2)} ms (target ≤ ${limit} ms)`;
  }
  if (k.p95 === null) return "no keepalived figure";
  const d = v.p95 - k.p95;
  return d <= 0 ? `p95 ${Math.abs(d).toFixed(2)} ms better` : `p95 ${d.toFixed(2)} ms worse`;
}

/** The markdown report: failover table, then false positives, scale, start-up and orphans. */
export function markdownReport(r: BenchResults): string {
  const out: string[] = [];
  out.push(
    `## vipd vs keepalived (${r.startedAt}, ${r.machine.cpus} CPUs, kernel ${r.machine.kernel}, node ${r.machine.node}, ${r.machine.keepalived})`,
    "",
  );
  out.push(`Command: \`${r.command}\``, "");
  out.push(
    "Failover: median / p95 / max over the runs, in ms above the RFC bound (overhead) unless noted.",
    "",
    "| figure | interval | vipd | keepalived | RFC bound | vipd vs keepalived |",
    "| --- | --- | --- | --- | --- | --- |",
  );
  const intervals = [...new Set(r.failover.map((s) => s.intervalMs))].sort((a, b) => b - a);
  for (const iv of intervals) {
    const at = (s: FailoverSample) => s.intervalMs === iv;
    const bound = (f: Fault) => r.failover.find((s) => s.intervalMs === iv && s.fault === f)?.boundMs;
    const row = (
      label: string,
      f: (s: FailoverSample) => number | null,
      filter: (s: FailoverSample) => boolean,
      b: string,
      limit?: number,
    ) => {
      const v = pick(r.failover, "vipd", f, (s) => at(s) && filter(s));
      const k = pick(r.failover, "keepalived", f, (s) => at(s) && filter(s));
      if (v.n === 0 && k.n === 0) return;
      out.push(
        `| ${label} | ${fmtInterval(iv)} | ${triple(v)} (n=${v.n}) | ${triple(k)} (n=${k.n}) | ${b} | ${compareP95(v, k, limit)} |`,
      );
    };
    for (const fault of ["cut", "kill"] as Fault[]) {
      const bd = bound(fault);
      if (bd === undefined) continue;
      const b = `${bd.toFixed(1)} ms (MDI)`;
      row(
        `${FAULT_TEXT[fault]}: last advert → first advert`,
        (s) => s.overheadMs,
        (s) => s.fault === fault,
        b,
      );
      row(
        `${FAULT_TEXT[fault]}: last advert → VIP on backup`,
        (s) => s.vipOverheadMs,
        (s) => s.fault === fault,
        b,
      );
    }
    const bs = bound("stop");
    if (bs !== undefined) {
      const b = `${bs.toFixed(2)} ms (Skew_Time)`;
      row(
        "graceful: priority-0 advert → VIP on backup",
        (s) => s.vipOverheadMs,
        (s) => s.fault === "stop",
        b,
      );
      row(
        "graceful: priority-0 advert → first advert",
        (s) => s.overheadMs,
        (s) => s.fault === "stop",
        b,
      );
    }
    row(
      "VIP on backup (ip monitor stamp) → first GARP at client (absolute)",
      (s) => s.vipToAnnounceMs,
      () => true,
      "0",
      0.5,
    );
    row(
      "fault → first GARP at client (absolute)",
      (s) => s.faultToAnnounceMs,
      (s) => s.fault !== "stop",
      "MDI + phase",
    );
    // Context, not a target: the hypervisor's steal time while the sample was taken.
    const sv = pick(r.failover, "vipd", (s) => s.stealMs, at);
    const sk = pick(r.failover, "keepalived", (s) => s.stealMs, at);
    if (sv.n > 0 || sk.n > 0)
      out.push(
        `| machine steal time, fault → end of the sample (all CPUs, 10 ms ticks) | ${fmtInterval(iv)} | ${triple(sv, false, 0)} (n=${sv.n}) | ${triple(sk, false, 0)} (n=${sk.n}) | — | context, not a target |`,
      );
    const tl = (label: string, f: (s: FailoverSample) => number | null, limit?: number) => {
      const v = pick(r.failover, "vipd", f, at);
      const verdict = limit === undefined ? "—" : compareP95(v, v, limit);
      if (v.n > 0)
        out.push(
          `| vipd timeline: ${label} | ${fmtInterval(iv)} | ${triple(v, false, 3)} (n=${v.n}) | — | ${limit === undefined ? "—" : `target ≤ ${limit}`} | ${verdict} |`,
        );
    };
    tl("down timer lateness (last advert → transition − bound)", (s) => s.timerLatenessMs);
    tl("transition → VIP added", (s) => s.timeline?.transitionToVipAdded ?? null);
    tl("VIP added → first announcement sent", (s) => s.timeline?.vipAddedToFirstAnnounce ?? null, 0.5);
  }
  if (r.falsePositives.length > 0) {
    out.push("", "False positives (no fault; both pairs on one LAN under stress-ng):", "");
    out.push(
      "| agent | interval | period | stress-ng --cpu | spurious transitions | adverts seen | worst advert gap / budget (MDI) | worst timer lateness (status, master/backup) |",
    );
    out.push("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const f of r.falsePositives) {
      const lat =
        f.agent === "vipd"
          ? `${f.worstTimerLatenessMs.master?.toFixed(3) ?? "n/a"} / ${f.worstTimerLatenessMs.backup?.toFixed(3) ?? "n/a"} ms`
          : "—";
      out.push(
        `| ${f.agent} | ${fmtInterval(f.intervalMs)} | ${f.durationS} s | ${f.stressCpus} | ${f.spuriousTransitions} | ${f.advertsSeen} | ${f.worstAdvertGapMs.toFixed(2)} / ${f.budgetMs.toFixed(1)} ms${fmtSteal(f.worstGapStealMs)} | ${lat} |`,
      );
    }
    const over = r.falsePositives.filter((f) => f.gapsOverBudget.length > 0);
    if (over.length > 0) {
      out.push(
        "",
        "Gaps over the budget, with the most steal one CPU had around each (100 ms readings of /proc/stat; context, not a correction):",
        "",
      );
      for (const f of over) {
        const list = [...f.gapsOverBudget].sort((x, y) => y.gapMs - x.gapMs);
        const shown = list.slice(0, GAPS_LISTED).map((g) => `${g.gapMs.toFixed(1)} ms${fmtSteal(g.stealMs)}`);
        const more = list.length > GAPS_LISTED ? `, and ${list.length - GAPS_LISTED} more` : "";
        out.push(`- ${f.agent}: ${shown.join("; ")}${more}`);
      }
    }
    const p = r.falsePositives[0]?.platform;
    if (p) {
      out.push(
        "",
        `The machine's floor in the same period: a bare SCHED_RR sleeper (priority 10, 1 ms sleeps, ${p.samples} wake-ups) woke up late by p99 ${p.p99Ms.toFixed(2)} / p99.9 ${p.p999Ms.toFixed(2)} / worst ${p.worstMs.toFixed(2)} ms, ${p.over5Ms} times over 5 ms and ${p.over10Ms} over 10 ms.`,
      );
    }
  }
  if (r.scale.length > 0) {
    out.push(
      "",
      "Scale (CPU % of one core over the window, and the peak RSS of one sample a second, of every process of the host; master host / backup host):",
      "",
    );
    const rt = r.scale.find((s) => s.agent === "vipd" && s.realtimePriority !== null)?.realtimePriority;
    if (rt !== undefined && rt !== null)
      out.push(
        `vipd ran with global.realtime_priority: ${rt}${rt === 0 ? " (no realtime scheduling, as keepalived here)" : ""}, not the default the unit runs with.`,
        "",
      );
    out.push(
      "| VRIDs | interval | vipd CPU % | keepalived CPU % | vipd CPU %, 2nd half | keepalived CPU %, 2nd half | vipd RSS MiB | keepalived RSS MiB |",
    );
    out.push("| --- | --- | --- | --- | --- | --- | --- | --- |");
    const keys = [...new Set(r.scale.map((s) => `${s.vrids}/${s.intervalMs}`))];
    for (const key of keys) {
      const [n, iv] = key.split("/").map(Number) as [number, number];
      const get = (a: AgentKind) =>
        r.scale.find((s) => s.agent === a && s.vrids === n && s.intervalMs === iv);
      const v = get("vipd");
      const k = get("keepalived");
      const cpu = (s: ScaleResult | undefined) =>
        s ? `${s.masterCpuPercent.toFixed(1)} / ${s.backupCpuPercent.toFixed(1)}` : "n/a";
      const late = (s: ScaleResult | undefined) =>
        s ? `${s.masterCpuLatePercent.toFixed(1)} / ${s.backupCpuLatePercent.toFixed(1)}` : "n/a";
      const rss = (s: ScaleResult | undefined) =>
        s ? `${s.masterRssMiB.toFixed(1)} / ${s.backupRssMiB.toFixed(1)}` : "n/a";
      out.push(
        `| ${n} | ${fmtInterval(iv)} | ${cpu(v)} | ${cpu(k)} | ${late(v)} | ${late(k)} | ${rss(v)} | ${rss(k)} |`,
      );
    }
    // Context: a window with takeovers in it, or with the hypervisor's steal time, measured more
    // than the agent's steady state.
    const notes = r.scale
      .filter((s) => s.transitionsInWindow.master + s.transitionsInWindow.backup > 0 || s.stealMs > 0)
      .map(
        (s) =>
          `${s.agent} ${s.vrids} VRIDs at ${fmtInterval(s.intervalMs)}: ${s.transitionsInWindow.master} / ${s.transitionsInWindow.backup} state changes (master / backup host), ${s.stealMs} ms of steal`,
      );
    if (notes.length > 0)
      out.push(
        "",
        "In the windows above (nothing should change state in them):",
        "",
        ...notes.map((n) => `- ${n}`),
      );
  }
  if (r.startup.length > 0) {
    out.push("", "Start-up (ms from spawn; median / p95 / max):", "");
    out.push("| agent | → READY=1 | → started log line | → first advert | MDI of a lone node |");
    out.push("| --- | --- | --- | --- | --- |");
    for (const a of ["vipd", "keepalived"] as AgentKind[]) {
      const s = r.startup.filter((x) => x.agent === a);
      if (s.length === 0) continue;
      const ready = s.map((x) => x.readyMs).filter((v): v is number => v !== null);
      out.push(
        `| ${a} | ${ready.length ? triple(summarize(ready), false, 1) : "no READY sent"} | ${triple(summarize(s.map((x) => x.startedLogMs)), false, 1)} | ${triple(summarize(s.map((x) => x.firstAdvertMs)), false, 1)} | ${s[0]!.masterDownMs.toFixed(1)} |`,
      );
    }
  }
  if (r.orphan.length > 0) {
    out.push("", "VIP left on a SIGKILLed master (duplicate address on the LAN):", "");
    out.push("| agent | what removes it | VIP lingers | note |");
    out.push("| --- | --- | --- | --- |");
    for (const o of r.orphan)
      out.push(
        `| ${o.agent} | ${o.method} | ${o.vipLingersMs === null ? `still there after ${o.waitS} s` : `${o.vipLingersMs.toFixed(1)} ms`} | ${o.note} |`,
      );
  }
  if (r.errors.length > 0) out.push("", "Errors:", "", ...r.errors.map((e) => `- ${e.split("\n")[0]}`));
  return `${out.join("\n")}\n`;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

/** One panel per interval; one row per agent and fault; dots = runs, bars = median and p95. */
export function takeoverSvg(samples: readonly FailoverSample[]): string {
  const intervals = [...new Set(samples.map((s) => s.intervalMs))].sort((a, b) => b - a);
  const rows: { agent: AgentKind; fault: Fault }[] = [];
  for (const fault of ["cut", "kill", "stop"] as Fault[])
    for (const agent of ["vipd", "keepalived"] as AgentKind[]) rows.push({ agent, fault });
  const W = 760;
  const left = 170;
  const right = 30;
  const rowH = 22;
  const panelH = rows.length * rowH + 60;
  const H = Math.max(1, intervals.length) * panelH + 20;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  intervals.forEach((iv, p) => {
    const top = p * panelH + 20;
    const inPanel = samples.filter((s) => s.intervalMs === iv);
    const values = inPanel.map((s) => s.overheadMs);
    const lo = Math.min(0, ...values);
    const hi = Math.max(lo + 0.5, ...values);
    const x = (v: number) => left + ((v - lo) / (hi - lo)) * (W - left - right);
    parts.push(
      `<text x="10" y="${top}" font-weight="bold">${esc(`takeover overhead above the RFC bound, advert interval ${fmtInterval(iv)} (ms)`)}</text>`,
    );
    rows.forEach((r, i) => {
      const y = top + 20 + i * rowH;
      const vals = inPanel.filter((s) => s.agent === r.agent && s.fault === r.fault).map((s) => s.overheadMs);
      const color = r.agent === "vipd" ? "#1f77b4" : "#d62728";
      parts.push(
        `<text x="10" y="${y + 4}" fill="${color}">${esc(`${r.agent} ${FAULT_TEXT[r.fault]}`)}</text>`,
      );
      parts.push(`<line x1="${left}" y1="${y}" x2="${W - right}" y2="${y}" stroke="#eee"/>`);
      for (const v of vals)
        parts.push(`<circle cx="${x(v).toFixed(1)}" cy="${y}" r="3" fill="${color}" fill-opacity="0.5"/>`);
      const s = summarize(vals);
      if (s.median !== null)
        parts.push(
          `<line x1="${x(s.median).toFixed(1)}" y1="${y - 8}" x2="${x(s.median).toFixed(1)}" y2="${y + 8}" stroke="black" stroke-width="2"/>`,
        );
      if (s.p95 !== null)
        parts.push(
          `<line x1="${x(s.p95).toFixed(1)}" y1="${y - 6}" x2="${x(s.p95).toFixed(1)}" y2="${y + 6}" stroke="black" stroke-dasharray="2,2"/>`,
        );
    });
    const axisY = top + 20 + rows.length * rowH;
    parts.push(`<line x1="${left}" y1="${axisY}" x2="${W - right}" y2="${axisY}" stroke="black"/>`);
    for (let t = 0; t <= 5; t++) {
      const v = lo + ((hi - lo) * t) / 5;
      parts.push(
        `<line x1="${x(v).toFixed(1)}" y1="${axisY}" x2="${x(v).toFixed(1)}" y2="${axisY + 4}" stroke="black"/>`,
      );
      parts.push(
        `<text x="${x(v).toFixed(1)}" y="${axisY + 16}" text-anchor="middle">${v.toFixed(2)}</text>`,
      );
    }
  });
  parts.push(
    `<text x="${W - 10}" y="${H - 4}" text-anchor="end" font-size="10">dots: runs; solid bar: median; dashed: p95</text>`,
    "</svg>",
  );
  return `${parts.join("\n")}\n`;
}
