// Copyright the squall authors. MIT license.

import { reportCallbackError } from "../ioloop/_report.ts";
import { CancelledError, InvalidStateError } from "./errors.ts";
import { checkNotThenable, isThenable } from "./_thenable.ts";

const PENDING = 0;
const FULFILLED = 1;
const REJECTED = 2;
const CANCELLED = 3;

type State =
  | typeof PENDING
  | typeof FULFILLED
  | typeof REJECTED
  | typeof CANCELLED;

interface Resolvers<T> {
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** A callback given to {@linkcode Future.addDoneCallback}. */
export type DoneCallback<T> = (future: Future<T>) => unknown;

/**
 * A placeholder for a result that is not known yet, settled by whoever
 * created it: Tornado's (and asyncio's) `Future`.
 *
 * A `Future` is awaitable (it implements `then`, `catch` and `finally` the
 * way a `Promise` does, so `await`, `Promise.all` and friends accept it), but
 * unlike a promise it can also be inspected synchronously ({@linkcode done},
 * {@linkcode result}), settled from outside ({@linkcode setResult},
 * {@linkcode setException}) and {@linkcode cancel}led.
 *
 * A future that fails and is never awaited is not an unhandled rejection:
 * nothing happens, as in Tornado, where such an error is only logged when the
 * future is garbage collected. The promise behind `then` is created lazily,
 * on the first `then`/`catch`/`finally`, so a future nobody awaits costs no
 * promise at all.
 *
 * Done callbacks always run in a later microtask, never inside the call that
 * settled the future or added the callback, and in the order they were added.
 * Like a promise's `then` callbacks, each runs in the async context
 * (`AsyncLocalStorage`, where the runtime has it) of the code that added it,
 * not of the code that settled the future.
 *
 * @typeParam T The type of the result.
 *
 * @example Settle a future and await it
 * ```ts
 * import { Future } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const f = new Future<number>();
 * setTimeout(() => f.setResult(42), 1);
 * assert.equal(await f, 42);
 * assert.equal(f.done(), true);
 * assert.equal(f.result(), 42);
 * ```
 *
 * @example Cancel a future
 * ```ts
 * import { CancelledError, Future } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * const f = new Future<string>();
 * assert.equal(f.cancel(), true);
 * assert.equal(f.cancelled(), true);
 * await assert.rejects(f, CancelledError);
 * assert.throws(() => f.result(), CancelledError);
 * ```
 */
export class Future<T> implements PromiseLike<T> {
  #state: State = PENDING;
  #value: unknown = undefined;
  // Done callbacks added while pending wait as reactions to this promise,
  // made on the first one and resolved on settling. A promise reaction runs
  // in the async context (AsyncLocalStorage, where the runtime has it) of
  // whoever attached it: each callback sees its adder's context, not the
  // settler's, with nothing runtime-specific here.
  #gate: Promise<void> | undefined = undefined;
  #openGate: (() => void) | undefined = undefined;
  // Created on the first then/catch/finally; kept while pending so that
  // setResult/setException can settle it.
  #promise: Promise<T> | undefined = undefined;
  #resolvers: Resolvers<T> | undefined = undefined;

  /**
   * `"Future"`, for `Object.prototype.toString` and debuggers.
   *
   * @example Tell a future from a promise
   * ```ts
   * import { Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * assert.equal(String(new Future()), "[object Future]");
   * ```
   */
  get [Symbol.toStringTag](): string {
    return "Future";
  }

  /**
   * Marks the future successful with `value` and schedules its done
   * callbacks.
   *
   * A promise (any thenable) is refused: `await` would follow it while
   * {@linkcode result} and {@linkcode exception} could not, so the future
   * would say it succeeded while awaiting it fails or hangs. Use
   * {@linkcode chainFuture} to forward a promise's outcome into a future.
   *
   * @param value The result; not a thenable.
   * @throws {TypeError} If `value` is a thenable.
   * @throws {InvalidStateError} If the future is already done (cancelled
   * included).
   *
   * @example Set a result
   * ```ts
   * import { Future, InvalidStateError } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new Future<string>();
   * f.setResult("ok");
   * assert.equal(await f, "ok");
   * assert.throws(() => f.setResult("again"), InvalidStateError);
   * ```
   *
   * @example Forward a promise with chainFuture, not setResult
   * ```ts
   * import { chainFuture, Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const pending = Promise.resolve(7);
   * const f = new Future<number>();
   * assert.throws(
   *   () => f.setResult(pending as unknown as number),
   *   { name: "TypeError", message: /chainFuture/ },
   * );
   * chainFuture(pending, f);
   * assert.equal(await f, 7);
   * ```
   */
  setResult(value: T): void {
    checkNotThenable(value, "setResult");
    this.#settle(FULFILLED, value, "setResult");
  }

