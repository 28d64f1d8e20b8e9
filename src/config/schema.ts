// Structural schema of vipd.yaml (zod 4). Cross-field rules live in semantic.ts.
import * as z from "zod";

import { parseDurationMs } from "./duration.js";
import { type Cidr, parseAddress, parseVipCidr } from "./net.js";

/** Integer in [min, max] with one clear message for every way of being wrong. */
function intIn(min: number, max: number) {
  const error = `must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

function duration() {
  return z
    .union([z.number(), z.string()], { error: "must be a duration like 1s or 10ms" })
    .transform((v, ctx) => {
      const r = parseDurationMs(v);
      if (r.type === "ok") return r.ms;
      ctx.issues.push({ code: "custom", message: r.message, input: v });
      return z.NEVER;
    });
}

const bool = () => z.boolean({ error: "must be true or false" });
const text = (what = "a non-empty string") =>
  z.string({ error: `must be ${what}` }).min(1, { error: `must be ${what}` });
const absPath = () =>
  z
    .string({ error: "must be an absolute path" })
    .refine((s) => s.startsWith("/") && !s.includes("\0"), { error: "must be an absolute path" });
const nullablePath = () => absPath().nullable();

const ifname = () =>
  z
    .string({ error: "must be an interface name" })
    .refine((s) => /^[^\s/:]{1,15}$/.test(s) && s !== "." && s !== "..", {
      error: 'must be an interface name (1 to 15 characters, no spaces, "/" or ":")',
    });

/** One IP address (either family), canonical text. */
const ipAddress = () =>
  z.string({ error: "must be an IP address" }).transform((s, ctx) => {
    const a = parseAddress(s.trim());
    if (a) return a;
    ctx.issues.push({ code: "custom", message: `"${s}" is not an IPv4 or IPv6 address`, input: s });
    return z.NEVER;
  });

const cidrText = () =>
  z.string({ error: "must be an address like 192.0.2.100/24" }).transform((s, ctx): Cidr => {
    const r = parseVipCidr(s);
    if (r.type === "ok") return r.cidr;
    ctx.issues.push({ code: "custom", message: r.message, input: s });
    return z.NEVER;
  });

const virtualIp = () =>
  z.union(
    [
      cidrText().transform((cidr) => ({ cidr, dev: null as string | null, label: null as string | null })),
      z.strictObject({
        address: cidrText(),
        dev: ifname().optional(),
        label: z
          .string({ error: "must be a label" })
          .refine((s) => s.length >= 1 && s.length <= 15, { error: "must be 1 to 15 characters (IFNAMSIZ)" })
          .optional(),
      }),
    ],
    { error: "must be an address like 192.0.2.100/24 or { address, dev, label }" },
  );

const weight = () => intIn(-253, 253);

/** A tracker reference: "name" or { name, weight }. */
const trackRef = () =>
  z.union([z.string().min(1), z.strictObject({ name: text("a name"), weight: weight().optional() })], {
    error: "must be a name or { name, weight }",
  });

const checksum = () =>
  z.enum(["pseudo-header", "message-only"], { error: "must be pseudo-header or message-only" });

const announceKeys = {
  garp_master_delay: duration().optional(),
  garp_master_repeat: intIn(1, 255).optional(),
  garp_interval: duration().optional(),
  garp_master_refresh: duration().optional(),
};

const notifyKeys = {
  notify: nullablePath().optional(),
  notify_master: nullablePath().optional(),
  notify_backup: nullablePath().optional(),
  notify_fault: nullablePath().optional(),
  notify_stop: nullablePath().optional(),
  // Added by hooks (issue 4): every event, and the events keepalived has no state script for.
  notify_event: nullablePath().optional(),
  notify_fence_started: nullablePath().optional(),
  notify_fence_failed: nullablePath().optional(),
  notify_split_brain: nullablePath().optional(),
  notify_master_rx_lower_pri: nullablePath().optional(),
};

// ---- Fencing and witness (issue 4) ----------------------------------------------------------

/** Fence agent option names as the fence-agent stdin protocol carries them. */
const fenceArgs = () =>
  z.record(
    z.string(),
    z.union([z.string(), z.number(), z.boolean()], { error: "must be a string, number or boolean" }),
    { error: "must be a mapping of fence agent options (key: value)" },
  );

export const fenceAgentSchema = z.strictObject({
  agent: text("a program path"),
  args: fenceArgs().optional(),
  timeout: duration().optional(),
});

export const fenceSchema = z.strictObject({
  levels: z
    .array(
      z.array(fenceAgentSchema, { error: "a level must be a list of { agent, args }" }).min(1, {
        error: "a level must list at least one agent",
      }),
      { error: "must be a list of levels, each a list of { agent, args }" },
    )
    .min(1, { error: "must list at least one level" }),
  timeout: duration().optional(),
  delay: duration().optional(),
  random_delay: duration().optional(),
  retry: duration().optional(),
  retry_max: duration().optional(),
  nodes: z
    .record(z.string(), text("a node name"), { error: "must map peer addresses to node names" })
    .optional(),
});

export const witnessSchema = z.strictObject({
  type: z.enum(["tcp", "http", "ping"], { error: "must be tcp, http or ping" }),
  host: ipAddress().optional(),
  port: intIn(1, 65535).optional(),
  url: text("a URL").optional(),
  status: intIn(100, 599).optional(),
  interval: duration().optional(),
  timeout: duration().optional(),
  mode: z.enum(["takeover", "always"], { error: "must be takeover or always" }).optional(),
});

const checkKeys = {
  interval: duration().optional(),
  timeout: duration().optional(),
  rise: intIn(1, 1000).optional(),
  fall: intIn(1, 1000).optional(),
  weight: intIn(-253, 253).optional(),
};

export const trackHttpSchema = z.strictObject({
  url: text("a URL like http://127.0.0.1:8080/health"),
  status: z
    .union([intIn(100, 599), z.array(intIn(100, 599)).min(1)], {
      error: "must be an HTTP status code or a list of them",
    })
    .optional(),
  ...checkKeys,
});

export const trackTcpSchema = z.strictObject({
  host: ipAddress(),
  port: intIn(1, 65535),
  ...checkKeys,
});

export const globalSchema = z.strictObject({
  router_id: text().optional(),
  vrrp_version: z.union([z.literal(2), z.literal(3)], { error: "must be 2 or 3" }).optional(),
  checksum: checksum().optional(),
  control_socket: absPath().optional(),
  control_group: z
    .union([text(), z.number().int().min(0)], { error: "must be a group name or gid" })
    .nullable()
    .optional(),
  metrics_listen: z.union([z.string(), z.literal(false)], { error: "must be host:port or false" }).optional(),
  script_user: text("a user name").optional(),
  enable_script_security: bool().optional(),
  ...announceKeys,
  fence: fenceSchema.nullable().optional(),
  witness: witnessSchema.nullable().optional(),
  notify_timeout: duration().optional(),
  notify_retries: intIn(0, 10).optional(),
  realtime_priority: intIn(0, 99).optional(),
  nice: z
    .union([intIn(-20, 19), z.null()], { error: "must be an integer from -20 to 19, or null" })
    .optional(),
});

export const trackScriptSchema = z.strictObject({
  script: z.union([z.string().refine((s) => s.trim().length > 0), z.array(z.string().min(1)).min(1)], {
    error: "must be a command: a list of arguments or a string split on spaces",
  }),
  interval: duration().optional(),
  timeout: duration().optional(),
  rise: intIn(1, 1000).optional(),
  fall: intIn(1, 1000).optional(),
  weight: weight().optional(),
});

export const trackFileSchema = z.strictObject({
  file: absPath(),
  weight: weight().optional(),
});

export const instanceSchema = z.strictObject({
  interface: ifname(),
  vrid: intIn(1, 255),
  priority: intIn(1, 255).optional(),
  advert_interval: duration().optional(),
  version: z.union([z.literal(2), z.literal(3)], { error: "must be 2 or 3" }).optional(),
  state: z.enum(["MASTER", "BACKUP"], { error: "must be MASTER or BACKUP" }).optional(),
  nopreempt: bool().optional(),
  preempt_delay: duration().optional(),
  accept: bool().optional(),
  checksum: checksum().optional(),
  unicast_src_ip: ipAddress().optional(),
  unicast_peers: z
    .array(ipAddress(), {
      error: "must be a list of peer addresses (remove the key for multicast)",
    })
    .nullable()
    .optional(),
  virtual_ips: z.array(virtualIp(), { error: "must be a list of addresses like 192.0.2.100/24" }),
  virtual_ips_excluded: z.array(virtualIp(), { error: "must be a list of addresses" }).optional(),
  track_interfaces: z
    .array(
      z.union(
        [
          ifname(),
          z.strictObject({
            name: ifname(),
            weight: weight().optional(),
            up_delay: duration().optional(),
            down_delay: duration().optional(),
          }),
        ],
        { error: "must be an interface name or { name, weight, up_delay, down_delay }" },
      ),
      { error: "must be a list of interfaces" },
    )
    .optional(),
  track_scripts: z.array(trackRef(), { error: "must be a list of track_scripts names" }).optional(),
  track_files: z.array(trackRef(), { error: "must be a list of track_files names" }).optional(),
  track_http: z.array(trackRef(), { error: "must be a list of track_http names" }).optional(),
  track_tcp: z.array(trackRef(), { error: "must be a list of track_tcp names" }).optional(),
  fence: fenceSchema.nullable().optional(),
  witness: witnessSchema.nullable().optional(),
  ...notifyKeys,
  ...announceKeys,
  // garp_interval is global only in docs/config.md but harmless per instance.
});

export const syncGroupSchema = z.strictObject({
  instances: z.array(z.string().min(1), { error: "must be a list of instance names" }),
  ...notifyKeys,
});

const mapOf = <T extends z.ZodType>(value: T, what: string) =>
  z.record(z.string(), value, { error: `must be a mapping of ${what} by name` });

export const rootSchema = z.strictObject({
  global: globalSchema.nullable().optional(),
  track_scripts: mapOf(trackScriptSchema, "track scripts").nullable().optional(),
  track_files: mapOf(trackFileSchema, "track files").nullable().optional(),
  track_http: mapOf(trackHttpSchema, "HTTP checks").nullable().optional(),
  track_tcp: mapOf(trackTcpSchema, "TCP checks").nullable().optional(),
  instances: mapOf(instanceSchema, "instances"),
  sync_groups: mapOf(syncGroupSchema, "sync groups").nullable().optional(),
});

export type RawConfig = z.output<typeof rootSchema>;
export type RawInstance = z.output<typeof instanceSchema>;
