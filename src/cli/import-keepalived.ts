import { ConfigError, formatIssue, loadConfigText } from "../config/index.js";
import { EX_DATAERR, EX_NOINPUT, EX_SOFTWARE, EXIT_OK } from "./exit-codes.js";
import type { CliIo } from "./io.js";

export type ImportKeepalived = (
  path: string,
) => Promise<{ yaml: string; warnings: { file: string; line: number; message: string }[] }>;

const IMPORTER_MODULE = "../config/keepalived/index.js";

async function loadImporter(): Promise<ImportKeepalived> {
  const mod = (await import(IMPORTER_MODULE)) as { importKeepalived?: ImportKeepalived };
  if (typeof mod.importKeepalived !== "function")
    throw new Error(`${IMPORTER_MODULE} has no importKeepalived`);
  return mod.importKeepalived;
}

/** Prints the converted YAML on stdout and the warnings on stderr; the YAML is validated before exit 0. */
export async function importKeepalivedCommand(
  o: { file: string },
  io: CliIo,
  deps: { loadImporter?: () => Promise<ImportKeepalived> } = {},
): Promise<number> {
  let importKeepalived: ImportKeepalived;
  try {
    importKeepalived = await (deps.loadImporter ?? loadImporter)();
  } catch (e) {
    io.stderr(`vipd import-keepalived: the importer is missing from this build: ${(e as Error).message}\n`);
    return EX_SOFTWARE;
  }
  let result: Awaited<ReturnType<ImportKeepalived>>;
  try {
    result = await importKeepalived(o.file);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const message = (e as Error).message;
    if (code === "NOT_KEEPALIVED" || code === "INCLUDE_CYCLE") {
      io.stderr(`vipd import-keepalived: ${message}\n`);
      return EX_DATAERR;
    }
    if (code === "UNREADABLE" || code === "INCLUDE_NOT_FOUND" || code === "ENOENT" || code === "EACCES") {
      io.stderr(`vipd import-keepalived: ${message}\n`);
      return EX_NOINPUT;
    }
    throw e;
  }
  io.stdout(result.yaml.endsWith("\n") ? result.yaml : `${result.yaml}\n`);
  for (const w of result.warnings) io.stderr(`${w.file}:${w.line}: warning: ${w.message}\n`);
  try {
    loadConfigText(result.yaml, "<converted>");
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const issue of e.issues) io.stderr(`${formatIssue(issue)}\n`);
    io.stderr(
      `vipd import-keepalived: the converted config does not pass "vipd check"; edit it before use\n`,
    );
    return EX_DATAERR;
  }
  return EXIT_OK;
}
