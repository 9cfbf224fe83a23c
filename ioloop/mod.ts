// Copyright the squall authors. MIT license.

/**
 * Tornado's `tornado.ioloop` for Deno: {@linkcode IOLoop} schedules
 * callbacks, timeouts and file-descriptor handlers on Deno's own event loop
 * with Tornado's ordering and error isolation, and
 * {@linkcode PeriodicCallback} runs a function on a fixed period. Every time
 * is in milliseconds. Watching raw file descriptors needs `--allow-ffi`.
 *
 * @example Run a callback, then a timeout
 * ```ts
 * import { IOLoop } from "@squall/io/ioloop";
 * import assert from "node:assert/strict";
 *
 * const loop = new IOLoop({ makeCurrent: false });
 * const order: string[] = [];
 * loop.callLater(1, () => {
 *   order.push("timeout");
 *   loop.stop();
 * });
 * loop.addCallback(() => order.push("callback"));
 * await loop.start();
 * assert.deepEqual(order, ["callback", "timeout"]);
 * loop.close();
 * ```
 *
 * @module
 */

export * from "./constants.ts";
export * from "./ioloop.ts";
export * from "./periodic_callback.ts";
// Types that IOLoop's signatures name, for users of this entry point alone.
export type { DoneCallback, Future } from "../concurrent/future.ts";
export type { Executor } from "../concurrent/executor.ts";
