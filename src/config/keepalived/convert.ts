import { isIP } from "node:net";
import { Document, isMap, isPair, isScalar, isSeq, type Pair } from "yaml";
import { type ImportWarning, KeepalivedImportError } from "./errors.js";
import { splitCommand, type Token } from "./lexer.js";
import type { ConfNode } from "./parser.js";

/** Top-level keepalived keywords; a file with none of them is not keepalived syntax. */
const TOP_LEVEL = new Set([
  "global_defs",
  "vrrp_instance",
  "vrrp_sync_group",
  "vrrp_script",
  "vrrp_track_file",
  "track_file",
  "vrrp_track_process",
  "track_process",
  "static_ipaddress",
  "static_routes",
  "static_rules",
  "virtual_server",
  "virtual_server_group",
  "bfd_instance",
  "garp_group",
  "linkbeat_use_polling",
  "net_namespace",
  "net_namespace_ipvs",
  "namespace_with_ipsets",
  "instance",
  "use_pid_dir",
  "child_wait_time",
]);

const KEYWORD = /^[A-Za-z_][A-Za-z0-9_]*$/;

const NO_EQUIVALENT = "no vipd equivalent; not carried over";
const LVS = "LVS load balancing is not part of vipd; keep ipvsadm or keepalived for it";
const EMAIL = "e-mail notification is not part of vipd; send mail from a notify hook";

/** Why each known but unsupported keyword cannot be carried over. */
const TOP_LEVEL_REASONS: Record<string, string> = {
  virtual_server: LVS,
  virtual_server_group: LVS,
  static_ipaddress: "vipd does not manage static addresses; use the system network configuration",
  static_routes: "vipd does not manage static routes; use the system network configuration",
  static_rules: "vipd does not manage static rules; use the system network configuration",
  vrrp_track_process: "process tracking is not implemented; use a vrrp_script (track_scripts)",
  track_process: "process tracking is not implemented; use a vrrp_script (track_scripts)",
  bfd_instance: "BFD tracking is not implemented",
  garp_group: "gratuitous ARP groups are not implemented; only the global garp_* settings are",
  net_namespace: "vipd runs in the namespace it is started in (use systemd or ip netns exec)",
};

const GLOBAL_REASONS: Record<string, string> = {
  notification_email: EMAIL,
  notification_email_from: EMAIL,
  smtp_server: EMAIL,
  smtp_connect_timeout: EMAIL,
  smtp_helo_name: EMAIL,
  vrrp_mcast_group4: "vipd always uses the standard group 224.0.0.18",
  vrrp_mcast_group6: "vipd always uses the standard group ff02::12",
  vrrp_strict: "vipd has no strict mode; only its effect on accept (off unless set) is carried over",
  vrrp_gna_interval: "vipd spaces ARP and NA announcements with the one garp_interval",
  vrrp_garp_master_refresh_repeat: NO_EQUIVALENT,
  vrrp_garp_lower_prio_delay: NO_EQUIVALENT,
  vrrp_garp_lower_prio_repeat: NO_EQUIVALENT,
  vrrp_skip_check_adv_addr: "vipd always compares the address list of received adverts",
  lvs_id: LVS,
  lvs_sync_daemon: LVS,
  lvs_flush: LVS,
  enable_traps: "SNMP is not implemented; vipd exposes Prometheus metrics",
  enable_snmp_vrrp: "SNMP is not implemented; vipd exposes Prometheus metrics",
  enable_snmp_keepalived: "SNMP is not implemented; vipd exposes Prometheus metrics",
};

const VMAC =
  "vipd adds the VIPs to the interface itself and has no virtual-MAC interface; neighbours relearn the MAC from the gratuitous ARP / NA sent at takeover";

const INSTANCE_REASONS: Record<string, string> = {
  use_vmac: VMAC,
  vmac_xmit_base: VMAC,
  authentication:
    "VRRPv2 authentication is not implemented (RFC 5798 removed it); remove it from the keepalived peers too, or they will drop vipd adverts",
  virtual_routes: "vipd does not manage routes; add them from a notify_master hook",
  virtual_rules: "vipd does not manage routing rules; add them from a notify_master hook",
  mcast_src_ip: "vipd sends multicast adverts from the interface primary address; no override",
  smtp_alert: EMAIL,
  dont_track_primary: "vipd always tracks the state of the instance interface",
  track_process: "process tracking is not implemented; use a vrrp_script (track_scripts)",
  track_bfd: "BFD tracking is not implemented",
  lvs_sync_daemon_interface: LVS,
  strict_mode: "vipd has no strict mode; only its effect on accept (off in strict mode) is carried over",
  garp_interval: "vipd has only the global garp_interval; set it under global if needed",
  gna_interval: "vipd spaces ARP and NA announcements with the one global garp_interval",
  unicast_ttl: "vipd always sends with TTL / hop limit 255 as the RFC requires",
};

