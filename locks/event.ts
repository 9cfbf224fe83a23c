// Copyright the squall authors. MIT license.

import { checkOptions, WaiterList } from "./_waiters.ts";
import type { WaitOptions } from "./types.ts";

const TRUE: Promise<boolean> = Promise.resolve(true);

/**
 * A flag that tasks can wait for (Tornado's `tornado.locks.Event`): it
 * starts clear, `set()` wakes every waiter, `clear()` makes later waits
 * block again.
 *
 * @example Wait for a signal from another task
 * ```ts
 * import { Event } from "@squall/io/locks";
 * import assert from "node:assert/strict";
 *
 * const ready = new Event();
 * setTimeout(() => ready.set(), 5);
 * assert.equal(await ready.wait(), true);
 * assert.equal(ready.isSet(), true);
 * ```
 */
export class Event {
  #set = false;
  readonly #waiters = new WaiterList<boolean>("Event.wait()", {
    onTimeout: { value: false },
  });

  /**
   * Whether the flag is set.
   *
   * @returns `true` after `set()` until `clear()`.
   *
   * @example Set and clear
   * ```ts
   * import { Event } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * event.set();
   * assert.equal(event.isSet(), true);
   * event.clear();
   * assert.equal(event.isSet(), false);
   * ```
   */
  isSet(): boolean {
    return this.#set;
  }

  /**
   * How many `wait()` calls are pending.
   *
   * @example Count waiters
   * ```ts
   * import { Event } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * const waiting = event.wait();
   * assert.equal(event.waiters, 1);
   * event.set();
   * assert.equal(await waiting, true);
   * assert.equal(event.waiters, 0);
   * ```
   */
  get waiters(): number {
    return this.#waiters.size;
  }

  /**
   * Sets the flag and wakes every waiter.
   *
   * @example Wake all waiters at once
   * ```ts
   * import { Event } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * const waits = [event.wait(), event.wait()];
   * event.set();
   * assert.deepEqual(await Promise.all(waits), [true, true]);
   * ```
   */
  set(): void {
    if (this.#set) return;
    this.#set = true;
    this.#waiters.grantAll(true);
  }

  /**
   * Clears the flag: later `wait()` calls block until the next `set()`.
   *
   * @example Block again after clear
   * ```ts
   * import { Event } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * event.set();
   * event.clear();
   * assert.equal(await event.wait({ timeout: 0 }), false);
   * ```
   */
  clear(): void {
    this.#set = false;
  }

  /**
   * Waits until the flag is set.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns `true` once set, `false` when the timeout passed first.
   * Rejects with `signal.reason` when aborted, also when the abort comes
   * after `set()` but before the wait resolved (a waiter with a signal is
   * woken one microtask later); the event stays set.
   *
   * @example Wait with a timeout
   * ```ts
   * import { Event } from "@squall/io/locks";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * assert.equal(await event.wait({ timeout: 5 }), false);
   * event.set();
   * assert.equal(await event.wait({ timeout: 5 }), true);
   * ```
   */
  wait(options?: WaitOptions): Promise<boolean> {
    const wait = checkOptions<boolean>(options);
    if (wait instanceof Promise) return wait;
    if (this.#set) return TRUE;
    return this.#waiters.wait(wait);
  }
}
