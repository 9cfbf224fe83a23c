// Copyright the squall authors. MIT license.

import type { TimeoutHandle } from "./constants.ts";
import { CancelledError } from "../concurrent/errors.ts";
import { isThenable } from "../concurrent/_thenable.ts";
import { IOLoop } from "./ioloop.ts";
import { isLoopClosed, reportToLoop } from "./_loop_hooks.ts";

/** A call failed. Cancelled work is no failure (Tornado 6). */
function fail(loop: IOLoop, err: unknown, where: string): void {
  if (!(err instanceof CancelledError)) reportToLoop(loop, err, where);
}

/**
 * Calls a function every `callbackTime` milliseconds on the loop that is
 * current when {@linkcode PeriodicCallback.start} is called.
 *
 * The period runs from the start of one call to the start of the next. A
 * call that overruns — a slow synchronous one, or an async one whose promise
 * is still pending — makes the missed beats be skipped: the next call is at
 * the next multiple of the period after it finished, never two calls at
 * once. With `jitter`, each period is multiplied by
 * `1 + jitter * (Math.random() - 0.5)`, as Tornado does, to spread out
 * callbacks that would otherwise fire together. Errors thrown or rejected by
 * the callback go to that loop's error handler (a `CancelledError` is not
 * reported, as in Tornado 6) and the beats go on.
 *
 * @example Tick three times
 * ```ts
 * import { IOLoop, PeriodicCallback } from "@squall/io/ioloop";
 * import assert from "node:assert/strict";
 *
 * const loop = new IOLoop();
 * let ticks = 0;
 * const pc = new PeriodicCallback(() => {
 *   if (++ticks === 3) {
 *     pc.stop();
 *     loop.stop();
 *   }
 * }, 2);
 * pc.start();
 * await loop.start();
 * assert.equal(ticks, 3);
 * assert.equal(pc.isRunning(), false);
 * loop.close();
 * ```
 */
export class PeriodicCallback {
  readonly #callback: () => unknown;
  readonly #callbackTime: number;
  readonly #jitter: number;
  #loop: IOLoop | null = null;
  #running = false;
  #nextTimeout = 0;
  #timeout: TimeoutHandle | null = null;
  // Bumped by start()/stop() so a slow call of an old run schedules nothing.
  #generation = 0;

  /**
   * Creates a stopped periodic callback.
   *
   * @param callback Called each beat; may return a promise.
   * @param callbackTime The period in milliseconds, > 0.
   * @param jitter Fraction of random variation of each period: 0.1 means
   * ±5 %. From 0 up to (not including) 2, the most that keeps every period
   * positive.
   * @throws {TypeError} When `callback` is not a function.
   * @throws {RangeError} When `callbackTime` is not a positive number or
   * `jitter` is outside [0, 2).
   */
  constructor(callback: () => unknown, callbackTime: number, jitter = 0) {
    if (typeof callback !== "function") {
      throw new TypeError(
        `PeriodicCallback expects a function, got ${typeof callback}`,
      );
    }
    if (typeof callbackTime !== "number") {
      throw new TypeError(
        `PeriodicCallback period must be a number, got ${typeof callbackTime}`,
      );
    }
    if (!(callbackTime > 0) || !Number.isFinite(callbackTime)) {
      throw new RangeError(
        `PeriodicCallback period must be a positive number of ms, got "${callbackTime}"`,
      );
    }
    if (typeof jitter !== "number") {
      throw new TypeError(
        `PeriodicCallback jitter must be a number, got ${typeof jitter}`,
      );
    }
    // Tornado takes any value; from 2 on, a period could be zero or
    // negative, and the callback would spin.
    if (!(jitter >= 0 && jitter < 2)) {
      throw new RangeError(
        `PeriodicCallback jitter must be at least 0 and below 2, got "${jitter}"`,
      );
    }
    this.#callback = callback;
    this.#callbackTime = callbackTime;
    this.#jitter = jitter;
  }