const NOTIFY_KEYWORDS = new Set(["notify", "notify_master", "notify_backup", "notify_fault", "notify_stop"]);

const SYNC_GROUP_REASONS: Record<string, string> = {
  smtp_alert: EMAIL,
  track_script: "tracking belongs to the instances in vipd; add it to each member instance",
  track_interface: "tracking belongs to the instances in vipd; add it to each member instance",
  track_file: "tracking belongs to the instances in vipd; add it to each member instance",
};

const INSTANCE_KEY_ORDER = [
  "interface",
  "vrid",
  "priority",
  "advert_interval",
  "version",
  "state",
  "nopreempt",
  "preempt_delay",
  "accept",
  "unicast_src_ip",
  "unicast_peers",
  "virtual_ips",
  "virtual_ips_excluded",
  "track_interfaces",
  "track_scripts",
  "track_files",
  "notify",
  "notify_master",
  "notify_backup",
  "notify_fault",
  "notify_stop",
  "garp_master_delay",
  "garp_master_repeat",
  "garp_master_refresh",
];

const GLOBAL_KEY_ORDER = [
  "router_id",
  "vrrp_version",
  "script_user",
  "enable_script_security",
  "garp_master_delay",
  "garp_master_repeat",
  "garp_interval",
  "garp_master_refresh",
];

type Family = "ipv4" | "ipv6";
type Vip = string | { address: string; dev?: string; label?: string };
type TrackRef = string | { name: string; weight: number };
type Parsed = { vip: Vip; family: Family; address: string; at: Token };

const familyName = (f: Family | null): string => (f === "ipv6" ? "IPv6" : "IPv4");

interface InstanceDraft {
  name: string;
  at: Token;
  out: Record<string, unknown>;
  explicitAccept: boolean | null;
  strictMode: boolean | null;
  family: Family | null;
  scriptRefs: { name: string; at: Token }[];
  fileRefs: { name: string; at: Token }[];
}

/** Where a note is attached in the output: '' is the top of the document, else a key path. */
type NoteTarget = string[];

class Converter {
  readonly warnings: ImportWarning[] = [];
  private readonly notes = new Map<string, { target: NoteTarget; lines: string[] }>();
  private readonly global: Record<string, unknown> = {};
  private globalStrict = false;
  private globalVersionSet = false;
  private readonly scripts = new Map<string, Record<string, unknown>>();
  private readonly files = new Map<string, Record<string, unknown>>();
  private readonly instances: InstanceDraft[] = [];
  private readonly groups = new Map<string, { at: Token; out: Record<string, unknown>; refs: Token[] }>();

  warn(target: NoteTarget, at: Token, keyword: string, why: string): void {
    const message = `${keyword}: ${why}`;
    this.warnings.push({ file: at.file, line: at.line, message });
    const key = target.join("\u0000");
    let entry = this.notes.get(key);
    if (!entry) {
      entry = { target, lines: [] };
      this.notes.set(key, entry);
    }
    entry.lines.push(` ${at.file}:${at.line}: ${message}`);
  }

  note(target: NoteTarget, line: string): void {
    const key = target.join("\u0000");
    let entry = this.notes.get(key);
    if (!entry) {
      entry = { target, lines: [] };
      this.notes.set(key, entry);
    }
    entry.lines.push(` ${line}`);
  }

  // ---- value helpers -------------------------------------------------------------------------

  private single(target: NoteTarget, node: ConfNode): string | null {
    const first = node.args[0];
    if (!first) {
      this.warn(target, node.keyword, node.keyword.text, "needs a value; not carried over");
      return null;
    }
    if (node.args.length > 1) {
      this.warn(
        target,
        node.keyword,
        node.keyword.text,
        `extra words ignored: ${node.args
          .slice(1)
          .map((a) => a.text)
          .join(" ")}`,
      );
    }
    return first.text;
  }

  /** The rest of the line as one command string (one quoted token, or the words joined). */
  private command(target: NoteTarget, node: ConfNode): string | null {
    if (node.args.length === 0) {
      this.warn(target, node.keyword, node.keyword.text, "needs a value; not carried over");
      return null;
    }
    return node.args.map((a) => a.text).join(" ");
  }

