// Copyright the squall authors. MIT license.

/**
 * Futures and helpers for code that mixes callbacks and promises, after
 * Tornado's `tornado.concurrent`. Runs on any JavaScript runtime: it uses no
 * `Deno.*` API.
 *
 * Work in progress: only the error classes are here so far; `Future`, its
 * helpers and the executors follow.
 *
 * @example Catch a timeout
 * ```ts
 * import { TimeoutError } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new TimeoutError().name, "TimeoutError");
 * ```
 *
 * @module
 */

export * from "./errors.ts";
