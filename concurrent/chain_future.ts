// Copyright the squall authors. MIT license.

import { Future } from "./future.ts";
import { isThenable } from "./_thenable.ts";

/**
 * Copies the outcome of `a` into `b` once `a` settles, unless `b` is already
 * done (or cancelled) by then: Tornado's `chain_future`.
 *
 * A result becomes `b`'s result and a failure its exception; a cancelled
 * `a` cancels `b`. `a` may be a {@linkcode Future}, a promise or any
 * thenable; its rejection is always handled here, so chaining never causes an
 * unhandled rejection.
 *
 * @typeParam T The type of the result.
 * @param a The source.
 * @param b The target, usually a fresh future handed out to a caller.
 *
 * @example Forward a promise's result into a future
 * ```ts
 * import { chainFuture, Future } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const b = new Future<number>();
 * chainFuture(Promise.resolve(5), b);
 * assert.equal(await b, 5);
 * ```
 *
 * @example A target that is already done is left alone
 * ```ts
 * import { chainFuture, Future } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const a = new Future<string>();
 * const b = new Future<string>();
 * chainFuture(a, b);
 * b.cancel();
 * a.setResult("late");
 * await a;
 * assert.equal(b.cancelled(), true);
 * ```
 */
export function chainFuture<T>(
  a: PromiseLike<T> | Future<T>,
  b: Future<T>,
): void {
  if (!(b instanceof Future)) {
    throw new TypeError("Cannot chain futures: the target is not a Future");
  }
  if (a instanceof Future) {
    a.addDoneCallback(() => {
      if (b.done()) return;
      if (a.cancelled()) {
        b.cancel();
        return;
      }
      let value: T;
      try {
        value = a.result();
      } catch (err) {
        b.setException(err);
        return;
      }
      b.setResult(value);
    });
    return;
  }
  if (!isThenable(a)) {
    throw new TypeError(
      "Cannot chain futures: the source is not a Future or a thenable",
    );
  }
  try {
    a.then(
      (value) => {
        if (b.done()) return;
        // Only a hand-made thenable passes one on: follow it as await does.
        if (isThenable(value)) chainFuture(value as PromiseLike<T>, b);
        else b.setResult(value);
      },
      (err) => {
        if (!b.done()) b.setException(err);
      },
    );
  } catch (err) {
    // A broken thenable whose then() throws fails the target instead.
    if (!b.done()) b.setException(err);
  }
}
