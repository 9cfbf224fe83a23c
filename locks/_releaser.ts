// Copyright the squall authors. MIT license.

/**
 * Gives a releaser class a `then` that is `undefined` on its own
 * prototype. Releasers are not thenables either way, but resolving a
 * promise with an object makes V8 look `then` up, and a miss that walks
 * to `Object.prototype` roughly doubles the cost of an uncontended
 * `Lock.acquire()` (measured with bench/locks_bench.ts). Private to squall.
 */
export function markNotThenable(cls: { prototype: object }): void {
  Object.defineProperty(cls.prototype, "then", { value: undefined });
}