  /** A notify hook: vipd takes an absolute path and passes keepalived's own arguments only. */
  private notifyPath(target: NoteTarget, node: ConfNode): string | null {
    const text = this.command(target, node);
    if (text === null) return null;
    const { argv } = splitCommand(text);
    const path = argv[0];
    if (!path?.startsWith("/")) {
      this.warn(
        target,
        node.keyword,
        node.keyword.text,
        `'${text}' is not an absolute path; not carried over`,
      );
      return null;
    }
    if (argv.length > 1) {
      this.warn(
        target,
        node.keyword,
        node.keyword.text,
        `vipd runs ${path} without the arguments '${argv.slice(1).join(" ")}'; wrap the call in a script if it needs them`,
      );
    }
    return path;
  }

  private integer(target: NoteTarget, node: ConfNode, min: number, max: number): number | null {
    const text = this.single(target, node);
    if (text === null) return null;
    if (!/^[+-]?\d+$/.test(text)) {
      this.warn(target, node.keyword, node.keyword.text, `'${text}' is not an integer; not carried over`);
      return null;
    }
    const value = Number(text);
    if (value < min || value > max) {
      this.warn(
        target,
        node.keyword,
        node.keyword.text,
        `${value} is outside ${min}..${max}; not carried over`,
      );
      return null;
    }
    return value;
  }

  /** keepalived's seconds (decimals allowed) as a vipd duration string. */
  private duration(target: NoteTarget, node: ConfNode, stepMs = 1): string | null {
    const text = this.single(target, node);
    if (text === null) return null;
    if (!/^\d+(\.\d+)?$/.test(text)) {
      this.warn(
        target,
        node.keyword,
        node.keyword.text,
        `'${text}' is not a number of seconds; not carried over`,
      );
      return null;
    }
    const exactMs = Number(text) * 1000;
    const ms = Math.round(exactMs / stepMs) * stepMs;
    if (Math.abs(ms - exactMs) > 1e-6) {
      this.warn(target, node.keyword, node.keyword.text, `${text}s rounded to ${formatMs(ms)}`);
    }
    return formatMs(ms);
  }

  private weight(
    target: NoteTarget,
    keyword: string,
    at: Token,
    args: Token[],
    min: number,
    max: number,
  ): number | null {
    // args: weight N [reverse]
    let weight: number | null = null;
    for (let k = 0; k < args.length; k++) {
      const a = args[k]!;
      if (a.text === "weight") {
        const v = args[k + 1];
        if (!v || !/^[+-]?\d+$/.test(v.text) || Number(v.text) < min || Number(v.text) > max) {
          this.warn(target, at, keyword, `weight must be an integer in ${min}..${max}; not carried over`);
        } else weight = Number(v.text);
        k++;
      } else if (a.text === "reverse") {
        this.warn(target, at, keyword, "reverse weights are not supported; the weight is kept as written");
      } else {
        this.warn(target, at, keyword, `'${a.text}' ignored`);
      }
    }
    return weight;
  }

  private unsupportedBlockKeyword(target: NoteTarget, node: ConfNode, reasons: Record<string, string>): void {
    const kw = node.keyword.text;
    this.warn(target, node.keyword, kw, reasons[kw] ?? NO_EQUIVALENT);
  }

  // ---- sections ------------------------------------------------------------------------------

  globalDefs(node: ConfNode): void {
    const target = ["global"];
    for (const child of node.children ?? []) {
      const kw = child.keyword.text;
      switch (kw) {
        case "router_id": {
          const v = this.single(target, child);
          if (v !== null) this.global.router_id = v;
          break;
        }
        case "script_user": {
          const user = child.args[0];
          if (!user) {
            this.warn(target, child.keyword, kw, "needs a user name; not carried over");
            break;
          }
          this.global.script_user = user.text;
          if (child.args[1]) {
            this.warn(
              target,
              child.keyword,
              kw,
              `group ${child.args[1].text} not carried over; hooks run with the user's primary group`,
            );
          }
          break;
        }
        case "enable_script_security":
          this.global.enable_script_security = true;
          break;
        case "vrrp_garp_master_delay": {
          const v = this.duration(target, child, 1000);
          if (v !== null) this.global.garp_master_delay = v;
          break;
        }
        case "vrrp_garp_master_repeat": {
          const v = this.integer(target, child, 1, 255);
          if (v !== null) this.global.garp_master_repeat = v;
          break;
        }
        case "vrrp_garp_master_refresh": {
          const v = this.duration(target, child, 1000);
          if (v !== null) this.global.garp_master_refresh = v;
          break;
        }
        case "vrrp_garp_interval": {
          const v = this.duration(target, child);
          if (v !== null) this.global.garp_interval = v;
          break;
        }
        case "vrrp_version": {
          const v = this.integer(target, child, 2, 3);
          if (v !== null) {
            this.global.vrrp_version = v;
            this.globalVersionSet = true;
          }
          break;
        }
        case "vrrp_strict":
          this.globalStrict = true;
          this.unsupportedBlockKeyword(target, child, GLOBAL_REASONS);
          break;
        default:
          this.unsupportedBlockKeyword(target, child, GLOBAL_REASONS);
      }
    }
  }