  /**
   * Starts the beats on the current loop; the first call is one period
   * from now. Does nothing if already running. Closing the loop stops the
   * beats, so `start()` after that begins again on the loop current then.
   *
   * @throws {Error} When the first beat cannot be scheduled on the loop
   * (the callback then stays stopped).
   *
   * @example The first call comes one period after start()
   * ```ts
   * import { IOLoop, PeriodicCallback } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop();
   * const started = loop.time();
   * const firstAfter = await new Promise<number>((resolve) => {
   *   const pc = new PeriodicCallback(() => {
   *     pc.stop();
   *     resolve(loop.time() - started);
   *   }, 5);
   *   pc.start();
   *   pc.start(); // already running: does nothing
   * });
   * assert.ok(firstAfter >= 5);
   * loop.close();
   * ```
   */
  start(): void {
    if (this.#live()) return;
    this.#loop = IOLoop.current();
    this.#running = true;
    this.#generation++;
    this.#nextTimeout = this.#loop.time();
    this.#scheduleNext(this.#generation, true);
  }

  /**
   * Stops the beats; a call in progress finishes but is not followed.
   *
   * @example No beat after stop()
   * ```ts
   * import { IOLoop, PeriodicCallback } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop();
   * let ticks = 0;
   * const pc = new PeriodicCallback(() => ticks++, 2);
   * pc.start();
   * await new Promise<void>((resolve) => loop.callLater(7, resolve));
   * pc.stop();
   * const atStop = ticks;
   * await new Promise<void>((resolve) => loop.callLater(10, resolve));
   * assert.ok(atStop >= 1);
   * assert.equal(ticks, atStop);
   * loop.close();
   * ```
   */
  stop(): void {
    if (!this.#live()) return;
    this.#running = false;
    this.#generation++;
    if (this.#timeout !== null) {
      this.#loop?.removeTimeout(this.#timeout);
      this.#timeout = null;
    }
  }

  /**
   * Whether the beats are on.
   *
   * @returns `true` between `start()` and `stop()`, as long as the loop
   * they run on is not closed.
   *
   * @example Follow the state
   * ```ts
   * import { IOLoop, PeriodicCallback } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop();
   * const pc = new PeriodicCallback(() => {}, 1_000);
   * assert.equal(pc.isRunning(), false);
   * pc.start();
   * assert.equal(pc.isRunning(), true);
   * pc.stop();
   * assert.equal(pc.isRunning(), false);
   * loop.close();
   * ```
   */
  isRunning(): boolean {
    return this.#live();
  }

  // close() of the loop cleared the next beat: the beats are over.
  #live(): boolean {
    if (this.#running && isLoopClosed(this.#loop!)) {
      this.#running = false;
      this.#generation++;
      this.#timeout = null;
      this.#loop = null;
    }
    return this.#running;
  }

  #run = (generation: number): void => {
    this.#timeout = null;
    if (generation !== this.#generation) return;
    const loop = this.#loop!;
    const where = `periodic callback ${this.#callback.name || "<anonymous>"}`;
    let result: unknown;
    try {
      result = this.#callback();
    } catch (err) {
      fail(loop, err, where);
    }
    if (!isThenable(result)) {
      this.#scheduleNext(generation);
      return;
    }
    // No new call while this one's promise is pending.
    try {
      result.then(
        () => this.#scheduleNext(generation),
        (err) => {
          fail(loop, err, where);
          this.#scheduleNext(generation);
        },
      );
    } catch (err) {
      // A thenable whose then() throws: that is the call's failure.
      fail(loop, err, where);
      this.#scheduleNext(generation);
    }
  };

  #scheduleNext(generation: number, fromStart = false): void {
    if (generation !== this.#generation || !this.#running) return;
    const loop = this.#loop!;
    this.#updateNext(loop.time());
    try {
      this.#timeout = loop.addTimeout(this.#nextTimeout, this.#run, generation);
    } catch (err) {
      this.#running = false;
      // After a call this is expected (the callback closed the loop, or it
      // was closed while an async call was pending): the beats end there,
      // quietly. From start() it is not: a callback that says it runs but
      // never beats would hide the failure.
      if (fromStart) throw err;
    }
  }

  #updateNext(now: number): void {
    let period = this.#callbackTime;
    if (this.#jitter) period *= 1 + this.#jitter * (Math.random() - 0.5);
    if (this.#nextTimeout <= now) {
      // Skip the beats missed while a call overran.
      this.#nextTimeout +=
        (Math.floor((now - this.#nextTimeout) / period) + 1) * period;
    } else {
      // The clock went backwards: still move forward by one period.
      this.#nextTimeout += period;
    }
  }
}
