// Copyright the squall authors. MIT license.

import { internals, LifoStore } from "./_stores.ts";
import { Queue } from "./queue.ts";

/**
 * A {@linkcode Queue} that returns the most recently put item first
 * (Tornado's `tornado.queues.LifoQueue`).
 *
 * @typeParam T The type of the items.
 *
 * @example Last in, first out
 * ```ts
 * import { LifoQueue } from "@squall/io/queues";
 * import assert from "node:assert/strict";
 *
 * const queue = new LifoQueue<number>();
 * for (const n of [1, 2, 3]) queue.putNowait(n);
 * assert.deepEqual([queue.getNowait(), queue.getNowait(), queue.getNowait()], [3, 2, 1]);
 * ```
 */
export class LifoQueue<T> extends Queue<T> {
  /**
   * Constructs a new {@linkcode LifoQueue}.
   *
   * @param maxsize How many items it holds before `put()` waits; `0`
   * means no limit.
   * @throws {RangeError} When `maxsize` is negative or not an integer.
   */
  constructor(maxsize = 0) {
    super(maxsize);
    internals.setStore(this, new LifoStore<T>());
  }
}
