// Copyright the squall authors. MIT license.

import { defaultCompare, HeapStore, internals } from "./_stores.ts";
import { Queue } from "./queue.ts";

/**
 * A {@linkcode Queue} that returns the smallest item first (Tornado's
 * `tornado.queues.PriorityQueue`); items that compare equal come out in
 * the order they were put.
 *
 * Without `compare`, numbers and bigints compare by value, strings by
 * UTF-16 code units and arrays element by element, so `[priority, item]`
 * tuples work as in Tornado. That default order never throws: mixed kinds
 * rank numbers before NaN before strings before arrays before anything
 * else, and values of any other kind (say, the objects in
 * `[priority, object]` tuples) tie, so insertion order decides.
 *
 * @typeParam T The type of the items.
 *
 * @example Priority tuples
 * ```ts
 * import { PriorityQueue } from "@squall/io/queues";
 * import assert from "node:assert/strict";
 *
 * const queue = new PriorityQueue<[number, string]>();
 * queue.putNowait([1, "medium"]);
 * queue.putNowait([0, "high"]);
 * queue.putNowait([10, "low"]);
 * queue.putNowait([0, "high, second"]);
 * const order = [];
 * while (!queue.empty()) order.push(queue.getNowait()[1]);
 * assert.deepEqual(order, ["high", "high, second", "medium", "low"]);
 * ```
 */
export class PriorityQueue<T> extends Queue<T> {
  /**
   * Constructs a new {@linkcode PriorityQueue}.
   *
   * @param maxsize How many items it holds before `put()` waits; `0`
   * means no limit.
   * @param compare Orders two items: negative when `a` comes first,
   * positive when `b` does, `0` for a tie (insertion order then decides).
   * If it throws, the put or get that called it fails and the queue is
   * left unchanged.
   * @throws {RangeError} When `maxsize` is negative or not an integer.
   * @throws {TypeError} When `compare` is given and not a function.
   *
   * @example Order by a field
   * ```ts
   * import { PriorityQueue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * type Job = { name: string; due: number };
   * const queue = new PriorityQueue<Job>(0, (a, b) => a.due - b.due);
   * queue.putNowait({ name: "later", due: 20 });
   * queue.putNowait({ name: "soon", due: 10 });
   * assert.equal(queue.getNowait().name, "soon");
   * ```
   */
  constructor(maxsize = 0, compare?: (a: T, b: T) => number) {
    if (compare !== undefined && typeof compare !== "function") {
      throw new TypeError(
        "Cannot create a PriorityQueue: compare must be a function",
      );
    }
    super(maxsize);
    internals.setStore(this, new HeapStore<T>(compare ?? defaultCompare));
  }
}
