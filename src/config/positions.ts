// Maps a path in the parsed YAML (keys and indexes) back to a line and column in the source.
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type LineCounter, type Node } from "yaml";

export type PathKey = string | number;

/** Which part of a mapping entry an issue points at. */
export type Target = "key" | "value";

function scalarKeyText(key: unknown): string | null {
  if (isScalar(key)) return String(key.value);
  if (key === null || key === undefined) return null;
  return String(key);
}

/**
 * Finds the node for `path`. For target 'key' the mapping key of the last path element is returned.
 * Walks as far as the document allows and returns the deepest node reached.
 */
export function findNode(doc: Document, path: readonly PathKey[], target: Target): Node | null {
  let current: unknown = doc.contents;
  let last: Node | null = (doc.contents as Node | null) ?? null;
  for (let i = 0; i < path.length; i++) {
    const step = path[i];
    const isLast = i === path.length - 1;
    // Through an alias, point at the alias itself: that is where the problem is for this path.
    if (isAlias(current)) return current;
    if (isMap(current)) {
      const pair = current.items.find((p) => isPair(p) && scalarKeyText(p.key) === String(step));
      if (!pair) return last;
      if (isLast && target === "key") return (pair.key as Node | null) ?? last;
      const value = pair.value as Node | null;
      // A key with no value ("key:") has no value node: point at the key instead.
      const empty =
        isScalar(value) && value.value === null && (!value.range || value.range[0] === value.range[1]);
      if (value === null || value === undefined || empty) {
        return (pair.key as Node | null) ?? last;
      }
      last = value;
      current = value;
    } else if (isSeq(current) && typeof step === "number") {
      const item = current.items[step] as Node | undefined;
      if (!item) return last;
      last = item;
      current = item;
    } else {
      return last;
    }
  }
  return last;
}

/** 1-based line and column of the node for `path` (1:1 when the document is empty). */
export function locate(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly PathKey[],
  target: Target,
): { line: number; col: number } {
  const node = findNode(doc, path, target);
  const offset = node?.range?.[0] ?? 0;
  return lineCounter.linePos(offset);
}
