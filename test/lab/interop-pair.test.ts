// keepalived interoperability matrix, two nodes: vipd on host v, Debian's keepalived on host k, for
// every row in both roles (vipd higher priority, keepalived higher priority):
//   - both agree on the master (vipd's state from its log, keepalived's from its log, the VIP on
//     exactly one host);
//   - a SIGKILL of the higher one makes the other take over, and the higher one, restarted,
//     preempts back;
//   - vipd's `status --json` shows keepalived in its peer table with the right priority, interval,
//     version and checksum form, and no mismatch;
//   - every advert vipd sent, captured on its own eth0, decodes in tshark with a good checksum.
// The message-only row needs keepalived >= 2.2.8 on the keepalived side (v3_checksum_as_v2); with
// 2.2.7 it shows what happens instead (see interop-message-only.test.ts for the vipd-higher case).
import { describe, it } from "vitest";
import { ROWS } from "./interop-helpers.js";
import { runPair } from "./interop-scenarios.js";
import { labAvailable } from "./netns.js";

const PAIR_TIMEOUT_MS = 150_000;

describe.runIf(labAvailable())("keepalived interop matrix: vipd + keepalived pair (root)", () => {
  for (const id of ["v3-ipv4", "v2-ipv4", "v3-ipv6", "unicast"] as const) {
    const row = ROWS[id];
    for (const role of ["vipd-higher", "keepalived-higher"] as const) {
      it(`${row.title}: ${role}`, () => runPair(row, role), PAIR_TIMEOUT_MS);
    }
  }

  // vipd sends message-only, keepalived 2.2.7 the pseudo-header form. keepalived is the master here and
  // never needs to accept vipd's adverts, except while vipd stands in for it; vipd accepts either
  // form, follows keepalived, and reports the checksum-form mismatch.
  it(
    `${ROWS["v3-ipv4-message-only"].title}: keepalived-higher (keepalived sends pseudo-header)`,
    async () => {
      await runPair(ROWS["v3-ipv4-message-only"], "keepalived-higher");
    },
    PAIR_TIMEOUT_MS,
  );
});
