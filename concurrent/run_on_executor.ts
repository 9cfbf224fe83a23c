// Copyright the squall authors. MIT license.

import type { Executor } from "./executor.ts";
import type { Future } from "./future.ts";

/** Options for {@linkcode runOnExecutor}. */
export interface RunOnExecutorOptions {
  /**
   * The name of the instance property that holds the {@linkcode Executor}.
   *
   * @default {"executor"}
   */
  executor?: string | symbol;
}

/**
 * The decorator {@linkcode runOnExecutor} returns: it replaces a method of
 * type `(this: This, ...args: A) => R` with one that returns a
 * {@linkcode Future} for the method's awaited result.
 *
 * @typeParam This The class the method belongs to.
 * @typeParam A The method's argument types.
 * @typeParam R What the method returns.
 */
export type RunOnExecutorDecorator = <This, A extends unknown[], R>(
  method: (this: This, ...args: A) => R,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
) => (this: This, ...args: A) => Future<Awaited<R>>;

/**
 * A method decorator that runs each call of the method through an
 * {@linkcode Executor} held by the instance, and returns the executor's
 * {@linkcode Future}: Tornado's `run_on_executor`.
 *
 * It is a standard (TC39) decorator; it does not need TypeScript's
 * `experimentalDecorators`. A call `obj.method(...args)` becomes
 * `obj[executor].submit(method.bind(obj), ...args)`, looking the executor up
 * at call time; a missing executor throws a `TypeError`.
 *
 * TypeScript requires the decorated method's declared type to accept the
 * returned `Future`. A `Future` has everything a `Promise` has, so declare
 * the method `async` (or returning `Promise<R>`): callers then `await` it as
 * usual, and can still use the `Future` methods (`done()`, `cancel()`) at
 * run time.
 *
 * The bound method carries `this`, so it suits executors that run functions
 * in this thread ({@linkcode DummyExecutor}, or your own). A
 * {@linkcode WorkerExecutor} refuses bound functions with a `TypeError`:
 * objects cannot travel to a worker; submit a self-contained function to it
 * instead.
 *
 * @param options Where to find the executor.
 * @returns The decorator.
 *
 * @example Offload a method
 * ```ts
 * import { DummyExecutor, runOnExecutor } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * class Hasher {
 *   executor = new DummyExecutor();
 *   seed = 7;
 *
 *   @runOnExecutor()
 *   async hash(text: string): Promise<number> {
 *     let h = this.seed;
 *     for (const ch of text) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
 *     return h;
 *   }
 * }
 *
 * const hasher = new Hasher();
 * assert.equal(await hasher.hash("ab"), (7 * 31 + 97) * 31 + 98);
 * ```
 *
 * @example Name the executor property
 * ```ts
 * import {
 *   DummyExecutor,
 *   Future,
 *   runOnExecutor,
 * } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * class Service {
 *   pool = new DummyExecutor();
 *
 *   @runOnExecutor({ executor: "pool" })
 *   async twice(n: number): Promise<number> {
 *     return n * 2;
 *   }
 * }
 *
 * const call = new Service().twice(21);
 * assert.ok(call instanceof Future);
 * assert.equal(await call, 42);
 * ```
 */
export function runOnExecutor(
  options: RunOnExecutorOptions = {},
): RunOnExecutorDecorator {
  const key = options.executor ?? "executor";
  if (typeof key !== "string" && typeof key !== "symbol") {
    throw new TypeError(
      `Cannot create runOnExecutor: executor must be a property name, got ${typeof key}`,
    );
  }
  return function decorate<This, A extends unknown[], R>(
    method: (this: This, ...args: A) => R,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: A) => R>,
  ): (this: This, ...args: A) => Future<Awaited<R>> {
    if (context.kind !== "method") {
      throw new TypeError(
        `Cannot decorate ${String(context.name)} with runOnExecutor: it is a ${
          String(context.kind)
        }, not a method`,
      );
    }
    const methodName = String(context.name);
    return function (this: This, ...args: A): Future<Awaited<R>> {
      const executor = (this as Record<string | symbol, unknown> | null)?.[
        key
      ] as Executor | undefined;
      if (
        executor === null || typeof executor !== "object" ||
        typeof executor.submit !== "function"
      ) {
        throw new TypeError(
          `Cannot run ${methodName} on an executor: this.${
            String(key)
          } is not an Executor (got ${
            executor === null ? "null" : typeof executor
          })`,
        );
      }
      return executor.submit(method.bind(this), ...args);
    };
  };
}
