import { readFile, realpath } from "node:fs/promises";
import { dirname, isAbsolute, join } from "node:path";
import { type ImportWarning, KeepalivedImportError } from "./errors.js";
import { expandGlob, hasGlob } from "./glob.js";
import { lexLine, type Token } from "./lexer.js";

/** A keepalived statement: a keyword, its arguments on the same line, and an optional `{ }` block. */
export interface ConfNode {
  keyword: Token;
  args: Token[];
  children?: ConfNode[];
}

const MAX_INCLUDE_DEPTH = 32;
const DEFINITION = /^\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/;
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

interface ReadState {
  warnings: ImportWarning[];
  definitions: Map<string, string>;
  /** real paths of the files being read, outermost first, for cycle detection */
  stack: { real: string; shown: string }[];
}

async function readText(path: string, from: { file: string; line: number } | null): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      if (from) {
        throw new KeepalivedImportError(
          "INCLUDE_NOT_FOUND",
          from.file,
          from.line,
          `include: file ${path} does not exist`,
        );
      }
      throw new KeepalivedImportError("UNREADABLE", path, 0, "file does not exist");
    }
    const where = from ?? { file: path, line: 0 };
    throw new KeepalivedImportError(
      "UNREADABLE",
      where.file,
      where.line,
      `cannot read ${path}: ${(err as Error).message}`,
    );
  }
}

/** Reads one file (and, recursively, what it includes) into a flat token stream. */
async function readTokens(
  shown: string,
  from: { file: string; line: number } | null,
  state: ReadState,
): Promise<Token[]> {
  const text = await readText(shown, from);
  const real = await realpath(shown);
  const seen = state.stack.findIndex((f) => f.real === real);
  if (seen >= 0 && from) {
    const chain = [...state.stack.slice(seen).map((f) => f.shown), shown].join(" -> ");
    throw new KeepalivedImportError("INCLUDE_CYCLE", from.file, from.line, `include cycle: ${chain}`);
  }
  if (state.stack.length >= MAX_INCLUDE_DEPTH && from) {
    throw new KeepalivedImportError(
      "INCLUDE_CYCLE",
      from.file,
      from.line,
      `includes nested more than ${MAX_INCLUDE_DEPTH} deep`,
    );
  }
  state.stack.push({ real, shown });
  const tokens: Token[] = [];
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const lineNo = index + 1;
    let raw = lines[index]!.replace(/\r$/, "");
    // a backslash at the very end joins the next line (keepalived 2.x)
    while (raw.endsWith("\\") && index + 1 < lines.length) {
      raw = raw.slice(0, -1) + lines[++index]!.replace(/\r$/, "");
    }
    const def = DEFINITION.exec(raw);
    if (def) {
      state.definitions.set(def[1]!, def[2]!.trim());
      continue;
    }
    if (raw.includes("$")) {
      raw = raw.replace(REFERENCE, (whole, braced: string | undefined, plain: string | undefined) => {
        const name = braced ?? plain ?? "";
        return state.definitions.get(name) ?? whole;
      });
    }
    const lineTokens = lexLine(raw, shown, lineNo);
    const first = lineTokens[0];
    if (!first) continue;
    if (first.kind === "word" && first.text.startsWith("@")) {
      state.warnings.push({
        file: shown,
        line: lineNo,
        message: `${first.text}: conditional configuration lines are not carried over; set this host's value by hand`,
      });
      continue;
    }
    if (first.kind === "word" && first.text === "include") {
      const patterns = lineTokens.slice(1).filter((t) => t.kind === "word" || t.kind === "string");
      if (patterns.length === 0) {
        throw new KeepalivedImportError("NOT_KEEPALIVED", shown, lineNo, "include: needs a file name");
      }
      for (const p of patterns) {
        const target = isAbsolute(p.text) ? p.text : join(dirname(shown), p.text);
        const at = { file: shown, line: lineNo };
        if (hasGlob(p.text)) {
          const files = await expandGlob(target);
          if (files.length === 0) {
            state.warnings.push({ ...at, message: `include: pattern ${p.text} matches no file` });
          }
          for (const f of files) tokens.push(...(await readTokens(f, at, state)));
        } else {
          tokens.push(...(await readTokens(target, at, state)));
        }
      }
      continue;
    }
    tokens.push(...lineTokens);
  }
  state.stack.pop();
  return tokens;
}

/** Builds the statement tree from the token stream; unbalanced braces are NOT_KEEPALIVED. */
export function buildTree(tokens: Token[]): ConfNode[] {
  let i = 0;
  const sameLine = (a: Token, b: Token): boolean => a.file === b.file && a.line === b.line;

  function parseList(open: Token | null): ConfNode[] {
    const nodes: ConfNode[] = [];
    while (i < tokens.length) {
      const t = tokens[i]!;
      if (t.kind === "close") {
        if (!open) throw new KeepalivedImportError("NOT_KEEPALIVED", t.file, t.line, "'}' closes no block");
        i++;
        return nodes;
      }
      if (t.kind === "open") {
        // brace on its own line: it opens the block of the statement just before it
        const prev = nodes.at(-1);
        if (!prev || prev.children) {
          throw new KeepalivedImportError(
            "NOT_KEEPALIVED",
            t.file,
            t.line,
            "'{' opens a block with no keyword",
          );
        }
        i++;
        prev.children = parseList(t);
        continue;
      }
      const node: ConfNode = { keyword: t, args: [] };
      i++;
      while (i < tokens.length) {
        const a = tokens[i]!;
        if ((a.kind !== "word" && a.kind !== "string") || !sameLine(a, t)) break;
        node.args.push(a);
        i++;
      }
      const next = tokens[i];
      if (next && next.kind === "open" && sameLine(next, t)) {
        i++;
        node.children = parseList(next);
      }
      nodes.push(node);
    }
    if (open) {
      throw new KeepalivedImportError("NOT_KEEPALIVED", open.file, open.line, "'{' is never closed");
    }
    return nodes;
  }

  return parseList(null);
}

export async function parseKeepalivedFile(
  path: string,
): Promise<{ nodes: ConfNode[]; warnings: ImportWarning[] }> {
  const state: ReadState = { warnings: [], definitions: new Map(), stack: [] };
  const tokens = await readTokens(path, null, state);
  return { nodes: buildTree(tokens), warnings: state.warnings };
}
