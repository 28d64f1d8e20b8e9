// The real protocol core, as the simulator drives it.

import { checkRouterInvariants, createRouter } from "../../src/core/index.js";
import type { CoreApi } from "./world.js";

export const realCore: CoreApi = { createRouter, checkRouterInvariants };
