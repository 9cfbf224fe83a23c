// Copyright the squall authors. MIT license.

/**
 * Raised when an operation did not finish within its deadline: a timed
 * `Lock.acquire()`, `Queue.get()`, {@linkcode withTimeout}, `IOLoop.runSync()`.
 *
 * Tornado's `tornado.util.TimeoutError` (and `asyncio.TimeoutError`).
 *
 * @example Tell a timeout from other failures
 * ```ts
 * import { TimeoutError } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const err = new TimeoutError("Timed out after 10 ms");
 * assert.ok(err instanceof Error);
 * assert.equal(err.name, "TimeoutError");
 * ```
 */
export class TimeoutError extends Error {
  /**
   * Constructs a new {@linkcode TimeoutError}.
   *
   * @param message What timed out.
   * @param options The standard `cause` option.
   */
  constructor(message = "Timeout", options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
  }
}

/**
 * Raised when awaiting a {@linkcode Future} that was cancelled.
 *
 * @example Recognise a cancellation
 * ```ts
 * import { CancelledError, Future } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const f = new Future<number>();
 * f.cancel();
 * try {
 *   await f;
 *   assert.fail("a cancelled future does not resolve");
 * } catch (err) {
 *   assert.ok(err instanceof CancelledError);
 *   assert.equal(err.name, "CancelledError");
 * }
 * ```
 */
export class CancelledError extends Error {
  /**
   * Constructs a new {@linkcode CancelledError}.
   *
   * @param message What was cancelled.
   * @param options The standard `cause` option.
   */
  constructor(message = "The future was cancelled", options?: ErrorOptions) {
    super(message, options);
    this.name = "CancelledError";
  }
}

/**
 * Raised when an operation is not allowed in an object's current state,
 * such as setting the result of a {@linkcode Future} twice.
 *
 * @example Set a result twice
 * ```ts
 * import { Future, InvalidStateError } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const f = new Future<number>();
 * f.setResult(1);
 * assert.throws(() => f.setResult(2), InvalidStateError);
 * assert.equal(new InvalidStateError("x").name, "InvalidStateError");
 * ```
 */
export class InvalidStateError extends Error {
  /**
   * Constructs a new {@linkcode InvalidStateError}.
   *
   * @param message What state was wrong.
   * @param options The standard `cause` option.
   */
  constructor(message = "Invalid state", options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidStateError";
  }
}