  vrrpScript(node: ConfNode): void {
    const name = node.args[0]?.text;
    if (!name) {
      this.warn([], node.keyword, node.keyword.text, "needs a name; not carried over");
      return;
    }
    if (this.scripts.has(name)) {
      this.warn(
        [],
        node.keyword,
        node.keyword.text,
        `${name} is defined twice; the first definition is kept`,
      );
      return;
    }
    const target = ["track_scripts", name];
    const out: Record<string, unknown> = {};
    for (const child of node.children ?? []) {
      const kw = child.keyword.text;
      switch (kw) {
        case "script": {
          const text = this.command(target, child);
          if (text === null) break;
          const { argv, shellSyntax } = splitCommand(text);
          out.script = argv;
          if (shellSyntax) {
            this.warn(
              target,
              child.keyword,
              kw,
              'contains shell syntax; vipd runs scripts without a shell, so wrap it as [/bin/sh, -c, "..."] if it needs one',
            );
          }
          break;
        }
        case "interval":
        case "timeout": {
          const v = this.duration(target, child);
          if (v !== null) out[kw] = v;
          break;
        }
        case "rise":
        case "fall": {
          const v = this.integer(target, child, 1, 1000);
          if (v !== null) out[kw] = v;
          break;
        }
        case "weight": {
          const w = this.weight(target, kw, child.keyword, [child.keyword, ...child.args], -253, 253);
          if (w !== null) out.weight = w;
          break;
        }
        case "user":
          this.warn(
            target,
            child.keyword,
            kw,
            "vipd runs every hook as global.script_user; per-script users are not carried over",
          );
          break;
        case "init_fail":
          this.warn(
            target,
            child.keyword,
            kw,
            "vipd starts every script in the failed state until it has risen",
          );
          break;
        default:
          this.unsupportedBlockKeyword(target, child, {});
      }
    }
    if (!out.script) this.warn(target, node.keyword, node.keyword.text, `${name} has no script line`);
    this.scripts.set(name, out);
  }

  trackFile(node: ConfNode): void {
    const name = node.args[0]?.text;
    if (!name) {
      this.warn([], node.keyword, node.keyword.text, "needs a name; not carried over");
      return;
    }
    if (this.files.has(name)) {
      this.warn(
        [],
        node.keyword,
        node.keyword.text,
        `${name} is defined twice; the first definition is kept`,
      );
      return;
    }
    const target = ["track_files", name];
    const out: Record<string, unknown> = {};
    for (const child of node.children ?? []) {
      const kw = child.keyword.text;
      switch (kw) {
        case "file": {
          const v = this.single(target, child);
          if (v === null) break;
          if (v.startsWith("/")) out.file = v;
          else this.warn(target, child.keyword, kw, `'${v}' is not an absolute path; not carried over`);
          break;
        }
        case "weight": {
          const w = this.weight(target, kw, child.keyword, [child.keyword, ...child.args], -253, 253);
          if (w !== null) out.weight = w;
          break;
        }
        case "init_file":
          this.warn(target, child.keyword, kw, "vipd does not create the file; create it before starting");
          break;
        default:
          this.unsupportedBlockKeyword(target, child, {});
      }
    }
    if (!out.file) this.warn(target, node.keyword, node.keyword.text, `${name} has no file line`);
    this.files.set(name, out);
  }

