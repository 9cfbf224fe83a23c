// Copyright the squall authors. MIT license.

/**
 * squall: Tornado's asynchronous I/O toolkit for Deno.
 *
 * Each part is also its own entry point: `@squall/io/ioloop`,
 * `@squall/io/iostream`, `@squall/io/locks`, `@squall/io/queues` and
 * `@squall/io/concurrent`. Every time is in milliseconds.
 *
 * @example Catch a timeout
 * ```ts
 * import { TimeoutError } from "@squall/io";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new TimeoutError("slow").message, "slow");
 * ```
 *
 * @module
 */

export * from "./concurrent/mod.ts";
export * from "./ioloop/mod.ts";
export * from "./iostream/mod.ts";
export * from "./locks/mod.ts";
export * from "./queues/mod.ts";
