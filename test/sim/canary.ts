// Canaries: deliberately broken routers (wrappers around the real core) that the checkers must
// catch. If a canary run passes, the checkers are blind to that class of bug.

import type { Input, Router, Step } from "../../src/core/types.js";
import type { CoreApi } from "./world.js";

export const CANARY_KINDS = [
  "never-step-down",
  "inverted-priority",
  "silent-stop",
  "ignore-fence-failure",
] as const;
export type CanaryKind = (typeof CANARY_KINDS)[number];

export function isCanaryKind(text: string): text is CanaryKind {
  return (CANARY_KINDS as readonly string[]).includes(text);
}

/** Wraps every router the core creates with the broken rule `kind`. */
export function canaryCore(core: CoreApi, kind: CanaryKind): CoreApi {
  const inner = new WeakMap<Router, Router>();
  return {
    createRouter(options) {
      const real = core.createRouter(options);
      const wrapped = wrap(real, kind);
      inner.set(wrapped, real);
      return wrapped;
    },
    checkRouterInvariants(router) {
      return core.checkRouterInvariants(inner.get(router) ?? router);
    },
  };
}

function wrap(real: Router, kind: CanaryKind): Router {
  let lastDeadline: number | null = null;
  const remember = (step: Step): Step => {
    lastDeadline = step.nextDeadline;
    return step;
  };
  const handle = (now: number, input: Input): Step => {
    switch (kind) {
      case "never-step-down":
        // A master that ignores every advert never yields to a better router.
        if (real.state === "master" && input.type === "advert")
          return { actions: [], nextDeadline: lastDeadline };
        return remember(real.handle(now, input));
      case "inverted-priority":
        // Reads other routers' priorities upside down, so every comparison is inverted.
        if (input.type === "advert" && input.priority > 0 && input.priority < 255) {
          return remember(real.handle(now, { ...input, priority: 255 - input.priority }));
        }
        return remember(real.handle(now, input));
      case "silent-stop": {
        // Leaves without the priority-0 advert, so backups wait a full Master_Down_Interval.
        const step = real.handle(now, input);
        return remember({
          ...step,
          actions: step.actions.filter((a) => !(a.type === "sendAdvert" && a.priority === 0)),
        });
      }
      case "ignore-fence-failure":
        // Treats a failed fence as a success: takes over from a master that may still be alive.
        if (input.type === "fenceResult" && !input.ok)
          return remember(real.handle(now, { ...input, ok: true }));
        return remember(real.handle(now, input));
      default: {
        const never: never = kind;
        throw new Error(`unknown canary ${String(never)}`);
      }
    }
  };
  // Everything but handle() reads through to the real router.
  return new Proxy(real, {
    get(target, prop) {
      return prop === "handle" ? handle : Reflect.get(target, prop);
    },
  });
}
