// Copyright the squall authors. MIT license.

import type { Future } from "./future.ts";

/**
 * Something that runs functions on the caller's behalf and hands back a
 * {@linkcode Future} for each: the part of Python's
 * `concurrent.futures.Executor` that Tornado uses (`IOLoop.runInExecutor`,
 * {@linkcode runOnExecutor}).
 *
 * Implementations: {@linkcode DummyExecutor} (runs inline) and
 * {@linkcode WorkerExecutor} (a pool of Web Workers).
 *
 * @example A tiny executor of your own
 * ```ts
 * import { type Executor, Future } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * // Runs each function in a later macrotask.
 * const later: Executor = {
 *   submit<A extends unknown[], R>(
 *     fn: (...args: A) => R | PromiseLike<R>,
 *     ...args: A
 *   ): Future<Awaited<R>> {
 *     const future = new Future<Awaited<R>>();
 *     setTimeout(async () => {
 *       try {
 *         future.setResult(await fn(...args));
 *       } catch (err) {
 *         future.setException(err);
 *       }
 *     }, 0);
 *     return future;
 *   },
 * };
 * assert.equal(await later.submit((a: number, b: number) => a * b, 6, 7), 42);
 * ```
 */
export interface Executor {
  /**
   * Schedules `fn(...args)` and returns a future for its outcome: its
   * return value (awaited if it is a promise) or what it threw.
   *
   * @typeParam A The argument types.
   * @typeParam R What `fn` returns.
   * @param fn The function to run.
   * @param args Its arguments.
   * @returns A future for the result.
   */
  submit<A extends unknown[], R>(
    fn: (...args: A) => R | PromiseLike<R>,
    ...args: A
  ): Future<Awaited<R>>;

  /** Releases the executor's resources; later `submit` calls may throw. */
  shutdown?(): void;
}
