// Copyright the squall authors. MIT license.

/**
 * The item stores behind Queue (FIFO ring), LifoQueue (stack) and
 * PriorityQueue (stable binary heap), and the private seam through which
 * the subclasses install theirs. Private to squall.
 *
 * @module
 */

import type { Queue } from "./queue.ts";

/** Where a queue keeps its items. */
export interface ItemStore<T> {
  readonly size: number;
  push(item: T): void;
  /** Removes and returns the next item; only called when `size > 0`. */
  take(): T;
  /**
   * Like `take()`, for a getter served while no grant is out: the item may
   * come back through `putBack`.
   */
  lend(): T;
  /** No grant is out any more: nothing lent comes back. */
  settle(): void;
  /**
   * Puts back an item granted to a getter that gave up before delivery:
   * always the last grant still out, after `earlier` others. It goes where
   * it would be had it never left. Every item in the store arrived after
   * it, or was taken from under it and came back first, so it is taken
   * before them (FIFO) or ahead of its ties (priority); in a stack it goes
   * under them. Never throws.
   */
  putBack(item: T, earlier: number): void;
}

/** Filled in by Queue's static block: replaces a queue's store. */
export const internals: {
  setStore: <T>(queue: Queue<T>, store: ItemStore<T>) => void;
} = {
  setStore() {
    throw new Error("squall: queue internals are not initialized");
  },
};

const MIN_RING = 16;

