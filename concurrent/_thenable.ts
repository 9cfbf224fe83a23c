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
