// Copyright the squall authors. MIT license.

/**
 * Synchronization primitives for async code, after Tornado's
 * `tornado.locks`: {@linkcode Lock}, {@linkcode Semaphore},
 * {@linkcode BoundedSemaphore}, {@linkcode Condition} and
 * {@linkcode Event}.
 *
 * Every wait takes `{ timeout, signal }` ({@linkcode WaitOptions}; times in
 * milliseconds), waiters are served strictly first-come first-served, and a
 * waiter that timed out or was aborted is gone at once. A grant is final
 * only once delivered: a waiter with a signal receives it one microtask
 * later, and if it aborts in between (in the same turn as a `release()`,
 * say) the lock, permit or notification passes to the next waiter instead
 * of being lost. Nothing here uses the Deno namespace, so the module also runs on Node, Bun and in browsers.
 *
 * @example Serialize access with a lock
 * ```ts
 * import { Event, Lock } from "@squall/io/locks";
 * import assert from "node:assert/strict";
 *
 * const lock = new Lock();
 * const done = new Event();
 * const log: number[] = [];
 * async function job(id: number): Promise<void> {
 *   using _held = await lock.acquire({ timeout: 1000 });
 *   log.push(id);
 *   if (log.length === 3) done.set();
 * }
 * job(1);
 * job(2);
 * job(3);
 * assert.equal(await done.wait({ timeout: 1000 }), true);
 * assert.deepEqual(log, [1, 2, 3]);
 * ```
 *
 * @module
 */

export * from "./types.ts";
export * from "./lock.ts";
export * from "./semaphore.ts";
export * from "./condition.ts";
export * from "./event.ts";
