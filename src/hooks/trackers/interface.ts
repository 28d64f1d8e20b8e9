// track_interfaces: link down = down (Fault unless a weight is given), fed by the runtime's link
// watcher. Optional debounce: a change counts only once it has lasted up_delay / down_delay.

import { BaseTracker } from "./status.js";

export class InterfaceTracker extends BaseTracker {
  readonly ifname: string;
  readonly #upDelayMs: number;
  readonly #downDelayMs: number;
  #pending: NodeJS.Timeout | null = null;
  #linkUp: boolean;

  constructor(
    name: string,
    ifname: string,
    o: { up: boolean; upDelayMs: number; downDelayMs: number; reason?: string },
  ) {
    super(name, o.up ? { type: "up" } : { type: "down", reason: o.reason ?? `${ifname} is down` });
    this.ifname = ifname;
    this.#linkUp = o.up;
    this.#upDelayMs = o.upDelayMs;
    this.#downDelayMs = o.downDelayMs;
  }

  start(): void {}

  stop(): void {
    if (this.#pending) clearTimeout(this.#pending);
    this.#pending = null;
  }

  /** The link watcher saw the link change (or a missing interface: up = false with a reason). */
  link(up: boolean, reason = `${this.ifname} is down`): void {
    if (up === this.#linkUp && this.#pending === null) return;
    this.#linkUp = up;
    if (this.#pending) clearTimeout(this.#pending);
    this.#pending = null;
    const apply = (): void => {
      this.#pending = null;
      this.set(up ? { type: "up" } : { type: "down", reason });
    };
    const delay = up ? this.#upDelayMs : this.#downDelayMs;
    const already = (this.status.type === "up") === up;
    if (delay <= 0 || already) apply();
    else this.#pending = setTimeout(apply, delay);
  }
}