  private vip(target: NoteTarget, node: ConfNode): { vip: Vip; family: Family; address: string } | null {
    const text = node.keyword.text;
    const slash = text.indexOf("/");
    const bare = slash >= 0 ? text.slice(0, slash) : text;
    const kind = isIP(bare);
    if (kind === 0) {
      this.warn(target, node.keyword, text, "not an IP address; not carried over");
      return null;
    }
    const family: Family = kind === 4 ? "ipv4" : "ipv6";
    let prefix = family === "ipv4" ? 32 : 128; // keepalived's default when no /prefix is given
    if (slash >= 0) {
      const p = text.slice(slash + 1);
      if (!/^\d+$/.test(p) || Number(p) > (family === "ipv4" ? 32 : 128)) {
        this.warn(target, node.keyword, text, `'/${p}' is not a valid prefix length; not carried over`);
        return null;
      }
      prefix = Number(p);
    }
    const address = `${bare}/${prefix}`;
    let dev: string | undefined;
    let label: string | undefined;
    const args = node.args;
    for (let k = 0; k < args.length; k++) {
      const opt = args[k]!.text;
      const value = args[k + 1]?.text;
      if (opt === "dev" && value !== undefined) {
        dev = value;
        k++;
      } else if (opt === "label" && value !== undefined) {
        if (family === "ipv6") {
          this.warn(
            target,
            args[k]!,
            `${text} label`,
            "labels apply to IPv4 only (keepalived ignores them too)",
          );
        } else label = value;
        k++;
      } else if (
        ["brd", "broadcast", "scope", "peer", "metric", "preferred_lft", "valid_lft"].includes(opt)
      ) {
        this.warn(target, args[k]!, `${text} ${opt}`, "address option not supported; not carried over");
        if (value !== undefined) k++;
      } else {
        this.warn(target, args[k]!, `${text} ${opt}`, "address option not supported; not carried over");
      }
    }
    let vip: Vip = address;
    if (dev !== undefined || label !== undefined) {
      vip = { address };
      if (dev !== undefined) vip.dev = dev;
      if (label !== undefined) vip.label = label;
    }
    return { vip, family, address };
  }

  private trackList(
    target: NoteTarget,
    node: ConfNode,
    min: number,
    max: number,
    onRef?: (name: string, at: Token) => void,
  ): TrackRef[] {
    const list: TrackRef[] = [];
    for (const child of node.children ?? []) {
      const name = child.keyword.text;
      onRef?.(name, child.keyword);
      const w =
        child.args.length > 0
          ? this.weight(target, `${node.keyword.text} ${name}`, child.keyword, child.args, min, max)
          : null;
      list.push(w === null ? name : { name, weight: w });
    }
    return list;
  }

