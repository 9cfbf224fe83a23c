// Copyright the squall authors. MIT license.

/**
 * Whether `value` is a thenable: what `await` and promise resolution follow
 * (an object or function with a callable `then`). Private to squall.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}

/**
 * Throws a TypeError for a thenable given as a Future's result: `await`
 * would follow it, `result()` would not.
 */
export function checkNotThenable(value: unknown, caller: string): void {
  if (isThenable(value)) {
    throw new TypeError(
      `Cannot ${caller} with a thenable: a Future does not follow a promise; ` +
        "use chainFuture(promise, future) to forward its outcome",
    );
  }
}
