// Copyright the squall authors. MIT license.

import { markNotThenable } from "./_releaser.ts";
import { checkOptions, WaiterList } from "./_waiters.ts";
import type { Releaser, WaitOptions } from "./types.ts";

/**
 * A mutual-exclusion lock for async code, handed to waiters strictly
 * first-come first-served (Tornado's `tornado.locks.Lock`).
 *
 * `acquire()` resolves with a {@linkcode Releaser}; `using` or
 * `await using` gives the lock back at the end of the scope, the way
 * Tornado's `async with lock:` does. A releaser only ever releases the hold
 * it was handed: once that hold ended, through it or through
 * {@linkcode Lock.release}, calling it again does nothing.
 *
 * @example Guard a critical section
 * ```ts
 * import { Lock } from "@squall/io/locks";
 * import assert from "node:assert/strict";
 *
 * const lock = new Lock();
 * const order: string[] = [];
 * async function worker(name: string): Promise<void> {
 *   await using _held = await lock.acquire();
 *   order.push(`${name} in`);
 *   await Promise.resolve();
 *   order.push(`${name} out`);
 * }
 * await Promise.all([worker("a"), worker("b")]);
 * assert.deepEqual(order, ["a in", "a out", "b in", "b out"]);
 * assert.equal(lock.locked, false);
 * ```
 */
export class Lock {
  #holder: Releaser | null = null;
  readonly #waiters = new WaiterList<Releaser>("Lock.acquire()", {
    // A waiter gave up between grant and delivery: unless the hold already
    // ended (a bare `release()` in between), the next waiter gets the lock.
    handBack: (releaser) => {
      if (this.#holder === releaser) this.#handOff();
    },
  });

  /**
   * The releaser of one hold. Declared inside Lock so it can check that
   * its hold is still the current one: a stale releaser does nothing.
   */
  static readonly #Releaser = class implements Releaser {
    #lock: Lock | null;

    constructor(lock: Lock) {
      this.#lock = lock;
    }

    release(): void {
      const lock = this.#lock;
      if (lock === null) return;
      this.#lock = null;
      if (lock.#holder === this) lock.#handOff();
    }

    [Symbol.dispose](): void {
      this.release();
    }

    static {
      markNotThenable(this);
    }
  };

  /**
   * Whether the lock is held.
   *
   * @example Check the state
   * ```ts
   * import { Lock } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * const held = await lock.acquire();
   * assert.equal(lock.locked, true);
   * held.release();
   * assert.equal(lock.locked, false);
   * ```
   */
  get locked(): boolean {
    return this.#holder !== null;
  }

  /**
   * How many `acquire()` calls are waiting.
   *
   * @example Count waiters
   * ```ts
   * import { Lock } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * const held = await lock.acquire();
   * const next = lock.acquire();
   * assert.equal(lock.waiters, 1);
   * held.release();
   * (await next).release();
   * assert.equal(lock.waiters, 0);
   * ```
   */
  get waiters(): number {
    return this.#waiters.size;
  }

  /**
   * Waits for the lock and resolves with the {@linkcode Releaser} that
   * gives it back.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The releaser of this hold. Rejects with `TimeoutError` on
   * timeout and with `signal.reason` when aborted; a waiter that gave up
   * never gets the lock later. A waiter with a signal receives the lock
   * one microtask after it was handed over; if the signal aborts in
   * between (say, in the same turn as the `release()`), the waiter rejects
   * and the lock passes to the next one. Once it resolved, the waiter
   * holds the lock and must release it, whatever the signal does.
   *
   * @example Give up after a timeout
   * ```ts
   * import { Lock } from "@squall/io/locks";
   * import { TimeoutError } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * using _held = await lock.acquire();
   * await assert.rejects(lock.acquire({ timeout: 10 }), TimeoutError);
   * assert.equal(lock.waiters, 0);
   * ```
   */
  acquire(options?: WaitOptions): Promise<Releaser> {
    const wait = checkOptions<Releaser>(options);
    if (wait instanceof Promise) return wait;
    if (this.#holder === null) {
      const releaser = new Lock.#Releaser(this);
      this.#holder = releaser;
      return Promise.resolve(releaser);
    }
    return this.#waiters.wait(wait);
  }

  /**
   * Releases the lock, handing it straight to the first waiter if any.
   *
   * @throws {Error} When the lock is not held.
   *
   * @example Release without the releaser
   * ```ts
   * import { Lock } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * await lock.acquire();
   * lock.release();
   * assert.throws(() => lock.release(), /release unlocked lock/);
   * ```
   */
  release(): void {
    if (this.#holder === null) {
      throw new Error("Cannot release unlocked lock: it is not held");
    }
    this.#handOff();
  }

  /** Ends the current hold: the next waiter gets the lock, if any. */
  #handOff(): void {
    if (this.#waiters.head === null) {
      this.#holder = null;
      return;
    }
    const releaser = new Lock.#Releaser(this);
    this.#holder = releaser;
    this.#waiters.grantFirst(releaser);
  }
}
