// Copyright the squall authors. MIT license.

import { reportCallbackError } from "../ioloop/_report.ts";
import type { Future } from "./future.ts";
import { checkNotThenable } from "./_thenable.ts";

/**
 * Sets the result of `future` unless it was cancelled: Tornado's
 * `future_set_result_unless_cancelled`, for code that produces a result
 * while the consumer may have given up waiting.
 *
 * @typeParam T The type of the result.
 * @param future The future to settle.
 * @param value Its result; not a thenable (see {@linkcode Future.setResult}).
 * @throws {TypeError} If `value` is a thenable, even when the future was
 * cancelled.
 * @throws {InvalidStateError} If the future already has a result or an
 * exception (only cancellation is forgiven).
 *
 * @example Settle a future that may have been cancelled
 * ```ts
 * import {
 *   Future,
 *   futureSetResultUnlessCancelled,
 * } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const f = new Future<number>();
 * f.cancel();
 * futureSetResultUnlessCancelled(f, 1); // no InvalidStateError
 * assert.equal(f.cancelled(), true);
 *
 * const g = new Future<number>();
 * futureSetResultUnlessCancelled(g, 2);
 * assert.equal(g.result(), 2);
 * ```
 */
export function futureSetResultUnlessCancelled<T>(
  future: Future<T>,
  value: T,
): void {
  checkNotThenable(value, "futureSetResultUnlessCancelled");
  if (!future.cancelled()) future.setResult(value);
}

/**
 * Sets the exception of `future` unless it was cancelled: Tornado's
 * `future_set_exception_unless_cancelled`.
 *
 * When the future was cancelled the error has no one left to receive it, so
 * it is reported (through the current IOLoop's error handler,
 * `console.error` by default) rather than silently lost.
 *
 * @typeParam T The type of the result.
 * @param future The future to fail.
 * @param error Its exception.
 * @throws {InvalidStateError} If the future already has a result or an
 * exception (only cancellation is forgiven).
 *
 * @example Fail a future that may have been cancelled
 * ```ts
 * import {
 *   Future,
 *   futureSetExceptionUnlessCancelled,
 * } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const f = new Future<number>();
 * const err = new Error("failed");
 * futureSetExceptionUnlessCancelled(f, err);
 * assert.equal(f.exception(), err);
 * ```
 */
export function futureSetExceptionUnlessCancelled<T>(
  future: Future<T>,
  error: unknown,
): void {
  if (!future.cancelled()) future.setException(error);
  else {
    reportCallbackError(
      error,
      "futureSetExceptionUnlessCancelled (the future was already cancelled)",
    );
  }
}
