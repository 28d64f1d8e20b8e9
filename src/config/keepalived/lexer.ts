import { KeepalivedImportError } from "./errors.js";

/** One token of keepalived's syntax, with where it came from. */
export interface Token {
  kind: "word" | "string" | "open" | "close";
  text: string;
  file: string;
  line: number;
}

/**
 * Splits one logical line into tokens. `#` and `!` start a comment anywhere outside a quoted string
 * (keepalived.conf(5)); `{` and `}` are tokens of their own; a double-quoted string is one token
 * whose text excludes the quotes.
 */
export function lexLine(text: string, file: string, line: number): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") {
      i++;
      continue;
    }
    if (c === "#" || c === "!") break;
    if (c === "{" || c === "}") {
      tokens.push({ kind: c === "{" ? "open" : "close", text: c, file, line });
      i++;
      continue;
    }
    if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) {
        throw new KeepalivedImportError("NOT_KEEPALIVED", file, line, "unterminated quoted string");
      }
      tokens.push({ kind: "string", text: text.slice(i + 1, end), file, line });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < n) {
      const d = text[j]!;
      if (d === " " || d === "\t" || d === "\r" || d === "{" || d === "}" || d === "#" || d === "!") break;
      j++;
    }
    tokens.push({ kind: "word", text: text.slice(i, j), file, line });
    i = j;
  }
  return tokens;
}

/** Splits a script command line into argv the way a shell would for plain quoting (no expansion). */
export function splitCommand(command: string): { argv: string[]; shellSyntax: boolean } {
  const argv: string[] = [];
  let current = "";
  let inWord = false;
  let quote: '"' | "'" | null = null;
  let shellSyntax = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else current += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
      continue;
    }
    if (c === " " || c === "\t") {
      if (inWord) argv.push(current);
      current = "";
      inWord = false;
      continue;
    }
    if ("|&;<>$`*?()".includes(c)) shellSyntax = true;
    if (c === "\\" && i + 1 < command.length) {
      current += command[++i]!;
      inWord = true;
      continue;
    }
    current += c;
    inWord = true;
  }
  if (inWord) argv.push(current);
  return { argv, shellSyntax };
}
