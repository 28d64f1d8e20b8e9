// The simulator's one event queue: a binary min-heap ordered by (time, sequence). The sequence
// number breaks ties in insertion order, so two events at the same virtual millisecond always run
// in the same order on every replay.

interface Entry<T> {
  time: number;
  seq: number;
  event: T;
}

export class EventQueue<T> {
  private heap: Entry<T>[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(time: number, event: T): void {
    if (!Number.isFinite(time)) throw new Error(`event time must be finite, got ${time}`);
    const entry = { time, seq: this.nextSeq++, event };
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = entry;
  }

  peekTime(): number | null {
    return this.heap[0]?.time ?? null;
  }

  pop(): { time: number; event: T } | null {
    const h = this.heap;
    const top = h[0];
    if (top === undefined) return null;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        let mEntry = last;
        if (l < h.length && before(h[l]!, mEntry)) {
          m = l;
          mEntry = h[l]!;
        }
        if (r < h.length && before(h[r]!, mEntry)) {
          m = r;
          mEntry = h[r]!;
        }
        if (m === i) break;
        h[i] = mEntry;
        i = m;
      }
      h[i] = last;
    }
    return { time: top.time, event: top.event };
  }
}

function before<T>(x: Entry<T>, y: Entry<T>): boolean {
  return x.time < y.time || (x.time === y.time && x.seq < y.seq);
}