  /**
   * Marks the future failed with `error` and schedules its done callbacks.
   *
   * @param error The failure; awaiting the future rejects with it.
   * @throws {InvalidStateError} If the future is already done (cancelled
   * included).
   *
   * @example Fail a future
   * ```ts
   * import { Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new Future<number>();
   * const err = new Error("boom");
   * f.setException(err);
   * assert.equal(f.exception(), err);
   * await assert.rejects(f, err);
   * ```
   */
  setException(error: unknown): void {
    this.#settle(REJECTED, error, "setException");
  }

  /**
   * Cancels the future: it becomes done, awaiting it rejects with
   * {@linkcode CancelledError} and its done callbacks are scheduled.
   *
   * Cancelling only settles this object; it cannot stop work that someone
   * else does to produce the result.
   *
   * @returns `true` if the future was cancelled, `false` if it was already
   * done.
   *
   * @example Cancel only once
   * ```ts
   * import { Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new Future<void>();
   * assert.equal(f.cancel(), true);
   * assert.equal(f.cancel(), false);
   * ```
   */
  cancel(): boolean {
    if (this.#state !== PENDING) return false;
    this.#settle(CANCELLED, new CancelledError(), "cancel");
    return true;
  }

  /**
   * Tells whether the future was cancelled.
   *
   * @returns `true` after a successful {@linkcode cancel}.
   *
   * @example Check for cancellation
   * ```ts
   * import { Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new Future<void>();
   * assert.equal(f.cancelled(), false);
   * f.cancel();
   * assert.equal(f.cancelled(), true);
   * ```
   */
  cancelled(): boolean {
    return this.#state === CANCELLED;
  }

  /**
   * Tells whether the future is done: it has a result, an exception, or was
   * cancelled.
   *
   * @returns `false` while pending.
   *
   * @example Check for completion
   * ```ts
   * import { Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new Future<number>();
   * assert.equal(f.done(), false);
   * f.setResult(1);
   * assert.equal(f.done(), true);
   * ```
   */
  done(): boolean {
    return this.#state !== PENDING;
  }

  /**
   * Returns the result of a done future.
   *
   * @returns The value given to {@linkcode setResult}.
   * @throws The future's exception if it failed, a
   * {@linkcode CancelledError} if it was cancelled, and an
   * {@linkcode InvalidStateError} while it is pending.
   *
   * @example Read a result synchronously
   * ```ts
   * import { Future, InvalidStateError } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new Future<number>();
   * assert.throws(() => f.result(), InvalidStateError);
   * f.setResult(7);
   * assert.equal(f.result(), 7);
   * ```
   */
  result(): T {
    switch (this.#state) {
      case FULFILLED:
        return this.#value as T;
      case PENDING:
        throw new InvalidStateError(
          "Result is not ready: the future is pending",
        );
      default:
        throw this.#value;
    }
  }

  /**
   * Returns the exception of a done future.
   *
   * @returns The value given to {@linkcode setException}, or `undefined` if
   * the future succeeded.
   * @throws {CancelledError} If the future was cancelled.
   * @throws {InvalidStateError} While the future is pending.
   *
   * @example Read an exception synchronously
   * ```ts
   * import { Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const ok = new Future<number>();
   * ok.setResult(1);
   * assert.equal(ok.exception(), undefined);
   *
   * const failed = new Future<number>();
   * failed.setException(new RangeError("bad"));
   * assert.ok(failed.exception() instanceof RangeError);
   * ```
   */
  exception(): unknown {
    switch (this.#state) {
      case FULFILLED:
        return undefined;
      case REJECTED:
        return this.#value;
      case CANCELLED:
        throw this.#value;
      default:
        throw new InvalidStateError(
          "Exception is not set: the future is pending",
        );
    }
  }

  /**
   * Calls `callback(this)` once the future is done.
   *
   * The callback always runs in a later microtask, even when the future is
   * already done; callbacks run in the order they were added, each in the
   * async context (`AsyncLocalStorage`) it was added in. An error thrown
   * (or a rejection returned) by a callback is reported like any error from a
   * user callback (through the current IOLoop's error handler, `console.error`
   * by default) and does not keep the other callbacks from running.
   *
   * @param callback Receives this future.
   *
   * @example Run code when a future is done
   * ```ts
   * import { Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new Future<string>();
   * const seen: string[] = [];
   * f.addDoneCallback((done) => seen.push(done.result()));
   * f.setResult("x");
   * assert.deepEqual(seen, []); // not inline
   * await f;
   * assert.deepEqual(seen, ["x"]);
   * ```
   */
  addDoneCallback(callback: DoneCallback<T>): void {
    if (typeof callback !== "function") {
      throw new TypeError(
        `Cannot add done callback: expected a function, got ${typeof callback}`,
      );
    }
    // queueMicrotask, like a reaction, runs in the context it was called in.
    const run = () => this.#runCallback(callback);
    if (this.#state !== PENDING) queueMicrotask(run);
    else {
      this.#gate ??= new Promise<void>((resolve) => this.#openGate = resolve);
      this.#gate.then(run);
    }
  }

  /**
   * Attaches callbacks for the result and/or the failure, like
   * `Promise.prototype.then`.
   *
   * @typeParam R1 The type the fulfilment handler produces.
   * @typeParam R2 The type the rejection handler produces.
   * @param onfulfilled Called with the result.
   * @param onrejected Called with the exception (a
   * {@linkcode CancelledError} if the future was cancelled).
   * @returns A promise for the handler's outcome.
   *
   * @example Chain with then
   * ```ts
   * import { Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new Future<number>();
   * f.setResult(20);
   * assert.equal(await f.then((n) => n + 1), 21);
   * ```
   */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#getPromise().then(onfulfilled, onrejected);
  }

  /**
   * Attaches a callback for the failure, like `Promise.prototype.catch`.
   *
   * @typeParam R The type the rejection handler produces.
   * @param onrejected Called with the exception.
   * @returns A promise for the result or the handler's outcome.
   *
   * @example Recover from a failure
   * ```ts
   * import { Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new Future<number>();
   * f.setException(new Error("no"));
   * assert.equal(await f.catch(() => -1), -1);
   * ```
   */
  catch<R = never>(
    onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null,
  ): Promise<T | R> {
    return this.#getPromise().catch(onrejected);
  }

  /**
   * Attaches a callback that runs however the future ends, like
   * `Promise.prototype.finally`.
   *
   * @param onfinally Called without arguments once the future is done.
   * @returns A promise with the future's outcome.
   *
   * @example Clean up afterwards
   * ```ts
   * import { Future } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const f = new Future<number>();
   * let cleaned = false;
   * f.setResult(1);
   * assert.equal(await f.finally(() => (cleaned = true)), 1);
   * assert.equal(cleaned, true);
   * ```
   */
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#getPromise().finally(onfinally);
  }

