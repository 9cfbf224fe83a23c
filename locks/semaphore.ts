// Copyright the squall authors. MIT license.

import { markNotThenable } from "./_releaser.ts";
import { checkOptions, WaiterList } from "./_waiters.ts";
import type { Releaser, WaitOptions } from "./types.ts";

/** The releaser of one permit: gives it back once. */
class PermitReleaser implements Releaser {
  #semaphore: Semaphore | null;

  constructor(semaphore: Semaphore) {
    this.#semaphore = semaphore;
  }

  release(): void {
    const semaphore = this.#semaphore;
    if (semaphore === null) return;
    this.#semaphore = null;
    semaphore.release();
  }

  [Symbol.dispose](): void {
    this.release();
  }

  static {
    markNotThenable(this);
  }
}

function checkCount(value: unknown, what: string): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot create ${what}: the initial value must be a number, got ${typeof value}`,
    );
  }
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot create ${what}: the initial value must be a non-negative integer, got ${value}`,
    );
  }
  return value;
}

let setBound: (semaphore: Semaphore, max: number) => void;

/**
 * A counter of permits (Tornado's `tornado.locks.Semaphore`): `acquire()`
 * takes one, waiting first-come first-served while none is left, and
 * `release()` gives one back.
 *
 * @example Allow two tasks at a time
 * ```ts
 * import { Semaphore } from "@squall/io/locks";
 * import assert from "node:assert/strict";
 *
 * const semaphore = new Semaphore(2);
 * let running = 0;
 * let peak = 0;
 * async function task(): Promise<void> {
 *   using _permit = await semaphore.acquire();
 *   peak = Math.max(peak, ++running);
 *   await new Promise((resolve) => setTimeout(resolve, 1));
 *   running--;
 * }
 * await Promise.all([task(), task(), task(), task()]);
 * assert.equal(peak, 2);
 * assert.equal(semaphore.value, 2);
 * ```
 */
export class Semaphore {
  #value: number;
  /** BoundedSemaphore's bound: a handed-back permit never goes above it. */
  #max = Infinity;
  readonly #waiters = new WaiterList<Releaser>("Semaphore.acquire()", {
    // A waiter gave up between grant and delivery: its permit moves on. At
    // the bound, an extra bare release() already took its place.
    handBack: () => {
      if (this.#value < this.#max) this.#give();
    },
  });

  static {
    setBound = (semaphore, max) => {
      semaphore.#max = max;
    };
  }

  /**
   * Constructs a new {@linkcode Semaphore}.
   *
   * @param value The number of permits it starts with.
   * @throws {RangeError} When `value` is negative or not an integer.
   */
  constructor(value = 1) {
    this.#value = checkCount(value, new.target.name);
  }

  /**
   * The number of permits left.
   *
   * @example Take a permit
   * ```ts
   * import { Semaphore } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(3);
   * const permit = await semaphore.acquire();
   * assert.equal(semaphore.value, 2);
   * permit.release();
   * assert.equal(semaphore.value, 3);
   * ```
   */
  get value(): number {
    return this.#value;
  }

  /**
   * How many `acquire()` calls are waiting.
   *
   * @example Count waiters
   * ```ts
   * import { Semaphore } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(0);
   * const waiting = semaphore.acquire();
   * assert.equal(semaphore.waiters, 1);
   * semaphore.release();
   * (await waiting).release();
   * assert.equal(semaphore.waiters, 0);
   * ```
   */
  get waiters(): number {
    return this.#waiters.size;
  }

  /**
   * Takes a permit, waiting for one if none is left.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The releaser that gives this permit back. Rejects with
   * `TimeoutError` on timeout and with `signal.reason` when aborted. A
   * waiter with a signal receives its permit one microtask after it was
   * handed over; if the signal aborts in between, the waiter rejects and
   * the permit goes to the next waiter (or back to the count).
   *
   * @example Fail at once when no permit is left
   * ```ts
   * import { Semaphore } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(0);
   * await assert.rejects(semaphore.acquire({ timeout: 0 }), {
   *   name: "TimeoutError",
   * });
   * ```
   */
  acquire(options?: WaitOptions): Promise<Releaser> {
    const wait = checkOptions<Releaser>(options);
    if (wait instanceof Promise) return wait;
    if (this.#value > 0) {
      this.#value--;
      return Promise.resolve(new PermitReleaser(this));
    }
    return this.#waiters.wait(wait);
  }

  /**
   * Gives a permit back, handing it straight to the first waiter if any.
   *
   * @example Wake a waiter
   * ```ts
   * import { Semaphore } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(0);
   * const waiting = semaphore.acquire();
   * semaphore.release();
   * const permit = await waiting;
   * assert.equal(semaphore.value, 0);
   * permit.release();
   * assert.equal(semaphore.value, 1);
   * ```
   */
  release(): void {
    this.#give();
  }

  /** Hands a permit to the first waiter, or adds it to the count. */
  #give(): void {
    if (this.#waiters.head === null) {
      this.#value++;
      return;
    }
    this.#waiters.grantFirst(new PermitReleaser(this));
  }
}

/**
 * A {@linkcode Semaphore} that refuses to go above its initial value
 * (Tornado's `tornado.locks.BoundedSemaphore`): one release too many is a
 * bug, reported with a `RangeError`.
 *
 * @example Catch an extra release
 * ```ts
 * import { BoundedSemaphore } from "@squall/io/locks";
 * import assert from "node:assert/strict";
 *
 * const semaphore = new BoundedSemaphore(1);
 * const permit = await semaphore.acquire();
 * permit.release();
 * assert.throws(() => semaphore.release(), RangeError);
 * assert.equal(semaphore.value, 1);
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  readonly #initial: number;

  /**
   * Constructs a new {@linkcode BoundedSemaphore}.
   *
   * @param value The number of permits it starts with, and its maximum.
   * @throws {RangeError} When `value` is negative or not an integer.
   */
  constructor(value = 1) {
    super(value);
    this.#initial = value;
    setBound(this, value);
  }

  /**
   * Gives a permit back.
   *
   * @throws {RangeError} When that would exceed the initial value.
   *
   * @example Release what was acquired
   * ```ts
   * import { BoundedSemaphore } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new BoundedSemaphore(2);
   * await semaphore.acquire();
   * semaphore.release();
   * assert.equal(semaphore.value, 2);
   * assert.throws(() => semaphore.release(), /released too many times/);
   * ```
   */
  override release(): void {
    if (this.value >= this.#initial) {
      throw new RangeError(
        `BoundedSemaphore released too many times: already at its initial value ${this.#initial}`,
      );
    }
    super.release();
  }
}