  vrrpInstance(node: ConfNode): void {
    const name = node.args[0]?.text;
    if (!name) {
      this.warn([], node.keyword, node.keyword.text, "needs a name; not carried over");
      return;
    }
    if (this.instances.some((d) => d.name === name)) {
      this.warn(
        [],
        node.keyword,
        node.keyword.text,
        `${name} is defined twice; the first definition is kept`,
      );
      return;
    }
    const target = ["instances", name];
    const draft: InstanceDraft = {
      name,
      at: node.keyword,
      out: {},
      explicitAccept: null,
      strictMode: null,
      family: null,
      scriptRefs: [],
      fileRefs: [],
    };
    const out = draft.out;
    const vips: Parsed[] = [];
    const excluded: Parsed[] = [];
    let nativeIpv6: Token | null = null;
    for (const child of node.children ?? []) {
      const kw = child.keyword.text;
      switch (kw) {
        case "state": {
          const v = this.single(target, child);
          if (v === null) break;
          if (v === "MASTER" || v === "BACKUP") out.state = v;
          else this.warn(target, child.keyword, kw, `'${v}' is not MASTER or BACKUP; not carried over`);
          break;
        }
        case "interface": {
          const v = this.single(target, child);
          if (v !== null) out.interface = v;
          break;
        }
        case "virtual_router_id": {
          const v = this.integer(target, child, 1, 255);
          if (v !== null) out.vrid = v;
          break;
        }
        case "priority": {
          const v = this.integer(target, child, 1, 255);
          if (v !== null) out.priority = v;
          break;
        }
        case "advert_int": {
          const v = this.duration(target, child, 10);
          if (v !== null) out.advert_interval = v;
          break;
        }
        case "version": {
          const v = this.integer(target, child, 2, 3);
          if (v !== null) out.version = v;
          break;
        }
        case "nopreempt":
          out.nopreempt = true;
          break;
        case "preempt":
          // older keepalived spelling of the default; nothing to carry
          break;
        case "preempt_delay": {
          const v = this.duration(target, child, 1);
          if (v !== null) out.preempt_delay = v;
          break;
        }
        case "accept":
          draft.explicitAccept = true;
          break;
        case "no_accept":
          draft.explicitAccept = false;
          break;
        case "strict_mode": {
          const v = child.args[0]?.text ?? "on";
          draft.strictMode = v === "on" || v === "true" || v === "yes";
          this.unsupportedBlockKeyword(target, child, INSTANCE_REASONS);
          break;
        }
        case "native_ipv6":
          nativeIpv6 = child.keyword;
          break;
        case "unicast_src_ip": {
          const v = this.single(target, child);
          if (v === null) break;
          if (isIP(v) === 0)
            this.warn(target, child.keyword, kw, `'${v}' is not an IP address; not carried over`);
          else out.unicast_src_ip = v;
          break;
        }
        case "unicast_peer": {
          const peers: string[] = [];
          for (const p of child.children ?? []) {
            if (isIP(p.keyword.text) === 0) {
              this.warn(
                target,
                p.keyword,
                `unicast_peer ${p.keyword.text}`,
                "not an IP address; not carried over",
              );
              continue;
            }
            peers.push(p.keyword.text);
            if (p.args.length > 0) {
              this.warn(
                target,
                p.keyword,
                `unicast_peer ${p.keyword.text}`,
                `options not supported: ${p.args.map((a) => a.text).join(" ")}`,
              );
            }
          }
          if (peers.length > 0) out.unicast_peers = peers;
          else this.warn(target, child.keyword, kw, "has no valid peer; the instance stays multicast");
          break;
        }
        case "virtual_ipaddress":
          for (const v of child.children ?? []) {
            const parsed = this.vip(target, v);
            if (parsed) vips.push({ ...parsed, at: v.keyword });
          }
          break;
        case "virtual_ipaddress_excluded":
          for (const v of child.children ?? []) {
            const parsed = this.vip(target, v);
            if (parsed) excluded.push({ ...parsed, at: v.keyword });
          }
          break;
        case "track_interface":
          out.track_interfaces = this.trackList(target, child, -253, 253);
          break;
        case "track_script":
          out.track_scripts = this.trackList(target, child, -253, 253, (n, at) =>
            draft.scriptRefs.push({ name: n, at }),
          );
          break;
        case "track_file":
          out.track_files = this.trackList(target, child, -253, 253, (n, at) =>
            draft.fileRefs.push({ name: n, at }),
          );
          break;
        case "notify":
        case "notify_master":
        case "notify_backup":
        case "notify_fault":
        case "notify_stop": {
          const v = this.notifyPath(target, child);
          if (v !== null) out[kw] = v;
          break;
        }
        case "garp_master_delay":
        case "garp_master_refresh": {
          const v = this.duration(target, child, 1000);
          if (v !== null) out[kw] = v;
          break;
        }
        case "garp_master_repeat": {
          const v = this.integer(target, child, 1, 255);
          if (v !== null) out[kw] = v;
          break;
        }
        default:
          this.unsupportedBlockKeyword(target, child, INSTANCE_REASONS);
      }
    }
    // vipd carries one family per instance: the first VIP's, as keepalived does
    let family: Family | null = vips[0]?.family ?? null;
    if (!family && nativeIpv6) family = "ipv6";
    if (!family && Array.isArray(out.unicast_peers)) {
      family = isIP(String(out.unicast_peers[0])) === 6 ? "ipv6" : "ipv4";
    }
    draft.family = family;
    if (nativeIpv6 && family !== "ipv6") {
      this.warn(target, nativeIpv6, "native_ipv6", "ignored: the instance virtual addresses are IPv4");
    }
    const sameFamily = (list: Parsed[], kw: string): Vip[] => {
      const kept: Vip[] = [];
      for (const v of list) {
        if (v.family === family) kept.push(v.vip);
        else {
          this.warn(
            target,
            v.at,
            `${kw} ${v.address}`,
            `${familyName(v.family)} address in an ${familyName(family)} instance; vipd keeps one family per instance, so add a separate instance (own vrid) for it`,
          );
        }
      }
      return kept;
    };
    const kept = sameFamily(vips, "virtual_ipaddress");
    if (kept.length > 0) out.virtual_ips = kept;
    else this.warn(target, node.keyword, `vrrp_instance ${name}`, "has no virtual_ipaddress");
    const keptExcluded = sameFamily(excluded, "virtual_ipaddress_excluded");
    if (keptExcluded.length > 0) out.virtual_ips_excluded = keptExcluded;
    for (const required of ["interface", "vrid"] as const) {
      if (out[required] === undefined) {
        const kwName = required === "vrid" ? "virtual_router_id" : "interface";
        this.warn(target, node.keyword, `vrrp_instance ${name}`, `has no ${kwName}`);
      }
    }
    this.instances.push(draft);
  }

