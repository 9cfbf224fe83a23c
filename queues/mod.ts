// Copyright the squall authors. MIT license.

/**
 * Async queues for coordinating producers and consumers, after Tornado's
 * `tornado.queues`: the FIFO {@linkcode Queue}, {@linkcode PriorityQueue}
 * and {@linkcode LifoQueue}, and the {@linkcode QueueEmpty} and
 * {@linkcode QueueFull} errors of their non-waiting methods.
 *
 * Every wait takes `{ timeout, signal }` (times in milliseconds); waiting
 * getters and putters are served first-come first-served. An item reaches a
 * waiting getter one microtask after the `put()`; a getter that aborts in
 * between rejects and the item goes to the next getter or back to the
 * queue, never lost. Nothing here uses the Deno namespace, so the module also runs on Node, Bun and in browsers.
 *
 * @example Bounded work queue with two workers
 * ```ts
 * import { Queue } from "@squall/io/queues";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue<number>(2);
 * const results: number[] = [];
 * async function worker(): Promise<void> {
 *   for await (const n of queue) {
 *     results.push(n * n);
 *     queue.taskDone();
 *   }
 * }
 * worker();
 * worker();
 * for (let n = 1; n <= 4; n++) await queue.put(n);
 * await queue.join({ timeout: 1000 });
 * assert.deepEqual(results.sort((a, b) => a - b), [1, 4, 9, 16]);
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./queue.ts";
export * from "./priority_queue.ts";
export * from "./lifo_queue.ts";
// A type that Queue's signatures name, for users of this entry point alone.
export type { WaitOptions } from "../locks/types.ts";
