// `vipd cleanup`: removes the VIPs a dead vipd left behind (addresses carrying vipd's mark), as
// systemd's ExecStopPost after a crash or SIGKILL. Refuses while a vipd answers on the control
// socket, since its VIPs are live (--force skips that check).
import { ControlClientError, controlRequest } from "../runtime/control-client.js";
import { EX_NOPERM, EX_OSERR, EX_TEMPFAIL, EXIT_OK } from "./exit-codes.js";
import type { CliIo } from "./io.js";
import { socketPath } from "./status.js";

export interface CleanupDeps {
  removeOrphans(): Promise<string[]>;
}

async function linuxOrphans(): Promise<CleanupDeps & { close(): void }> {
  const { openRtnl } = await import("../linux/rtnl.js");
  return openRtnl();
}

export async function cleanupCommand(
  o: { socket?: string | undefined; config: string; force: boolean },
  io: CliIo,
  deps: { open?: () => Promise<CleanupDeps & { close(): void }> } = {},
): Promise<number> {
  if (!o.force) {
    const path = await socketPath(o);
    try {
      await controlRequest(path, { cmd: "status" }, { timeoutMs: 2000 });
      io.stderr(
        `vipd cleanup: a vipd is running (it answers on ${path}); its VIPs are live. Stop it first or use --force\n`,
      );
      return EX_TEMPFAIL;
    } catch (e) {
      if (!(e instanceof ControlClientError)) throw e;
      // Not running (or not answering): nothing owns the marked addresses.
      if (e.code === "TIMEOUT") {
        io.stderr(
          `vipd cleanup: ${path} exists but did not answer; refusing (use --force if no vipd runs)\n`,
        );
        return EX_TEMPFAIL;
      }
    }
  }
  let rtnl: CleanupDeps & { close(): void };
  try {
    rtnl = await (deps.open ?? linuxOrphans)();
  } catch (e) {
    io.stderr(`vipd cleanup: cannot open rtnetlink: ${(e as Error).message}\n`);
    return EX_OSERR;
  }
  try {
    const removed = await rtnl.removeOrphans();
    io.stdout(
      removed.length === 0
        ? "no orphan VIPs\n"
        : `removed ${removed.length} orphan VIP(s): ${removed.join(", ")}\n`,
    );
    return EXIT_OK;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    io.stderr(`vipd cleanup: ${(e as Error).message}\n`);
    return code === "NEEDS_CAP_NET_ADMIN" || code === "EPERM" ? EX_NOPERM : EX_OSERR;
  } finally {
    rtnl.close();
  }
}