  syncGroup(node: ConfNode): void {
    const name = node.args[0]?.text;
    if (!name) {
      this.warn([], node.keyword, node.keyword.text, "needs a name; not carried over");
      return;
    }
    if (this.groups.has(name)) {
      this.warn(
        [],
        node.keyword,
        node.keyword.text,
        `${name} is defined twice; the first definition is kept`,
      );
      return;
    }
    const target = ["sync_groups", name];
    const out: Record<string, unknown> = {};
    const refs: Token[] = [];
    for (const child of node.children ?? []) {
      const kw = child.keyword.text;
      if (kw === "group") {
        for (const m of child.children ?? []) {
          refs.push(m.keyword);
          for (const extra of m.args) refs.push(extra); // several names on one line
        }
      } else if (NOTIFY_KEYWORDS.has(kw)) {
        const v = this.notifyPath(target, child);
        if (v !== null) out[kw] = v;
      } else {
        this.unsupportedBlockKeyword(target, child, SYNC_GROUP_REASONS);
      }
    }
    this.groups.set(name, { at: node.keyword, out, refs });
  }

  topLevel(node: ConfNode): void {
    const kw = node.keyword.text;
    switch (kw) {
      case "global_defs":
        this.globalDefs(node);
        break;
      case "vrrp_script":
        this.vrrpScript(node);
        break;
      case "vrrp_track_file":
      case "track_file":
        this.trackFile(node);
        break;
      case "vrrp_instance":
        this.vrrpInstance(node);
        break;
      case "vrrp_sync_group":
        this.syncGroup(node);
        break;
      default: {
        const what = node.args[0] ? `${kw} ${node.args.map((a) => a.text).join(" ")}` : kw;
        const why =
          TOP_LEVEL_REASONS[kw] ??
          (TOP_LEVEL.has(kw) ? NO_EQUIVALENT : "unknown keepalived keyword; not carried over");
        this.warn([], node.keyword, what, why);
      }
    }
  }

  // ---- finishing -----------------------------------------------------------------------------

  finish(): Record<string, unknown> {
    if (!this.globalVersionSet) {
      this.global.vrrp_version = 2;
      this.note(["global"], "vrrp_version: 2 is keepalived's default when vrrp_version is not set");
    }
    const doc: Record<string, unknown> = { global: ordered(this.global, GLOBAL_KEY_ORDER) };
    if (this.scripts.size > 0) doc.track_scripts = Object.fromEntries(this.scripts);
    if (this.files.size > 0) doc.track_files = Object.fromEntries(this.files);
    const instances: Record<string, unknown> = {};
    for (const d of this.instances) {
      const target = ["instances", d.name];
      if (d.out.priority === undefined) d.out.priority = 100; // keepalived's default
      if (d.out.advert_interval === undefined) d.out.advert_interval = "1s"; // keepalived's default
      const strict = d.strictMode ?? this.globalStrict;
      d.out.accept = d.explicitAccept ?? (d.out.priority === 255 ? true : !strict);
      if (d.explicitAccept === null) {
        this.note(
          target,
          `accept: ${String(d.out.accept)} is keepalived's default here (accept unless strict mode)`,
        );
      }
      const version = (d.out.version as number | undefined) ?? (this.global.vrrp_version as number);
      if (
        version === 2 &&
        typeof d.out.advert_interval === "string" &&
        d.out.advert_interval.endsWith("ms")
      ) {
        this.warn(
          target,
          d.at,
          "advert_int",
          "VRRPv2 advertises whole seconds only; fix advert_int before use",
        );
      }
      if (version === 2 && d.family === "ipv6") {
        this.warn(
          target,
          d.at,
          `vrrp_instance ${d.name}`,
          "VRRPv2 carries IPv4 only; set version 3 for IPv6",
        );
      }
      if (Array.isArray(d.out.track_scripts)) {
        d.out.track_scripts = (d.out.track_scripts as TrackRef[]).filter((ref) => {
          const n = typeof ref === "string" ? ref : ref.name;
          if (this.scripts.has(n)) return true;
          const at = d.scriptRefs.find((r) => r.name === n)?.at ?? d.at;
          this.warn(target, at, `track_script ${n}`, "no vrrp_script of that name; dropped");
          return false;
        });
      }
      if (Array.isArray(d.out.track_files)) {
        d.out.track_files = (d.out.track_files as TrackRef[]).filter((ref) => {
          const n = typeof ref === "string" ? ref : ref.name;
          if (this.files.has(n)) return true;
          const at = d.fileRefs.find((r) => r.name === n)?.at ?? d.at;
          this.warn(target, at, `track_file ${n}`, "no vrrp_track_file of that name; dropped");
          return false;
        });
      }
      for (const key of ["track_scripts", "track_files", "track_interfaces"]) {
        if (Array.isArray(d.out[key]) && (d.out[key] as unknown[]).length === 0) delete d.out[key];
      }
      instances[d.name] = ordered(d.out, INSTANCE_KEY_ORDER);
    }
    doc.instances = instances;
    if (this.groups.size > 0) {
      const groups: Record<string, unknown> = {};
      for (const [name, g] of this.groups) {
        const target = ["sync_groups", name];
        const members: string[] = [];
        for (const ref of g.refs) {
          if (this.instances.some((d) => d.name === ref.text)) members.push(ref.text);
          else this.warn(target, ref, `group ${ref.text}`, "no vrrp_instance of that name; dropped");
        }
        if (members.length === 0) {
          this.warn(target, g.at, `vrrp_sync_group ${name}`, "has no member instance; not carried over");
          continue;
        }
        groups[name] = { instances: members, ...g.out };
      }
      if (Object.keys(groups).length > 0) doc.sync_groups = groups;
    }
    return doc;
  }

