// Whether the native addon is built (npm run build:native): the unit tests that call it skip
// without it.
import { nativeAddonPath } from "../../src/linux/native.js";

export function addonBuilt(): boolean {
  try {
    nativeAddonPath();
    return true;
  } catch {
    return false;
  }
}
