import { convertTree } from "./convert.js";
import type { ImportWarning } from "./errors.js";
import { parseKeepalivedFile } from "./parser.js";

export { type ImportWarning, type KeepalivedErrorCode, KeepalivedImportError } from "./errors.js";

/**
 * Reads a keepalived.conf (following its includes) and returns the equivalent vipd.yaml text, with
 * one warning per keyword that could not be carried over. Throws KeepalivedImportError:
 * NOT_KEEPALIVED when the text is not keepalived syntax, INCLUDE_NOT_FOUND / INCLUDE_CYCLE for a bad
 * include, UNREADABLE when a file cannot be read.
 */
export async function importKeepalived(path: string): Promise<{ yaml: string; warnings: ImportWarning[] }> {
  const { nodes, warnings: readWarnings } = await parseKeepalivedFile(path);
  return convertTree(nodes, path, readWarnings);
}
