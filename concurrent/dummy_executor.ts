// Copyright the squall authors. MIT license.

import { chainFuture } from "./chain_future.ts";
import type { Executor } from "./executor.ts";
import { Future } from "./future.ts";
import { isThenable } from "./_thenable.ts";

/**
 * An {@linkcode Executor} that runs each function at once, inside
 * {@linkcode submit}: Tornado's `dummy_executor`. Useful for tests and for
 * code that must offer an executor but has nothing worth offloading.
 *
 * @example Run a function through the executor interface
 * ```ts
 * import { DummyExecutor } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const executor = new DummyExecutor();
 * const f = executor.submit((a: number, b: number) => a + b, 1, 2);
 * assert.equal(f.done(), true); // it ran inline
 * assert.equal(await f, 3);
 * ```
 */
export class DummyExecutor implements Executor {
  /**
   * Calls `fn(...args)` now. Its return value becomes the future's result;
   * what it throws becomes the future's exception. A returned promise (or
   * thenable) is followed: the future settles when it does.
   *
   * @typeParam A The argument types.
   * @typeParam R What `fn` returns.
   * @param fn The function to run.
   * @param args Its arguments.
   * @returns A future for the result, already done unless `fn` returned a
   * pending promise.
   * @throws {TypeError} If `fn` is not a function.
   *
   * @example A thrown error lands in the future
   * ```ts
   * import { DummyExecutor } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new DummyExecutor().submit(() => {
   *   throw new Error("failed");
   * });
   * assert.equal((f.exception() as Error).message, "failed");
   * await assert.rejects(f, { message: "failed" });
   * ```
   */
  submit<A extends unknown[], R>(
    fn: (...args: A) => R | PromiseLike<R>,
    ...args: A
  ): Future<Awaited<R>> {
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot submit to DummyExecutor: expected a function, got ${typeof fn}`,
      );
    }
    const future = new Future<Awaited<R>>();
    let out: R | PromiseLike<R>;
    try {
      out = fn(...args);
    } catch (err) {
      future.setException(err);
      return future;
    }
    if (isThenable(out)) {
      chainFuture(out as PromiseLike<Awaited<R>>, future);
    } else {
      future.setResult(out as Awaited<R>);
    }
    return future;
  }

  /**
   * Does nothing: a `DummyExecutor` holds no resources.
   *
   * @example Shut down (a no-op)
   * ```ts
   * import { DummyExecutor } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const executor = new DummyExecutor();
   * executor.shutdown();
   * assert.equal(await executor.submit(() => "still works"), "still works");
   * ```
   */
  shutdown(): void {}
}
