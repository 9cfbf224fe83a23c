// Copyright the squall authors. MIT license.

import { Future } from "./future.ts";

/**
 * Tells whether `x` is a {@linkcode Future} or a native `Promise`: the
 * objects squall treats as futures (Tornado's `is_future`, which accepts its
 * own and asyncio's future types).
 *
 * Like Tornado, it checks types rather than shape: an arbitrary object with
 * a `then` method is not a future, because nothing promises that it behaves
 * like one (wrap it with `Promise.resolve(x)` first). Promises from another
 * realm (an iframe, a `vm` context) are not recognised either.
 *
 * @param x Any value.
 * @returns `true` for instances of {@linkcode Future} and of `Promise`
 * (subclasses included).
 *
 * @example Recognise futures
 * ```ts
 * import { Future, isFuture } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isFuture(new Future()), true);
 * assert.equal(isFuture(Promise.resolve(1)), true);
 * assert.equal(isFuture({ then() {} }), false);
 * assert.equal(isFuture(42), false);
 * ```
 */
export function isFuture(x: unknown): x is Future<unknown> | Promise<unknown> {
  return x instanceof Future || x instanceof Promise;
}
