// Copyright the squall authors. MIT license.

import { checkOptions, WaiterList } from "./_waiters.ts";
import { Lock } from "./lock.ts";
import type { Releaser, WaitOptions } from "./types.ts";

/**
 * Lets tasks wait until another task notifies them (Tornado's
 * `tornado.locks.Condition`). As in Tornado, `wait()` and `notify()` need
 * no lock; the optional lock only backs {@linkcode Condition.acquire} and
 * {@linkcode Condition.release}, for code that wants asyncio-style usage.
 *
 * @example Wake one waiter
 * ```ts
 * import { Condition } from "@squall/io/locks";
 * import assert from "node:assert/strict";
 *
 * const condition = new Condition();
 * const woken = condition.wait();
 * condition.notify();
 * assert.equal(await woken, true);
 * ```
 */
export class Condition {
  #lock: Lock | undefined;
  readonly #waiters = new WaiterList<boolean>("Condition.wait()", {
    onTimeout: { value: false },
    // A waiter gave up between notify() and delivery: the notification
    // wakes the next one instead, so notify(n) wakes n live waiters, but
    // only one that was already waiting when notify() was called. One that
    // came later was not notified (as in Tornado): the notification lapses.
    handBack: (_, cutoff) => this.#waiters.grantFirst(true, cutoff),
  });

  /**
   * Constructs a new {@linkcode Condition}.
   *
   * @param lock The lock behind `acquire()`/`release()`; a new
   * {@linkcode Lock} when omitted.
   * @throws {TypeError} When `lock` is not a {@linkcode Lock}.
   */
  constructor(lock?: Lock) {
    if (lock !== undefined && !(lock instanceof Lock)) {
      throw new TypeError("Cannot create Condition: lock must be a Lock");
    }
    this.#lock = lock;
  }

  /**
   * How many `wait()` calls are pending.
   *
   * @example Count waiters
   * ```ts
   * import { Condition } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * const waits = [condition.wait(), condition.wait()];
   * assert.equal(condition.waiters, 2);
   * condition.notifyAll();
   * await Promise.all(waits);
   * assert.equal(condition.waiters, 0);
   * ```
   */
  get waiters(): number {
    return this.#waiters.size;
  }

  /**
   * Waits for a notification.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns `true` when notified, `false` when the timeout passed first.
   * Rejects with `signal.reason` when aborted. A waiter with a signal is
   * woken one microtask after `notify()`; if the signal aborts in between,
   * it rejects and the notification passes to the next waiter that was
   * already waiting when `notify()` was called. If there is none, it lapses:
   * a wait that began after the `notify()` was never notified.
   *
   * @example Time out
   * ```ts
   * import { Condition } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * assert.equal(await condition.wait({ timeout: 5 }), false);
   * assert.equal(condition.waiters, 0);
   * ```
   */
  wait(options?: WaitOptions): Promise<boolean> {
    const wait = checkOptions<boolean>(options);
    if (wait instanceof Promise) return wait;
    return this.#waiters.wait(wait);
  }

  /**
   * Wakes up to `n` waiters, oldest first. Only waits already pending are
   * woken, as in Tornado: a later `wait()` waits for a later notification.
   *
   * @param n How many waiters to wake.
   * @throws {TypeError} When `n` is not a number.
   * @throws {RangeError} When `n` is negative or not a whole number.
   *
   * @example Wake two of three
   * ```ts
   * import { Condition } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * const woken: number[] = [];
   * for (const id of [1, 2, 3]) condition.wait().then(() => woken.push(id));
   * condition.notify(2);
   * await new Promise((resolve) => setTimeout(resolve, 0));
   * assert.deepEqual(woken, [1, 2]);
   * condition.notifyAll();
   * ```
   */
  notify(n = 1): void {
    if (typeof n !== "number") {
      throw new TypeError(
        `Cannot notify: the count must be a number, got ${typeof n}`,
      );
    }
    if (!(n >= 0) || !Number.isInteger(n) && n !== Infinity) {
      throw new RangeError(
        `Cannot notify ${n} waiters: the count must be a non-negative integer`,
      );
    }
    while (n-- > 0 && this.#waiters.grantFirst(true));
  }

  /**
   * Wakes every waiter.
   *
   * @example Wake everyone
   * ```ts
   * import { Condition } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * const waits = [condition.wait(), condition.wait()];
   * condition.notifyAll();
   * assert.deepEqual(await Promise.all(waits), [true, true]);
   * ```
   */
  notifyAll(): void {
    this.#waiters.grantAll(true);
  }

  /**
   * Acquires the condition's lock.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The lock's releaser; rejects as {@linkcode Lock.acquire} does.
   *
   * @example Guard shared state
   * ```ts
   * import { Condition, Lock } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * const condition = new Condition(lock);
   * {
   *   using _held = await condition.acquire();
   *   assert.equal(lock.locked, true);
   * }
   * assert.equal(lock.locked, false);
   * ```
   */
  acquire(options?: WaitOptions): Promise<Releaser> {
    return (this.#lock ??= new Lock()).acquire(options);
  }

  /**
   * Releases the condition's lock.
   *
   * @throws {Error} When the lock is not held.
   *
   * @example Release directly
   * ```ts
   * import { Condition } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * await condition.acquire();
   * condition.release();
   * assert.throws(() => condition.release(), /release unlocked lock/);
   * ```
   */
  release(): void {
    (this.#lock ??= new Lock()).release();
  }
}