/** A growable ring buffer: O(1) push at the tail and take at the head. */
export class FifoStore<T> implements ItemStore<T> {
  #buf: (T | undefined)[] = new Array(MIN_RING).fill(undefined);
  #mask = MIN_RING - 1;
  #head = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    if (this.#size === this.#buf.length) this.#resize(this.#buf.length * 2);
    this.#buf[(this.#head + this.#size) & this.#mask] = item;
    this.#size++;
  }

  take(): T {
    const buf = this.#buf;
    const item = buf[this.#head] as T;
    buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#size--;
    // Give memory back after a burst, amortized O(1).
    if (buf.length > MIN_RING && this.#size < buf.length >>> 2) {
      this.#resize(buf.length >>> 1);
    }
    return item;
  }

  lend(): T {
    return this.take();
  }

  settle(): void {}

  putBack(item: T): void {
    if (this.#size === this.#buf.length) this.#resize(this.#buf.length * 2);
    this.#head = (this.#head - 1) & this.#mask;
    this.#buf[this.#head] = item;
    this.#size++;
  }

  #resize(capacity: number): void {
    const old = this.#buf;
    const buf: (T | undefined)[] = new Array(capacity).fill(undefined);
    for (let i = 0; i < this.#size; i++) {
      buf[i] = old[(this.#head + i) & this.#mask];
    }
    this.#buf = buf;
    this.#mask = capacity - 1;
    this.#head = 0;
  }
}

/** A stack: the last item pushed is taken first. */
export class LifoStore<T> implements ItemStore<T> {
  #items: T[] = [];
  /**
   * For each item lent and still out, in lending order, how many items
   * lay under it. Those stay put until it is back: only a grant that
   * cannot come back (none is out then) takes them.
   */
  #lent: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  take(): T {
    return this.#items.pop() as T;
  }

  lend(): T {
    const item = this.#items.pop() as T;
    this.#lent.push(this.#items.length);
    return item;
  }

  settle(): void {
    if (this.#lent.length !== 0) this.#lent.length = 0;
  }

  putBack(item: T, earlier: number): void {
    // Lent items are the first grants out. Any other one was handed over
    // with the store empty, which it only is once everything lent lay on
    // its bottom: it goes there too, under the items put since. The splice
    // moves only items put while it was out: few, and rare.
    const lent = this.#lent;
    const under = earlier < lent.length ? lent.pop()! : 0;
    this.#items.splice(under, 0, item);
  }
}

const NUMERIC = 0;
const NAN = 1;
const STRING = 2;
const ARRAY = 3;
const OTHER = 4;

function kindOf(x: unknown): number {
  switch (typeof x) {
    case "number":
      return x === x ? NUMERIC : NAN;
    case "bigint":
      return NUMERIC;
    case "string":
      return STRING;
    default:
      return Array.isArray(x) ? ARRAY : OTHER;
  }
}

/**
 * PriorityQueue's default order. Numbers and bigints compare by value,
 * strings by UTF-16 code units, arrays element by element (a shorter
 * prefix first), so `[priority, item]` tuples work. It is a total order,
 * so it never throws: kinds rank numbers < NaN < strings < arrays < anything
 * else, and values of any other kind tie (then insertion order decides).
 */
export function defaultCompare(a: unknown, b: unknown): number {
  const kind = kindOf(a);
  const other = kindOf(b);
  if (kind !== other) return kind - other;
  if (kind === NUMERIC || kind === STRING) {
    const x = a as number | bigint | string;
    const y = b as number | bigint | string;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (kind === ARRAY) {
    const x = a as unknown[];
    const y = b as unknown[];
    const n = Math.min(x.length, y.length);
    for (let i = 0; i < n; i++) {
      const c = defaultCompare(x[i], y[i]);
      if (c !== 0) return c;
    }
    return x.length - y.length;
  }
  return 0;
}

/**
 * A binary min-heap, stable for ties through an insertion counter. Every
 * comparison happens before the heap is changed, so a comparator that
 * throws leaves it intact and loses nothing.
 */
export class HeapStore<T> implements ItemStore<T> {
  #items: T[] = [];
  #seqs: number[] = [];
  #counter = 0;
  /** Insertion numbers for put-back items: below every other one. */
  #backCounter = 0;
  #path: number[] = [];
  readonly #compare: (a: T, b: T) => number;

  constructor(compare: (a: T, b: T) => number) {
    this.#compare = compare;
  }

  get size(): number {
    return this.#items.length;
  }

  #before(a: T, seqA: number, b: T, seqB: number): boolean {
    const c = this.#compare(a, b);
    return c < 0 || (!(c > 0) && seqA < seqB);
  }

  push(item: T): void {
    this.#insert(item, this.#counter, false);
    this.#counter++;
  }

  lend(): T {
    return this.take();
  }

  settle(): void {}

  putBack(item: T): void {
    // Each put-back item was granted before those put back earlier in the
    // same turn, so a decreasing number keeps their tie order. If the
    // comparator throws on it, it goes to the top: never lost, and the
    // order of the other items is unaffected.
    this.#insert(item, --this.#backCounter, true);
  }

  #insert(item: T, seq: number, forgiving: boolean): void {
    const items = this.#items;
    const seqs = this.#seqs;
    const end = items.length;
    let slot = end;
    while (slot > 0) {
      const parent = (slot - 1) >>> 1;
      let before: boolean;
      try {
        before = this.#before(item, seq, items[parent] as T, seqs[parent]!);
      } catch (err) {
        if (!forgiving) throw err;
        before = true;
      }
      if (!before) break;
      slot = parent;
    }
    items.push(item);
    seqs.push(seq);
    for (let i = end; i > slot;) {
      const parent = (i - 1) >>> 1;
      items[i] = items[parent] as T;
      seqs[i] = seqs[parent]!;
      i = parent;
    }
    items[slot] = item;
    seqs[slot] = seq;
  }

  take(): T {
    const items = this.#items;
    const seqs = this.#seqs;
    const top = items[0] as T;
    const n = items.length - 1;
    if (n === 0) {
      items.pop();
      seqs.pop();
      return top;
    }
    const last = items[n] as T;
    const lastSeq = seqs[n]!;
    const path = this.#path;
    path.length = 0;
    for (let i = 0;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (
        right < n &&
        this.#before(
          items[right] as T,
          seqs[right]!,
          items[child] as T,
          seqs[child]!,
        )
      ) {
        child = right;
      }
      if (!this.#before(items[child] as T, seqs[child]!, last, lastSeq)) break;
      path.push(child);
      i = child;
    }
    let hole = 0;
    for (const child of path) {
      items[hole] = items[child] as T;
      seqs[hole] = seqs[child]!;
      hole = child;
    }
    items[hole] = last;
    seqs[hole] = lastSeq;
    items.pop();
    seqs.pop();
    return top;
  }
}
