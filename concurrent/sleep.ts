// Copyright the squall authors. MIT license.

import { checkDelay, checkOptions, setLongTimeout } from "./_timer.ts";

/** Options for {@linkcode sleep}. */
export interface SleepOptions {
  /**
   * Ends the sleep early: the promise rejects with `signal.reason`.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * Resolves after `ms` milliseconds: Tornado's `gen.sleep`, in milliseconds.
 *
 * An abort of `options.signal` rejects with `signal.reason` exactly (at once
 * if the signal is already aborted). The timer and the abort listener are
 * removed however the sleep ends, so nothing is left behind. A negative `ms`
 * sleeps like `0`; `Infinity` sleeps until aborted and creates no timer. An
 * `ms` that is not a number, or `NaN`, rejects with a `TypeError` or
 * `RangeError`; so do `options` that are not an object and a `signal` that
 * is not an `AbortSignal` (a `TypeError`).
 *
 * @param ms How long to sleep, in milliseconds.
 * @param options An abort signal.
 * @returns A promise that resolves once the time has passed.
 *
 * @example Sleep, or stop early
 * ```ts
 * import { sleep } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * await sleep(1);
 *
 * const controller = new AbortController();
 * const nap = sleep(60_000, { signal: controller.signal });
 * controller.abort(new Error("wake up"));
 * await assert.rejects(nap, { message: "wake up" });
 * ```
 */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  const invalid = checkDelay(ms, "sleep") ?? checkOptions(options, "sleep");
  if (invalid !== undefined) return Promise.reject(invalid);
  let signal: AbortSignal | undefined;
  try {
    signal = options.signal; // read once; a getter may throw
  } catch (err) {
    return Promise.reject(err);
  }
  if (signal === undefined) {
    return new Promise((resolve) => void setLongTimeout(resolve, ms));
  }
  if (!(signal instanceof AbortSignal)) {
    return Promise.reject(
      new TypeError(
        `Cannot use sleep: signal must be an AbortSignal, got ${
          signal === null ? "null" : typeof signal
        }`,
      ),
    );
  }
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clear();
      reject(signal.reason);
    };
    const clear = setLongTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
