// Copyright the squall authors. MIT license.

/**
 * Options for every call that waits in `locks/` and `queues/`.
 *
 * @example Give up after a deadline or on demand
 * ```ts
 * import { Lock, type WaitOptions } from "@squall/io/locks";
 * import assert from "node:assert/strict";
 *
 * const lock = new Lock();
 * using _held = await lock.acquire();
 * const options: WaitOptions = { timeout: 0 };
 * await assert.rejects(lock.acquire(options), { name: "TimeoutError" });
 * ```
 */
export interface WaitOptions {
  /**
   * How long to wait, in milliseconds. `0` succeeds or fails at once and
   * never waits; a negative value counts as `0`. `Infinity` waits forever.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /**
   * Gives up the wait when aborted: the call rejects with `signal.reason`.
   * An already aborted signal rejects before anything else is done.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * A handle on a held lock or semaphore permit. `release()` gives it back;
 * calling it again through the same handle does nothing. It is disposable,
 * so `using` and `await using` release at the end of the scope.
 *
 * @example Release at the end of a block
 * ```ts
 * import { Lock, type Releaser } from "@squall/io/locks";
 * import assert from "node:assert/strict";
 *
 * const lock = new Lock();
 * {
 *   await using held: Releaser = await lock.acquire();
 *   assert.equal(lock.locked, true);
 *   held.release();
 *   held.release(); // no-op: this handle already released
 * }
 * assert.equal(lock.locked, false);
 * ```
 */
export interface Releaser {
  /** Gives the lock or permit back; later calls through this handle do nothing. */
  release(): void;
  /** Same as {@linkcode Releaser.release}, for `using` and `await using`. */
  [Symbol.dispose](): void;
}
