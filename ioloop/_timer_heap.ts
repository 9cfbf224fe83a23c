// Copyright the squall authors. MIT license.

/**
 * A binary min-heap of deadlines with lazy deletion, in front of which the
 * IOLoop keeps one host timer. Private to squall.
 *
 * Entries compare by deadline, then by a sequence number, so equal
 * deadlines come out in scheduling order. Cancelling only marks an entry;
 * marked entries are dropped when they reach the top, and the whole heap is
 * compacted once they are the majority, so a workload that cancels most of
 * its timers does not keep them around.
 */

import type { TimeoutHandle } from "./constants.ts";

const PENDING = 0;
const DONE = 1;
const CANCELLED = 2;

/** Cancelled entries tolerated before a compaction is considered. */
const COMPACT_MIN = 512;

/** One scheduled call; doubles as the user's {@linkcode TimeoutHandle}. */
export class TimerEntry implements TimeoutHandle {
  readonly deadline: number;
  readonly seq: number;
  readonly callback: (...args: unknown[]) => unknown;
  /** The call's arguments; `undefined` when there are none. */
  readonly args: unknown[] | undefined;
  owner: TimerHeap | null;
  state: number = PENDING;

  constructor(
    owner: TimerHeap,
    deadline: number,
    seq: number,
    callback: (...args: unknown[]) => unknown,
    args: unknown[] | undefined,
  ) {
    this.owner = owner;
    this.deadline = deadline;
    this.seq = seq;
    this.callback = callback;
    this.args = args;
  }

  /** True until it ran or was cancelled. */
  get pending(): boolean {
    return this.state === PENDING;
  }
}

function before(a: TimerEntry, b: TimerEntry): boolean {
  return a.deadline < b.deadline ||
    (a.deadline === b.deadline && a.seq < b.seq);
}

/** The heap itself. */
export class TimerHeap {
  #items: TimerEntry[] = [];
  #cancelled = 0;
  #seq = 0;

  /** Entries stored, cancelled ones not yet dropped included. */
  get size(): number {
    return this.#items.length;
  }

  /** Entries still due to run. */
  get live(): number {
    return this.#items.length - this.#cancelled;
  }

  /** Schedules `callback(...args)` at `deadline`. */
  push(
    deadline: number,
    callback: (...args: unknown[]) => unknown,
    args: unknown[] | undefined,
  ): TimerEntry {
    const entry = new TimerEntry(this, deadline, this.#seq++, callback, args);
    const items = this.#items;
    items.push(entry);
    this.#siftUp(items.length - 1);
    return entry;
  }

  /**
   * Marks `entry` cancelled. Returns false (and does nothing) for an entry
   * that already ran, was cancelled, or belongs to another heap.
   */
  cancel(entry: TimerEntry): boolean {
    if (entry.owner !== this || entry.state !== PENDING) return false;
    entry.state = CANCELLED;
    entry.owner = null;
    this.#cancelled++;
    if (
      this.#cancelled > COMPACT_MIN &&
      this.#cancelled * 2 > this.#items.length
    ) {
      this.#compact();
    }
    return true;
  }

  /** The earliest live entry, or undefined when there is none. */
  peek(): TimerEntry | undefined {
    this.#dropCancelledTop();
    return this.#items[0];
  }

  /** The sequence number the next pushed entry gets. */
  get nextSeq(): number {
    return this.#seq;
  }

  /**
   * Removes, marks as run and returns the earliest live entry if it is due
   * at `now` (deadline <= now) and was pushed before sequence number
   * `seqLimit`; otherwise returns undefined and leaves the heap as is.
   * Taking due entries one at a time keeps later ones of the same round
   * cancellable by earlier ones; the limit keeps entries pushed during a
   * round for the next one.
   */
  popDue(now: number, seqLimit: number): TimerEntry | undefined {
    const items = this.#items;
    while (items.length > 0) {
      const top = items[0]!;
      if (top.state !== PENDING) {
        this.#popTop();
        this.#cancelled--;
        continue;
      }
      if (top.deadline > now || top.seq >= seqLimit) return undefined;
      this.#popTop();
      top.state = DONE;
      top.owner = null;
      return top;
    }
    return undefined;
  }

  /** Forgets every entry; their handles become inert. */
  clear(): void {
    for (const entry of this.#items) {
      if (entry.state === PENDING) entry.state = CANCELLED;
      entry.owner = null;
    }
    this.#items = [];
    this.#cancelled = 0;
  }

  #dropCancelledTop(): void {
    const items = this.#items;
    while (items.length > 0 && items[0]!.state !== PENDING) {
      this.#popTop();
      this.#cancelled--;
    }
  }

  #popTop(): void {
    const items = this.#items;
    const last = items.pop()!;
    const n = items.length;
    if (n === 0) return;
    // Sift `last` down from the root's hole.
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = items[child + 1];
      if (right !== undefined && before(right, items[child]!)) child++;
      const c = items[child]!;
      if (!before(c, last)) break;
      items[i] = c;
      i = child;
    }
    items[i] = last;
  }

  #compact(): void {
    const items = this.#items.filter((e) => e.state === PENDING);
    this.#items = items;
    this.#cancelled = 0;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  #siftUp(i: number): void {
    const items = this.#items;
    const entry = items[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      if (!before(entry, p)) break;
      items[i] = p;
      i = parent;
    }
    items[i] = entry;
  }

  #siftDown(i: number): void {
    const items = this.#items;
    const n = items.length;
    const entry = items[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && before(items[right]!, items[child]!)) child = right;
      const c = items[child]!;
      if (!before(c, entry)) break;
      items[i] = c;
      i = child;
    }
    items[i] = entry;
  }
}
