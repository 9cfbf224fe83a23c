// Copyright the squall authors. MIT license.

import { checkDelay, checkOptions, setLongTimeout } from "./_timer.ts";
import { CancelledError, TimeoutError } from "./errors.ts";
import type { Future } from "./future.ts";

/** An error class, as listed in {@linkcode WithTimeoutOptions.quietExceptions}. */
export type ErrorClass = abstract new (...args: never[]) => unknown;

/** Options for {@linkcode withTimeout}. */
export interface WithTimeoutOptions {
  /**
   * An error class, or an array of them, whose instances are not logged when
   * the wrapped promise rejects after the timeout already fired (an
   * `instanceof` check). Anything else (`undefined` in the array, an arrow
   * function) makes `withTimeout` reject with a `TypeError`.
   *
   * @default {[]}
   */
  quietExceptions?: ErrorClass | readonly ErrorClass[];
}

/**
 * Waits for `p` for at most `timeout` milliseconds: Tornado's
 * `with_timeout`, with a relative timeout.
 *
 * The returned promise settles like `p` if `p` settles in time, and rejects
 * with a {@linkcode TimeoutError} otherwise. The timer is cleared as soon as
 * either happens.
 *
 * - `timeout <= 0` never waits: if `p` is already settled when `withTimeout`
 *   is called (a done {@linkcode Future}, a settled promise) the result is
 *   `p`'s outcome, otherwise it rejects with `TimeoutError` within the same
 *   microtask checkpoint, without a timer.
 * - `timeout === Infinity` waits for `p` without a timer.
 * - A timeout does not cancel `p` or stop the work behind it. If `p` rejects
 *   after the timeout, nobody is left to see it, so the error is logged with
 *   `console.error` (unless it is an instance of a class in
 *   `options.quietExceptions`, or a {@linkcode CancelledError}: cancelling
 *   work after giving up on it is normal); it never becomes an unhandled
 *   rejection, even when a quiet class's `instanceof` check throws.
 * - A `timeout` that is not a number, or `NaN`, rejects with a `TypeError`
 *   or `RangeError`; a `p` that is not a thenable, `options` that are not
 *   an object, or `quietExceptions` that are not error classes, reject with
 *   a `TypeError`.
 *
 * @typeParam T The type of the result.
 * @param timeout Relative time limit in milliseconds.
 * @param p The promise, {@linkcode Future} or thenable to wait for.
 * @param options Which late errors to keep quiet.
 * @returns A promise for `p`'s result.
 *
 * @example Bound a slow operation
 * ```ts
 * import { sleep, TimeoutError, withTimeout } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await withTimeout(1000, Promise.resolve("fast")), "fast");
 *
 * const controller = new AbortController();
 * const slow = sleep(10_000, { signal: controller.signal });
 * // The abort below rejects `slow` late: keep that out of the log.
 * const quietExceptions = [DOMException];
 * await assert.rejects(withTimeout(5, slow, { quietExceptions }), TimeoutError);
 * controller.abort(); // the slow work went on: stop it
 * await assert.rejects(slow, { name: "AbortError" });
 * ```
 */
export function withTimeout<T>(
  timeout: number,
  p: PromiseLike<T> | Future<T>,
  options: WithTimeoutOptions = {},
): Promise<T> {
  if (
    p === null || typeof p !== "object" && typeof p !== "function" ||
    typeof p.then !== "function"
  ) {
    return Promise.reject(
      new TypeError("Cannot use withTimeout: expected a promise or a Future"),
    );
  }
  // Why a misused call fails, if it does (boxed: a getter may throw
  // anything, undefined included).
  let misuse: { reason: unknown } | undefined;
  let quiet: readonly ErrorClass[] = [];
  const bad = checkDelay(timeout, "withTimeout timeout") ??
    checkOptions(options, "withTimeout");
  if (bad !== undefined) misuse = { reason: bad };
  else {
    try {
      const classes = quietClasses(options.quietExceptions);
      if (classes instanceof TypeError) misuse = { reason: classes };
      else quiet = classes;
    } catch (err) {
      misuse = { reason: err }; // the quietExceptions getter threw
    }
  }
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  // Not Promise.withResolvers: Node 20 lacks it.
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A misused call rejects at once, yet still absorbs p's failure below.
  let settled = misuse !== undefined;
  if (misuse !== undefined) reject(misuse.reason);
  const expire = (): void => {
    if (settled) return;
    settled = true;
    reject(new TimeoutError(`Timed out after ${timeout} ms`));
  };
  // The timer is armed before p.then(): Deno 2.9's op sanitizer reports a
  // timer as leaked when a microtask queued before its creation clears it.
  const clear = settled || timeout <= 0
    ? undefined
    : setLongTimeout(expire, timeout);
  try {
    p.then(
      (value) => {
        if (settled) return;
        settled = true;
        clear?.();
        resolve(value);
      },
      (err) => {
        if (!settled) {
          settled = true;
          clear?.();
          reject(err);
        } else {
          logLate(err, quiet);
        }
      },
    );
  } catch (err) {
    // A thenable whose then() throws.
    clear?.();
    if (!settled) reject(err);
    settled = true;
    return promise;
  }
  // Reactions to an already settled `p` are queued already and run first.
  if (!settled && timeout <= 0) queueMicrotask(expire);
  return promise;
}

/** The classes `quietExceptions` lists, or the `TypeError` it deserves. */
function quietClasses(value: unknown): readonly ErrorClass[] | TypeError {
  if (value === undefined) return [];
  if (isClass(value)) return [value];
  if (!Array.isArray(value)) {
    return new TypeError(
      "Cannot use withTimeout: quietExceptions must be an error class or " +
        `an array of them, got ${describe(value)}`,
    );
  }
  // Each entry read once (holes too, as undefined): the copy checked is the
  // copy kept, and the caller cannot change it later.
  const length = value.length;
  const classes: unknown[] = new Array(length);
  for (let i = 0; i < length; i++) classes[i] = value[i];
  const bad = classes.findIndex((entry) => !isClass(entry));
  if (bad === -1) return classes as ErrorClass[];
  return new TypeError(
    `Cannot use withTimeout: quietExceptions[${bad}] must be an error ` +
      `class, got ${describe(classes[bad])}`,
  );
}

/** Whether `instanceof value` works (classes, bound classes; not arrows). */
function isClass(value: unknown): value is ErrorClass {
  if (typeof value !== "function") return false;
  const prototype: unknown = value.prototype;
  if (typeof prototype === "object" && prototype !== null) return true;
  try {
    // No prototype of its own: a bound class passes the check itself (on a
    // throwaway object), an arrow function throws.
    void ({} instanceof value);
    return true;
  } catch {
    return false;
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "function") return typeof value;
  return `function ${value.name || "(anonymous)"}, which is not a class`;
}

/** Logs a rejection that came after the timeout; never throws. */
function logLate(err: unknown, quiet: readonly ErrorClass[]): void {
  try {
    if (err instanceof CancelledError || quiet.some((c) => err instanceof c)) {
      return;
    }
  } catch {
    // A class's own Symbol.hasInstance threw: log the error, do not crash.
  }
  try {
    console.error(
      "squall: withTimeout: the promise rejected after the timeout:",
      err,
    );
  } catch {
    // console itself failed: nothing sane is left to do.
  }
}