  render(plain: Record<string, unknown>, source: string): string {
    const doc = new Document(plain);
    const top = [
      ` Converted from ${source} by vipd import-keepalived.`,
      " Review every comment below before use.",
    ];
    for (const { target, lines } of this.notes.values()) {
      const pair = findPair(doc, target);
      if (pair && isScalar(pair.key)) {
        pair.key.commentBefore = pair.key.commentBefore
          ? `${pair.key.commentBefore}\n${lines.join("\n")}`
          : lines.join("\n");
      } else {
        top.push(...lines);
      }
    }
    doc.commentBefore = top.join("\n");
    // short lists read better inline
    flowAt(doc, ["instances", "*", "unicast_peers"]);
    flowAt(doc, ["instances", "*", "track_files"]);
    flowAt(doc, ["track_scripts", "*", "script"]);
    flowAt(doc, ["sync_groups", "*", "instances"]);
    return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function ordered(obj: Record<string, unknown>, order: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of order) if (obj[key] !== undefined) out[key] = obj[key];
  for (const key of Object.keys(obj)) if (!(key in out)) out[key] = obj[key];
  return out;
}

function findPair(doc: Document, path: string[]): Pair | null {
  let node: unknown = doc.contents;
  let pair: Pair | null = null;
  for (const key of path) {
    if (!isMap(node)) return null;
    const found = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
    if (!found) return null;
    pair = found as Pair;
    node = found.value;
  }
  return pair;
}

function flowAt(doc: Document, path: string[]): void {
  const visit = (node: unknown, rest: string[]): void => {
    if (rest.length === 0) {
      if (isSeq(node)) node.flow = true;
      return;
    }
    if (!isMap(node)) return;
    const [head, ...tail] = rest;
    for (const p of node.items) {
      if (isScalar(p.key) && (head === "*" || p.key.value === head)) visit(p.value, tail);
    }
  };
  visit(doc.contents, path);
}

/** Rejects input that is not keepalived syntax before converting anything. */
function assertKeepalived(nodes: ConfNode[], source: string): void {
  for (const node of nodes) {
    const kw = node.keyword;
    if (kw.kind !== "word" || !KEYWORD.test(kw.text)) {
      throw new KeepalivedImportError(
        "NOT_KEEPALIVED",
        kw.file,
        kw.line,
        `'${kw.text}' is not a keepalived keyword`,
      );
    }
  }
  if (!nodes.some((n) => TOP_LEVEL.has(n.keyword.text))) {
    const first = nodes[0]?.keyword;
    throw new KeepalivedImportError(
      "NOT_KEEPALIVED",
      first?.file ?? source,
      first?.line ?? 1,
      "no keepalived section (global_defs, vrrp_instance, vrrp_script, ...) found",
    );
  }
}

export function convertTree(
  nodes: ConfNode[],
  source: string,
  readWarnings: ImportWarning[] = [],
): { yaml: string; warnings: ImportWarning[] } {
  assertKeepalived(nodes, source);
  const c = new Converter();
  for (const w of readWarnings) {
    c.warnings.push(w);
    c.note([], `${w.file}:${w.line}: ${w.message}`);
  }
  for (const node of nodes) c.topLevel(node);
  const plain = c.finish();
  return { yaml: c.render(plain, source), warnings: c.warnings };
}
