// Copyright the squall authors. MIT license.

/**
 * Futures, timeouts and executors for code that mixes callbacks and
 * promises, after Tornado's `tornado.concurrent`.
 *
 * - {@linkcode Future}: an awaitable result settled from outside, with
 *   cancellation and done callbacks; {@linkcode isFuture},
 *   {@linkcode chainFuture}, {@linkcode futureSetResultUnlessCancelled} and
 *   {@linkcode futureSetExceptionUnlessCancelled} work with it.
 * - {@linkcode withTimeout} and {@linkcode sleep}: time limits and delays in
 *   milliseconds.
 * - {@linkcode Executor}, {@linkcode DummyExecutor},
 *   {@linkcode WorkerExecutor} and the {@linkcode runOnExecutor} decorator:
 *   run functions elsewhere and get a future back.
 * - {@linkcode TimeoutError}, {@linkcode CancelledError} and
 *   {@linkcode InvalidStateError}: the errors the whole package uses.
 *
 * It uses no `Deno.*` API, so it also runs on Node, Bun and in browsers.
 *
 * @example Settle a future from a callback and bound the wait
 * ```ts
 * import { Future, TimeoutError, withTimeout } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const f = new Future<string>();
 * setTimeout(() => f.setResult("ready"), 1);
 * assert.equal(await withTimeout(1000, f), "ready");
 *
 * const never = new Future<string>();
 * await assert.rejects(withTimeout(0, never), TimeoutError);
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./future.ts";
export * from "./is_future.ts";
export * from "./chain_future.ts";
export * from "./future_set_unless_cancelled.ts";
export * from "./with_timeout.ts";
export * from "./sleep.ts";
export * from "./executor.ts";
export * from "./dummy_executor.ts";
export * from "./worker_executor.ts";
export * from "./run_on_executor.ts";
