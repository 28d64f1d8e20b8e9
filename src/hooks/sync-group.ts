// Sync groups (keepalived's vrrp_sync_group), expressed as a tracker named "sync_group:<name>" that
// the group gives to its members:
//  - a member in Fault of its own puts every other member in Fault (keepalived's behaviour);
//  - a member that was Master and lost an election (Master -> Backup) gives every other member a
//    weight of -253 while it stays Backup, so they advertise a low priority and the peer node (with
//    preempt) takes them over too. The weight lifts when that member is Master again (or in Fault,
//    handled above), so the group cannot lock itself out. A member pushed out by this weight does not
//    count as having lost an election itself.
// Faults and demotions the group itself caused are never propagated back (no self-sustaining loop).

import type { RouterState, TrackerResult } from "../core/types.js";

export type GroupState = "initialize" | "backup" | "master" | "fault";

export class SyncGroup {
  readonly name: string;
  readonly members: readonly string[];
  readonly #states = new Map<string, RouterState>();
  readonly #demoted = new Set<string>();
  /** What the group currently imposes on each member. */
  readonly #imposed = new Map<string, TrackerResult>();
  readonly #set: (member: string, result: TrackerResult | null) => void;
  #state: GroupState = "initialize";

  constructor(
    name: string,
    members: readonly string[],
    set: (member: string, r: TrackerResult | null) => void,
  ) {
    this.name = name;
    this.members = members;
    this.#set = set;
    for (const m of members) this.#states.set(m, "initialize");
  }

  get trackerName(): string {
    return `sync_group:${this.name}`;
  }

  get state(): GroupState {
    return this.#state;
  }

  /** A member changed state; returns the group's new state when it changed (for group notifications). */
  onState(member: string, from: RouterState, to: RouterState): GroupState | null {
    if (!this.#states.has(member)) return null;
    this.#states.set(member, to);
    const imposed = this.#imposed.get(member);
    if (from === "master" && to === "backup" && imposed === undefined) this.#demoted.add(member);
    if (to !== "backup") this.#demoted.delete(member);
    this.#recompute();
    const next = this.#groupState();
    if (next === this.#state) return null;
    this.#state = next;
    return next;
  }

  #ownFault(member: string): boolean {
    return this.#states.get(member) === "fault" && this.#imposed.get(member)?.type !== "fault";
  }

  #recompute(): void {
    for (const m of this.members) {
      const others = this.members.filter((o) => o !== m);
      const faulty = others.find((o) => this.#ownFault(o));
      const demoted = others.find((o) => this.#demoted.has(o));
      let want: TrackerResult | null = null;
      if (faulty !== undefined)
        want = { type: "fault", reason: `sync group ${this.name}: ${faulty} is in fault` };
      else if (demoted !== undefined) want = { type: "weight", weight: -253 };
      const have = this.#imposed.get(m) ?? null;
      if (JSON.stringify(want) === JSON.stringify(have)) continue;
      if (want === null) this.#imposed.delete(m);
      else this.#imposed.set(m, want);
      this.#set(m, want);
    }
  }

  #groupState(): GroupState {
    const states = [...this.#states.values()];
    if (states.some((s) => s === "fault")) return "fault";
    if (states.every((s) => s === "master")) return "master";
    if (states.every((s) => s === "initialize")) return "initialize";
    return "backup";
  }
}