  #getPromise(): Promise<T> {
    let promise = this.#promise;
    if (promise !== undefined) return promise;
    switch (this.#state) {
      case PENDING:
        // Not Promise.withResolvers: Node 20 lacks it.
        promise = new Promise<T>((resolve, reject) => {
          this.#resolvers = { resolve, reject };
        });
        break;
      case FULFILLED:
        promise = Promise.resolve(this.#value as T);
        break;
      default:
        promise = Promise.reject(this.#value);
    }
    // No need to mark it handled: only then/catch/finally get here, and each
    // attaches a reaction to it at once.
    this.#promise = promise;
    return promise;
  }

  #settle(state: State, value: unknown, method: string): void {
    if (this.#state !== PENDING) {
      throw new InvalidStateError(
        `Cannot ${method}: the future is already ${
          this.#state === CANCELLED ? "cancelled" : "done"
        }`,
      );
    }
    this.#state = state;
    this.#value = value;
    const resolvers = this.#resolvers;
    if (resolvers !== undefined) {
      this.#resolvers = undefined;
      if (state === FULFILLED) resolvers.resolve(value as T);
      else resolvers.reject(value);
    }
    const openGate = this.#openGate;
    if (openGate !== undefined) {
      this.#gate = this.#openGate = undefined;
      openGate();
    }
  }

  #runCallback(callback: DoneCallback<T>): void {
    try {
      const out = callback(this);
      if (isThenable(out)) {
        out.then(
          undefined,
          (err) => reportCallbackError(err, callbackName(callback)),
        );
      }
    } catch (err) {
      reportCallbackError(err, callbackName(callback));
    }
  }
}

function callbackName(callback: { name: string }): string {
  return `Future done callback ${callback.name || "(anonymous)"}`;
}
