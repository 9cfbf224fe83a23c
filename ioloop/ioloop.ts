// Copyright the squall authors. MIT license.

import { AsyncLocalStorage } from "node:async_hooks";
import { chainFuture } from "../concurrent/chain_future.ts";
import { quiet } from "../concurrent/_quiet.ts";
import { isThenable } from "../concurrent/_thenable.ts";
import { CancelledError, TimeoutError } from "../concurrent/errors.ts";
import type { Executor } from "../concurrent/executor.ts";
import { Future } from "../concurrent/future.ts";
import { WorkerExecutor } from "../concurrent/worker_executor.ts";
import {
  ERROR,
  type Fd,
  READ,
  type TimeoutHandle,
  WRITE,
} from "./constants.ts";
import { markLoopClosed, registerLoopReporter } from "./_loop_hooks.ts";
import { Poller } from "./_poller.ts";
import { setErrorRouter } from "./_report.ts";
import { TimerEntry, TimerHeap } from "./_timer_heap.ts";

/**
 * Receives errors thrown (or rejected) by code an {@linkcode IOLoop} runs on
 * the user's behalf. `where` names it, e.g. `"callback tick"`.
 */
export type ErrorHandler = (err: unknown, where: string) => void;

/** Called with the watched descriptor (as it was given) and its events. */
export type FdHandler = (fd: Fd, events: number) => unknown;

/** Options for the {@linkcode IOLoop} constructor. */
export interface IOLoopOptions {
  /**
   * Make the new loop {@linkcode IOLoop.current}.
   *
   * @default {true}
   */
  makeCurrent?: boolean;
  /**
   * Where errors from callbacks, timeouts and handlers go. A
   * `CancelledError` is not reported (as in Tornado 6): cancelled work is
   * not a failure.
   *
   * @default {a `console.error` that names the callback}
   */
  onError?: ErrorHandler;
  /**
   * The loop's monotonic clock in milliseconds; inject one for
   * deterministic tests.
   *
   * @default {() => performance.now()}
   */
  time?: () => number;
}

/** Options for {@linkcode IOLoop.runSync}. */
export interface RunSyncOptions {
  /**
   * Milliseconds on the loop's clock, counted from the `runSync` call, after
   * which `runSync` rejects with `TimeoutError` if `fn`'s result is still
   * pending. `fn` always starts first, and a result that is settled by the
   * time `fn` returns never times out.
   *
   * @default {undefined (no limit)}
   */
  timeout?: number;
}

// Runs a function in the async context this module was loaded in. The
// loop's host timer, callback batch and poller serve every caller, so the
// callbacks they run must not inherit the AsyncLocalStorage context of
// whichever code happened to arm them (say, one TCPServer handler).
const outside = AsyncLocalStorage.snapshot();

/** Longest delay `setTimeout` takes without overflowing. */
const MAX_DELAY = 2 ** 31 - 1;
const EVENT_MASK = READ | WRITE | ERROR;

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => unknown;

let currentLoop: IOLoop | null = null;
// The loop inside start() (or runSync()); one at a time, as in asyncio.
let runningLoop: IOLoop | null = null;
let configuredImpl: typeof IOLoop | null = null;
let configuredOptions: IOLoopOptions = {};

function anotherRunning(method: string): Error {
  return new Error(
    `Cannot call IOLoop.${method}: another IOLoop is running; ` +
      "one loop runs at a time, so stop that one first",
  );
}

function defaultOnError(err: unknown, where: string): void {
  console.error(`IOLoop: uncaught error in ${where}:`, err);
}

function defaultTime(): number {
  return performance.now();
}

function describe(kind: string, fn: AnyFunction): string {
  return `${kind} ${fn.name || "<anonymous>"}`;
}

function checkFunction(fn: unknown, what: string): void {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot schedule ${what}: expected a function, got ${typeof fn}`,
    );
  }
}

function fdNumber(fd: Fd): number {
  const n = typeof fd === "number"
    ? fd
    : typeof fd === "object" && fd !== null &&
        typeof (fd as { fileno?: unknown }).fileno === "function"
    ? fd.fileno()
    : undefined;
  if (typeof n !== "number") {
    throw new TypeError(
      "Expected a file descriptor number or an object with a fileno() method",
    );
  }
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`Invalid file descriptor "${n}"`);
  }
  return n;
}

function checkEvents(events: unknown): number {
  if (typeof events !== "number") {
    throw new TypeError(`Expected an event mask number, got ${typeof events}`);
  }
  if (!Number.isInteger(events) || (events & ~EVENT_MASK) !== 0) {
    throw new RangeError(
      `Invalid event mask "${events}": use READ, WRITE and ERROR bits`,
    );
  }
  return events;
}

function checkTime(value: unknown, what: string): number {
  if (typeof value !== "number") {
    throw new TypeError(`Expected ${what} to be a number, got ${typeof value}`);
  }
  if (Number.isNaN(value)) throw new RangeError(`Invalid ${what} "NaN"`);
  return value;
}

/** A queued callback with arguments (one without is queued bare). */
class BoundCall {
  readonly fn: AnyFunction;
  readonly args: unknown[];
  constructor(fn: AnyFunction, args: unknown[]) {
    this.fn = fn;
    this.args = args;
  }
}

interface HandlerEntry {
  fd: Fd;
  handler: FdHandler;
}

/**
 * Tornado's `IOLoop` over Deno's own event loop: timeouts, callbacks and
 * file-descriptor handlers scheduled through one object, with Tornado's
 * ordering and error-isolation guarantees.
 *
 * It is not a second scheduler. Work scheduled on a loop runs whether or not
 * {@linkcode IOLoop.start} was called; `start()` only holds the program open
 * until {@linkcode IOLoop.stop}. Timeouts share one host timer in front of a
 * heap of deadlines; callbacks run in FIFO batches, one batch per turn of
 * Deno's event loop (on `setImmediate`, never the clamped `setTimeout(0)`).
 * Errors thrown, or promises rejected, by anything the loop runs go to the
 * loop's `onError` and the loop carries on; a `CancelledError` is not
 * reported, as in Tornado 6.
 *
 * Signals: Deno delivers `Deno.addSignalListener` callbacks on the main
 * thread, so a listener may call any loop method; use
 * {@linkcode IOLoop.addCallbackFromSignal} to defer the real work to the
 * loop's next batch, as Tornado does from a signal handler.
 *
 * Async context: callbacks, timeouts, handlers and `PeriodicCallback` ticks
 * run in the `AsyncLocalStorage` context this module was loaded in, not in
 * that of the code that scheduled them (asyncio copies the context per
 * call; Deno 2.9 has no public way to do so that costs less than about
 * 2 µs per call, many times the cost of a callback). Wrap a callback in
 * `AsyncLocalStorage.bind()` to run it in the context it is scheduled from.
 *
 * @example Run timeouts and callbacks in order
 * ```ts
 * import { IOLoop } from "@squall/io/ioloop";
 * import assert from "node:assert/strict";
 *
 * const loop = new IOLoop({ makeCurrent: false });
 * const seen: string[] = [];
 * loop.callLater(5, () => {
 *   seen.push("later");
 *   loop.stop();
 * });
 * loop.addCallback(() => seen.push("first"));
 * loop.addCallback(() => seen.push("second"));
 * await loop.start();
 * assert.deepEqual(seen, ["first", "second", "later"]);
 * loop.close();
 * ```
 *
 * @example Run one async function to completion
 * ```ts
 * import { IOLoop } from "@squall/io/ioloop";
 * import assert from "node:assert/strict";
 *
 * const loop = new IOLoop({ makeCurrent: false });
 * const answer = await loop.runSync(async () => {
 *   await new Promise<void>((resolve) => loop.callLater(1, resolve));
 *   return 42;
 * });
 * assert.equal(answer, 42);
 * loop.close();
 * ```
 *
 * @example Carry an AsyncLocalStorage context into a callback
 * ```ts
 * import { IOLoop } from "@squall/io/ioloop";
 * import { AsyncLocalStorage } from "node:async_hooks";
 * import assert from "node:assert/strict";
 *
 * const requestId = new AsyncLocalStorage<string>();
 * const loop = new IOLoop({ makeCurrent: false });
 * const seen: (string | undefined)[] = [];
 * await requestId.run("req-1", () =>
 *   new Promise<void>((resolve) => {
 *     loop.addCallback(() => seen.push(requestId.getStore()));
 *     loop.addCallback(AsyncLocalStorage.bind(() => {
 *       seen.push(requestId.getStore());
 *       resolve();
 *     }));
 *   }));
 * assert.deepEqual(seen, [undefined, "req-1"]);
 * loop.close();
 * ```
 */
export class IOLoop {
  /** Event bit: readable. */
  static readonly READ: number = READ;
  /** Event bit: writable. */
  static readonly WRITE: number = WRITE;
  /** Event bit: error or hang-up (always reported). */
  static readonly ERROR: number = ERROR;

  readonly #time: () => number = defaultTime;
  readonly #onError: ErrorHandler = defaultOnError;
  #closed = false;

  // Callbacks (bare functions, or BoundCall when given arguments), run in
  // one batch on the next setImmediate.
  #queue: (AnyFunction | BoundCall)[] = [];
  #immediate: ReturnType<typeof setImmediate> | null = null;

  // Timeouts: one host timer armed for the earliest deadline.
  readonly #timers = new TimerHeap();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #armedAt = Infinity;

  // start()/stop()
  #running = false;
  #inRunSync = false;
  #stopRequested = false;
  #hold: ReturnType<typeof setTimeout> | null = null;
  #resolveStart: (() => void) | null = null;
  #previousCurrent: IOLoop | null = null;

  // runInExecutor(null, ...): set by the user, or created on first use.
  #executor: Executor | null = null;
  #ownsExecutor = false;

  // fd handlers
  readonly #handlers = new Map<number, HandlerEntry>();
  #poller: Poller | null = null;

  static {
    setErrorRouter((err, where) => {
      const loop = IOLoop.#liveCurrent();
      if (loop === null) defaultOnError(err, where);
      else loop.#report(err, where);
    });
  }

  // A closed loop is never current. close() forgets the current loop, but
  // one closed while another ran can come back when that one stops: forget
  // it here, so current() acts as if there
  // were none, as Tornado's close() does by unregistering the loop.
  static #liveCurrent(): IOLoop | null {
    if (currentLoop !== null && currentLoop.#closed) currentLoop = null;
    return currentLoop;
  }

  /**
   * Returns this isolate's current loop, creating one on first use.
   * `current(false)` returns `null` instead of creating one. A closed loop
   * is never current: once the current loop is closed, `current()` creates
   * a new one as if there were none.
   *
   * @example Get the shared loop
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = IOLoop.current();
   * assert.equal(IOLoop.current(), loop);
   * loop.close();
   * assert.equal(IOLoop.current(false), null);
   * ```
   */
  static current(): IOLoop;
  /**
   * Returns the current loop, or `null` when there is none.
   *
   * @param instance `false`: never create a loop.
   *
   * @example Look without creating a loop
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop();
   * assert.equal(IOLoop.current(false), loop);
   * loop.close(); // closing the current loop clears it
   * assert.equal(IOLoop.current(false), null);
   * ```
   */
  static current(instance: false): IOLoop | null;
  static current(instance = true): IOLoop | null {
    if (IOLoop.#liveCurrent() === null && instance !== false) {
      new IOLoop({ makeCurrent: true });
    }
    return currentLoop;
  }

  /**
   * Same as {@linkcode IOLoop.current}`()` (Tornado's deprecated alias).
   *
   * @returns The current loop.
   *
   * @example The old name for current()
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = IOLoop.instance();
   * assert.equal(IOLoop.current(), loop);
   * assert.equal(IOLoop.instance(), loop);
   * loop.close();
   * ```
   */
  static instance(): IOLoop {
    return IOLoop.current();
  }

  /**
   * Sets the class that {@linkcode IOLoop.current} and `new IOLoop()` create,
   * and default constructor options for it.
   *
   * @param impl `IOLoop` or a subclass of it.
   * @param opts Defaults merged under each constructor call's options.
   *
   * @example Use a subclass everywhere
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * class TracingLoop extends IOLoop {}
   * IOLoop.configure(TracingLoop);
   * const loop = new IOLoop({ makeCurrent: false });
   * assert.ok(loop instanceof TracingLoop);
   * loop.close();
   * IOLoop.configure(IOLoop);
   * ```
   */
  static configure(impl: typeof IOLoop, opts: IOLoopOptions = {}): void {
    if (
      typeof impl !== "function" ||
      (impl !== IOLoop && !(impl.prototype instanceof IOLoop))
    ) {
      throw new TypeError("IOLoop.configure() expects IOLoop or a subclass");
    }
    configuredImpl = impl === IOLoop ? null : impl;
    configuredOptions = { ...opts };
  }

  /**
   * Forgets the current loop; the next {@linkcode IOLoop.current}`()`
   * creates a new one.
   *
   * @example Start afresh
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop();
   * IOLoop.clearCurrent();
   * assert.equal(IOLoop.current(false), null);
   * loop.close();
   * ```
   */
  static clearCurrent(): void {
    currentLoop = null;
  }

  /**
   * Creates a loop. After {@linkcode IOLoop.configure}, `new IOLoop()`
   * returns an instance of the configured class.
   *
   * @param opts Options; see {@linkcode IOLoopOptions}.
   */
  constructor(opts: IOLoopOptions = {}) {
    if (new.target === IOLoop && configuredImpl !== null) {
      return new configuredImpl(opts);
    }
    const merged = { ...configuredOptions, ...opts };
    if (merged.time !== undefined && typeof merged.time !== "function") {
      throw new TypeError("IOLoop option time must be a function");
    }
    if (merged.onError !== undefined && typeof merged.onError !== "function") {
      throw new TypeError("IOLoop option onError must be a function");
    }
    this.#time = merged.time ?? defaultTime;
    this.#onError = merged.onError ?? defaultOnError;
    registerLoopReporter(this, (err, where) => this.#report(err, where));
    if (merged.makeCurrent ?? true) currentLoop = this;
  }

  /**
   * Makes this loop {@linkcode IOLoop.current} (Tornado's `install`).
   *
   * @throws {Error} When this loop is closed.
   *
   * @example Install a loop made without becoming current
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * assert.notEqual(IOLoop.current(false), loop);
   * loop.install();
   * assert.equal(IOLoop.current(), loop);
   * loop.close(); // also stops it being current
   * assert.equal(IOLoop.current(false), null);
   * ```
   */
  install(): void {
    this.makeCurrent();
  }

  /**
   * Makes this loop {@linkcode IOLoop.current}. A closed loop is never
   * current: making one current throws, and the current loop stays.
   *
   * @throws {Error} When this loop is closed.
   *
   * @example Switch between two loops
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const a = new IOLoop({ makeCurrent: false });
   * const b = new IOLoop({ makeCurrent: false });
   * a.makeCurrent();
   * assert.equal(IOLoop.current(), a);
   * b.makeCurrent();
   * assert.equal(IOLoop.current(), b);
   * a.close();
   * b.close(); // b was current: now none is
   * assert.equal(IOLoop.current(false), null);
   * ```
   */
  makeCurrent(): void {
    if (this.#closed) {
      throw new Error("Cannot make a closed IOLoop current");
    }
    currentLoop = this;
  }

  /**
   * The loop's monotonic clock, in milliseconds.
   *
   * @returns `performance.now()` unless a `time` option was given.
   *
   * @example Inject a clock
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * let now = 1_000;
   * const loop = new IOLoop({ makeCurrent: false, time: () => now });
   * assert.equal(loop.time(), 1_000);
   * now += 250;
   * assert.equal(loop.time(), 1_250);
   * loop.close();
   * ```
   */
  time(): number {
    return this.#time();
  }

  /**
   * Holds the program open until {@linkcode IOLoop.stop}; the loop is
   * current meanwhile. If `stop()` was called while the loop was not
   * running, resolves at once. One loop runs at a time: as Tornado and
   * asyncio do, `start()` refuses to run a loop while another one is
   * running (stop that one first).
   *
   * @returns A promise that resolves when `stop()` is called; it rejects
   * with an `Error` if the loop is closed or already running, or another
   * loop is running.
   *
   * @example Run until a callback stops the loop
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * let currentInside: IOLoop | null = null;
   * loop.addCallback(() => {
   *   currentInside = IOLoop.current(false);
   *   loop.stop();
   * });
   * await loop.start();
   * assert.equal(currentInside, loop); // current while running
   * assert.notEqual(IOLoop.current(false), loop); // and no longer after
   * loop.close();
   * ```
   *
   * @example One loop runs at a time
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const a = new IOLoop({ makeCurrent: false });
   * const b = new IOLoop({ makeCurrent: false });
   * const running = a.start();
   * await assert.rejects(b.start(), { message: /another IOLoop is running/ });
   * a.stop();
   * await running;
   * b.addCallback(() => b.stop());
   * await b.start(); // a has stopped: b may run
   * a.close();
   * b.close();
   * ```
   */
  start(): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new Error("Cannot start a closed IOLoop"));
    }
    if (this.#running) {
      return Promise.reject(new Error("The IOLoop is already running"));
    }
    if (runningLoop !== null) {
      return Promise.reject(anotherRunning("start()"));
    }
    if (this.#stopRequested) {
      this.#stopRequested = false;
      return Promise.resolve();
    }
    this.#running = true;
    runningLoop = this;
    this.#previousCurrent = currentLoop;
    currentLoop = this;
    this.#keepAlive();
    return new Promise((resolve) => {
      this.#resolveStart = resolve;
    });
  }

  /**
   * Ends {@linkcode IOLoop.start}: its promise resolves and the program may
   * exit, and the loop that was current before `start()` is current again
   * (unless it was closed meanwhile: then none is). Pending callbacks and
   * timeouts are kept and still run. Called while the loop is not running,
   * makes the next `start()` return at once.
   *
   * @example Stop, and keep what is pending
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * loop.stop(); // not running: the next start() returns at once
   * await loop.start();
   * const seen: string[] = [];
   * loop.callLater(1, () => {
   *   seen.push("first");
   *   // Pending when stop() is called, whatever the timer's lateness.
   *   loop.callLater(1, () => seen.push("kept"));
   *   loop.stop();
   * });
   * await loop.start();
   * assert.deepEqual(seen, ["first"]);
   * await new Promise<void>((resolve) => loop.callLater(10, resolve));
   * assert.deepEqual(seen, ["first", "kept"]);
   * loop.close();
   * ```
   */
  stop(): void {
    if (!this.#running) {
      if (!this.#closed) this.#stopRequested = true;
      return;
    }
    this.#running = false;
    if (runningLoop === this) runningLoop = null;
    if (this.#hold !== null) {
      clearTimeout(this.#hold);
      this.#hold = null;
    }
    if (currentLoop === this) currentLoop = this.#previousCurrent;
    this.#previousCurrent = null;
    const resolve = this.#resolveStart;
    this.#resolveStart = null;
    resolve?.();
  }

  /**
   * Runs `fn` on the loop (as a callback), holding the program open until
   * its result settles, and settles the same way.
   *
   * @param fn A function returning a value, a promise or a `Future`.
   * @param opts `timeout`: reject with `TimeoutError` when `fn`'s result is
   * still pending this many ms after the call (see
   * {@linkcode RunSyncOptions}).
   * @returns `fn`'s result. Rejects with `TimeoutError` on timeout, and with
   * an `Error` when the loop is already running (inside `start()` or
   * another `runSync()`), another loop is running (see
   * {@linkcode IOLoop.start}), or the loop is stopped before `fn` finishes.
   *
   * @example Get a result, or give up after a timeout
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import { TimeoutError } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * assert.equal(await loop.runSync(() => 6 * 7), 42);
   * await assert.rejects(
   *   loop.runSync(() => new Promise(() => {}), { timeout: 5 }),
   *   TimeoutError,
   * );
   * loop.close();
   * ```
   */
  async runSync<T>(
    fn: () => T | PromiseLike<T>,
    opts: RunSyncOptions = {},
  ): Promise<T> {
    if (this.#inRunSync) {
      throw new Error(
        "Cannot call IOLoop.runSync() re-entrantly: the loop is already inside runSync()",
      );
    }
    if (this.#running) {
      throw new Error("Cannot call IOLoop.runSync(): the loop is running");
    }
    if (this.#closed) {
      throw new Error("Cannot call IOLoop.runSync() on a closed IOLoop");
    }
    if (runningLoop !== null) throw anotherRunning("runSync()");
    checkFunction(fn, "runSync()");
    const { timeout } = opts;
    if (timeout !== undefined) {
      checkTime(timeout, "timeout");
      if (timeout < 0) throw new RangeError(`Invalid timeout "${timeout}"`);
    }
    // The deadline counts from this call, but the timer is armed only once
    // `fn` has run: a busy thread could otherwise fire it before the batch
    // that runs `fn`, and `fn` would then start after its own TimeoutError.
    const deadline = timeout === undefined ? 0 : this.#time() + timeout;
    this.#stopRequested = false;
    const started = this.start();
    this.#inRunSync = true;
    let handle: TimeoutHandle | null = null;
    try {
      const outcome = new Promise<T>((resolve, reject) => {
        const runSyncCallback = () => {
          let result: T | PromiseLike<T>;
          try {
            result = fn();
          } catch (err) {
            reject(err);
            return;
          }
          if (!isThenable(result)) {
            resolve(result);
            return;
          }
          let pending = true;
          try {
            result.then((value) => {
              pending = false;
              resolve(value);
            }, (err) => {
              pending = false;
              reject(err);
            });
          } catch (err) {
            // A thenable whose then() throws: that is the outcome.
            reject(err);
            return;
          }
          if (timeout === undefined || !pending || this.#closed) return;
          // A deadline already past fires on the next timer turn, after the
          // microtasks that settle a result that is already settled.
          handle = this.callAt(deadline, function runSyncTimeout() {
            // Only a result still pending times out; like Tornado, cancel it
            // when it can be cancelled (a Future).
            if (!pending) return;
            const cancel = (result as { cancel?: unknown }).cancel;
            if (typeof cancel === "function") {
              try {
                cancel.call(result);
              } catch {
                // Best effort: the timeout is what gets reported.
              }
            }
            reject(new TimeoutError(`Operation timed out after ${timeout} ms`));
          });
        };
        this.addCallback(runSyncCallback);
      });
      const stopped = started.then(() => {
        throw new Error("IOLoop stopped before runSync()'s function finished");
      });
      stopped.catch(() => {});
      return await Promise.race([outcome, stopped]);
    } finally {
      if (handle !== null) this.removeTimeout(handle);
      this.#inRunSync = false;
      this.stop();
      this.#stopRequested = false;
    }
  }

  /**
   * Cancels every timeout, callback and handler of this loop, resolves a
   * pending {@linkcode IOLoop.start}, shuts down the default executor the
   * loop created, and releases its host timer and poller, so nothing of it
   * is left pending. Closing twice does nothing; afterwards `addCallback`
   * is ignored and scheduling a timeout or a handler throws.
   *
   * The one thing that cannot end synchronously is a `poll(2)` already
   * running on Deno's FFI thread: close() wakes it through the self-pipe and
   * it returns within microseconds to a few milliseconds, closing the
   * poller's library then. A test that ends right after closing a loop that
   * watched fds should let a macrotask pass (e.g. `await new Promise((r) =>
   * setTimeout(r, 0))`) before the op sanitizer looks.
   *
   * @param allFds Also close every watched file descriptor (objects with a
   * `close()` method are closed through it).
   *
   * @example Cancel everything that is pending
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * let ran = false;
   * loop.callLater(60_000, () => ran = true);
   * loop.addCallback(() => ran = true);
   * loop.close(); // no timer is left for the op sanitizer to find
   * loop.addCallback(() => ran = true); // ignored
   * assert.throws(() => loop.callLater(1, () => {}), /closed/);
   * await new Promise((resolve) => setTimeout(resolve, 5));
   * assert.equal(ran, false);
   * ```
   */
  close(allFds = false): void {
    if (this.#closed) return;
    if (this.#running) this.stop();
    this.#closed = true;
    markLoopClosed(this);
    this.#stopRequested = false;
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate);
      this.#immediate = null;
    }
    this.#queue = [];
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#timers.clear();
    const poller = this.#poller;
    this.#poller = null;
    if (allFds) {
      for (const [n, { fd }] of this.#handlers) {
        try {
          const closer = typeof fd === "object"
            ? (fd as { close?: unknown }).close
            : undefined;
          if (typeof closer === "function") closer.call(fd);
          else poller?.closeFd(n);
        } catch (err) {
          this.#report(err, `closing fd ${n}`);
        }
      }
    }
    this.#handlers.clear();
    poller?.close();
    if (this.#ownsExecutor) {
      this.#ownsExecutor = false;
      try {
        this.#executor?.shutdown?.();
      } catch (err) {
        this.#report(err, "shutting down the default executor");
      }
    }
    this.#executor = null;
    if (currentLoop === this) currentLoop = null;
  }

  /**
   * Watches a raw OS file descriptor (a pipe, a socket, a tty) and calls
   * `handler(fd, events)` whenever it is ready, level-triggered as in
   * Tornado: as long as it stays ready. All fds of a loop share one
   * nonblocking `poll(2)` call made through FFI (libc is opened on the
   * first call), so watching many fds takes one thread of Deno's FFI pool,
   * not one each. Remove a handler before closing its fd: an fd closed
   * while watched is reported once with `ERROR`, then no longer polled.
   *
   * @param fd The descriptor, or an object with a `fileno()` method.
   * @param handler Called with `fd` as given and the ready event bits.
   * @param events A mask of {@linkcode IOLoop.READ} and
   * {@linkcode IOLoop.WRITE}; `ERROR` is always reported.
   * @throws {Error} Without `--allow-ffi`, on Windows, on a closed loop,
   * when the fd is not open or is already registered.
   *
   * @example Read a pipe made through FFI when data arrives
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const libc = Deno.dlopen("libc.so.6", {
   *   pipe: { parameters: ["buffer"], result: "i32" },
   *   read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
   *   write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
   *   close: { parameters: ["i32"], result: "i32" },
   * });
   * const fds = new Int32Array(2);
   * libc.symbols.pipe(new Uint8Array(fds.buffer));
   * const [readFd, writeFd] = [fds[0]!, fds[1]!];
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * const received = new Promise<number>((resolve) => {
   *   loop.addHandler(readFd, (fd, events) => {
   *     assert.equal(events, IOLoop.READ);
   *     loop.removeHandler(fd);
   *     resolve(Number(libc.symbols.read(readFd, new Uint8Array(8), 8n)));
   *   }, IOLoop.READ);
   * });
   * libc.symbols.write(writeFd, new Uint8Array([1, 2, 3]), 3n);
   * assert.equal(await received, 3);
   * loop.close();
   * libc.symbols.close(readFd);
   * libc.symbols.close(writeFd);
   * libc.close();
   * // Let the poll(2) that close() woke return before the test ends.
   * await new Promise((resolve) => setTimeout(resolve, 10));
   * ```
   */
  addHandler(fd: Fd, handler: FdHandler, events: number): void {
    const n = fdNumber(fd);
    checkFunction(handler, "a handler");
    checkEvents(events);
    if (this.#closed) {
      throw new Error(`Cannot watch fd ${n}: the IOLoop is closed`);
    }
    if (this.#handlers.has(n)) {
      throw new Error(`Cannot watch fd ${n}: it is already registered`);
    }
    const poller = this.#poller ??= new Poller(
      (ready, ev) => outside(() => this.#dispatch(ready, ev)),
      (err) => this.#report(err, "IOLoop poller"),
    );
    if (!poller.isOpen(n)) {
      throw new Error(`Cannot watch fd ${n}: it is not an open descriptor`);
    }
    this.#handlers.set(n, { fd, handler });
    poller.set(n, events);
  }

  /**
   * Changes the events a watched descriptor is reported for.
   *
   * @param fd A descriptor passed to {@linkcode IOLoop.addHandler}.
   * @param events The new mask of `READ` and `WRITE` bits.
   * @throws {Error} When `fd` is not registered.
   *
   * @example Start watching for reads
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const libc = Deno.dlopen("libc.so.6", {
   *   pipe: { parameters: ["buffer"], result: "i32" },
   *   write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
   *   close: { parameters: ["i32"], result: "i32" },
   * });
   * const fds = new Int32Array(2);
   * libc.symbols.pipe(new Uint8Array(fds.buffer));
   * const [readFd, writeFd] = [fds[0]!, fds[1]!];
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * let reported = 0;
   * const ready = new Promise<void>((resolve) => {
   *   loop.addHandler(readFd, (fd, events) => {
   *     reported = events;
   *     loop.removeHandler(fd);
   *     resolve();
   *   }, IOLoop.WRITE); // a pipe's read end never becomes writable
   * });
   * libc.symbols.write(writeFd, new Uint8Array([1]), 1n);
   * await new Promise((resolve) => setTimeout(resolve, 10));
   * assert.equal(reported, 0); // the waiting byte is not asked about yet
   * loop.updateHandler(readFd, IOLoop.READ);
   * await ready;
   * assert.equal(reported, IOLoop.READ);
   * loop.close();
   * libc.symbols.close(readFd);
   * libc.symbols.close(writeFd);
   * libc.close();
   * // Let the poll(2) that close() woke return before the test ends.
   * await new Promise((resolve) => setTimeout(resolve, 10));
   * ```
   */
  updateHandler(fd: Fd, events: number): void {
    const n = fdNumber(fd);
    checkEvents(events);
    if (!this.#handlers.has(n) || this.#poller === null) {
      throw new Error(`Cannot update fd ${n}: it is not registered`);
    }
    this.#poller.set(n, events);
  }

  /**
   * Stops watching a descriptor (it is not closed). Unknown fds are
   * ignored.
   *
   * @param fd A descriptor passed to {@linkcode IOLoop.addHandler}.
   *
   * @example Handle readiness once
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const libc = Deno.dlopen("libc.so.6", {
   *   pipe: { parameters: ["buffer"], result: "i32" },
   *   write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
   *   close: { parameters: ["i32"], result: "i32" },
   * });
   * const fds = new Int32Array(2);
   * libc.symbols.pipe(new Uint8Array(fds.buffer));
   * const [readFd, writeFd] = [fds[0]!, fds[1]!];
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * let calls = 0;
   * const first = new Promise<void>((resolve) => {
   *   loop.addHandler(readFd, (fd) => {
   *     calls++;
   *     loop.removeHandler(fd);
   *     resolve();
   *   }, IOLoop.READ);
   * });
   * libc.symbols.write(writeFd, new Uint8Array([1]), 1n);
   * await first;
   * await new Promise((resolve) => setTimeout(resolve, 10));
   * assert.equal(calls, 1); // the unread byte is not reported again
   * loop.removeHandler(readFd); // an unknown fd is ignored
   * loop.close();
   * libc.symbols.close(readFd);
   * libc.symbols.close(writeFd);
   * libc.close();
   * // Let the poll(2) that close() woke return before the test ends.
   * await new Promise((resolve) => setTimeout(resolve, 10));
   * ```
   */
  removeHandler(fd: Fd): void {
    const n = fdNumber(fd);
    if (this.#handlers.delete(n)) this.#poller?.delete(n);
  }

  /**
   * Calls `cb(...args)` once the loop's clock reaches `deadline`. Due
   * timeouts run in deadline order, ties in scheduling order.
   *
   * @param deadline A time on {@linkcode IOLoop.time}'s clock (ms).
   * @param cb The function to call.
   * @param args Its arguments.
   * @returns A handle for {@linkcode IOLoop.removeTimeout}.
   *
   * @example Schedule on the loop's clock
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * const fired = await new Promise<number>((resolve) => {
   *   loop.addTimeout(loop.time() + 2, resolve, 7);
   * });
   * assert.equal(fired, 7);
   * loop.close();
   * ```
   */
  addTimeout<A extends unknown[]>(
    deadline: number,
    cb: (...args: A) => unknown,
    ...args: A
  ): TimeoutHandle {
    return this.#schedule(
      checkTime(deadline, "deadline"),
      cb as AnyFunction,
      args,
    );
  }

  /**
   * Calls `cb(...args)` after `delay` milliseconds.
   *
   * @param delay Milliseconds from now on the loop's clock.
   * @param cb The function to call.
   * @param args Its arguments.
   * @returns A handle for {@linkcode IOLoop.removeTimeout}.
   *
   * @example Call a function with arguments after a delay
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * const before = loop.time();
   * const [greeting, waited] = await new Promise<[string, number]>((resolve) => {
   *   loop.callLater(10, (name: string) => {
   *     resolve([`hello ${name}`, loop.time() - before]);
   *   }, "world");
   * });
   * assert.equal(greeting, "hello world");
   * assert.ok(waited >= 10);
   * loop.close();
   * ```
   */
  callLater<A extends unknown[]>(
    delay: number,
    cb: (...args: A) => unknown,
    ...args: A
  ): TimeoutHandle {
    return this.#schedule(
      this.#time() + checkTime(delay, "delay"),
      cb as AnyFunction,
      args,
    );
  }

  /**
   * Calls `cb(...args)` at time `when` of the loop's clock.
   *
   * @param when A time on {@linkcode IOLoop.time}'s clock (ms).
   * @param cb The function to call.
   * @param args Its arguments.
   * @returns A handle for {@linkcode IOLoop.removeTimeout}.
   *
   * @example Timeouts run in deadline order
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * const now = loop.time();
   * const order: string[] = [];
   * await new Promise<void>((resolve) => {
   *   loop.callAt(now + 4, () => {
   *     order.push("later");
   *     resolve();
   *   });
   *   loop.callAt(now + 2, () => order.push("sooner"));
   * });
   * assert.deepEqual(order, ["sooner", "later"]);
   * loop.close();
   * ```
   */
  callAt<A extends unknown[]>(
    when: number,
    cb: (...args: A) => unknown,
    ...args: A
  ): TimeoutHandle {
    return this.#schedule(checkTime(when, "time"), cb as AnyFunction, args);
  }

  /**
   * Cancels a pending timeout. Removing one twice, one that already ran or
   * one from another loop does nothing.
   *
   * @param handle What `addTimeout`, `callLater` or `callAt` returned.
   *
   * @example Cancel a timeout
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * let fired = false;
   * const handle = loop.callLater(5, () => fired = true);
   * loop.removeTimeout(handle);
   * loop.removeTimeout(handle); // a second removal does nothing
   * await new Promise<void>((resolve) => loop.callLater(10, resolve));
   * assert.equal(fired, false);
   * loop.close();
   * ```
   */
  removeTimeout(handle: TimeoutHandle): void {
    if (!(handle instanceof TimerEntry)) return;
    if (this.#timers.cancel(handle) && this.#timers.live === 0) {
      // Nothing left: do not keep a host timer (and the program) alive.
      this.#disarm();
    }
  }

  /**
   * Calls `cb(...args)` on the loop's next batch. Callbacks run in FIFO
   * order; those added while a batch runs go to the next batch. Ignored
   * once the loop is closed.
   *
   * @param cb The function to call.
   * @param args Its arguments.
   *
   * @example Defer work to the next turn
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * const sum = await new Promise<number>((resolve) => {
   *   loop.addCallback((a: number, b: number) => resolve(a + b), 2, 3);
   * });
   * assert.equal(sum, 5);
   * loop.close();
   * ```
   */
  addCallback<A extends unknown[]>(
    cb: (...args: A) => unknown,
    ...args: A
  ): void {
    checkFunction(cb, "a callback");
    if (this.#closed) return;
    // A bare function when there are no arguments: no allocation per call.
    this.#queue.push(
      args.length === 0
        ? cb as AnyFunction
        : new BoundCall(cb as AnyFunction, args),
    );
    this.#immediate ??= setImmediate(this.#runCallbacksOutside);
  }

  /**
   * {@linkcode IOLoop.addCallback} for use from a signal listener. Deno runs
   * `Deno.addSignalListener` listeners on the main thread between tasks, so
   * this is the same as `addCallback`; it exists to name the intent, as in
   * Tornado.
   *
   * @param cb The function to call.
   * @param args Its arguments.
   *
   * @example Stop the loop on a signal
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * let stoppedBy = "";
   * const onSignal = () => {
   *   loop.addCallbackFromSignal((name: string) => {
   *     stoppedBy = name;
   *     loop.stop();
   *   }, "SIGUSR1");
   * };
   * Deno.addSignalListener("SIGUSR1", onSignal);
   * loop.addCallback(() => Deno.kill(Deno.pid, "SIGUSR1"));
   * await loop.start();
   * Deno.removeSignalListener("SIGUSR1", onSignal);
   * assert.equal(stoppedBy, "SIGUSR1");
   * loop.close();
   * ```
   */
  addCallbackFromSignal<A extends unknown[]>(
    cb: (...args: A) => unknown,
    ...args: A
  ): void {
    this.addCallback(cb, ...args);
  }

  /**
   * Calls `cb(...args)` on the next batch, detached from the caller: its
   * errors (a throw or a rejected promise) are only reported.
   *
   * @param cb The function to call.
   * @param args Its arguments.
   *
   * @example Fire and forget; failures reach onError
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const { promise: reported, resolve } = Promise.withResolvers<unknown>();
   * const loop = new IOLoop({ makeCurrent: false, onError: resolve });
   * loop.spawnCallback(async (job: string) => {
   *   await Promise.resolve();
   *   throw new Error(`${job} failed`);
   * }, "cleanup");
   * const err = await reported;
   * assert.ok(err instanceof Error);
   * assert.equal(err.message, "cleanup failed");
   * loop.close();
   * ```
   */
  spawnCallback<A extends unknown[]>(
    cb: (...args: A) => unknown,
    ...args: A
  ): void {
    this.addCallback(cb, ...args);
  }

  /**
   * Calls `cb(future)` on the loop once `future` is done. A promise is
   * first turned into a {@linkcode Future}, so `cb` can read its outcome
   * with `result()`/`exception()`. Errors from `cb` go to `onError`.
   *
   * @param future A `Future` or any promise-like.
   * @param cb Called with the done `Future`.
   *
   * @example React to a promise on the loop
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * const value = await new Promise((resolve) => {
   *   loop.addFuture(Promise.resolve("ok"), (f) => resolve(f.result()));
   * });
   * assert.equal(value, "ok");
   * loop.close();
   * ```
   */
  addFuture<T>(
    future: PromiseLike<T> | Future<T>,
    cb: (future: Future<T>) => unknown,
  ): void {
    checkFunction(cb, "a future callback");
    let target: Future<T>;
    if (future instanceof Future) {
      target = future;
    } else if (isThenable(future)) {
      target = new Future<T>();
      chainFuture(future, target);
    } else {
      throw new TypeError("IOLoop.addFuture() expects a Future or a promise");
    }
    target.addDoneCallback((done) => this.addCallback(cb, done));
  }

  /**
   * Runs `fn(...args)` on an executor and resolves with its result.
   *
   * @param executor The executor, or `null` for the loop's default: the one
   * given to {@linkcode IOLoop.setDefaultExecutor}, else a
   * `WorkerExecutor` the loop creates on first use and shuts down in
   * `close()`. A `WorkerExecutor` runs `fn` in a Web Worker, so `fn` must be
   * self-contained.
   * @param fn The function to run.
   * @param args Its arguments.
   * @returns `fn`'s result, or a rejection with what it threw (or why it
   * could not run: a bad argument, a closed loop, an executor shut down
   * while `fn` ran). The promise may be ignored: a failure nobody awaits
   * does not end the program.
   *
   * @example Run a function on an inline executor
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import { DummyExecutor } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const loop = new IOLoop({ makeCurrent: false });
   * loop.setDefaultExecutor(new DummyExecutor());
   * const sum = await loop.runInExecutor(null, (a: number, b: number) => a + b, 2, 3);
   * assert.equal(sum, 5);
   * loop.close();
   * ```
   */
  runInExecutor<A extends unknown[], R>(
    executor: Executor | null,
    fn: (...args: A) => R | PromiseLike<R>,
    ...args: A
  ): Promise<Awaited<R>> {
    return quiet(this.#runInExecutor(executor, fn, args));
  }

  async #runInExecutor<A extends unknown[], R>(
    executor: Executor | null,
    fn: (...args: A) => R | PromiseLike<R>,
    args: A,
  ): Promise<Awaited<R>> {
    checkFunction(fn, "runInExecutor()");
    if (executor !== null && executor !== undefined) {
      if (typeof (executor as { submit?: unknown }).submit !== "function") {
        throw new TypeError(
          "IOLoop.runInExecutor() expects an Executor (with submit()) or null",
        );
      }
    } else {
      if (this.#closed) {
        throw new Error(
          "Cannot run in the default executor: the IOLoop is closed",
        );
      }
      if (this.#executor === null) {
        this.#executor = new WorkerExecutor();
        this.#ownsExecutor = true;
      }
      executor = this.#executor;
    }
    return await executor.submit(fn, ...args);
  }

  /**
   * Sets the executor {@linkcode IOLoop.runInExecutor} uses when given
   * `null`. The loop does not shut it down. A default executor the loop
   * created itself is shut down.
   *
   * @param executor Any {@linkcode Executor}.
   *
   * @example Count what runs on the default executor
   * ```ts
   * import { IOLoop } from "@squall/io/ioloop";
   * import { DummyExecutor, type Executor } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const inline = new DummyExecutor();
   * let submitted = 0;
   * let shutdowns = 0;
   * const counting: Executor = {
   *   submit: (fn, ...args) => (submitted++, inline.submit(fn, ...args)),
   *   shutdown: () => shutdowns++,
   * };
   * const loop = new IOLoop({ makeCurrent: false });
   * loop.setDefaultExecutor(counting);
   * assert.equal(await loop.runInExecutor(null, (n: number) => n * 2, 21), 42);
   * assert.equal(submitted, 1);
   * loop.close();
   * assert.equal(shutdowns, 0); // the loop leaves a given executor alone
   * ```
   */
  setDefaultExecutor(executor: Executor): void {
    if (
      executor === null || typeof executor !== "object" ||
      typeof executor.submit !== "function"
    ) {
      throw new TypeError(
        "IOLoop.setDefaultExecutor() expects an Executor (with submit())",
      );
    }
    if (this.#ownsExecutor) {
      this.#ownsExecutor = false;
      this.#executor?.shutdown?.();
    }
    this.#executor = executor;
  }

  #runCallbacksOutside = (): void => outside(this.#runCallbacks);

  #runCallbacks = (): void => {
    this.#immediate = null;
    const batch = this.#queue;
    this.#queue = [];
    for (let i = 0; i < batch.length; i++) {
      if (this.#closed) return;
      const item = batch[i]!;
      if (typeof item === "function") this.#invoke(item, undefined, "callback");
      else this.#invoke(item.fn, item.args, "callback");
    }
  };

  #schedule(
    deadline: number,
    cb: AnyFunction,
    args: unknown[],
  ): TimeoutHandle {
    checkFunction(cb, "a timeout");
    if (this.#closed) {
      throw new Error("Cannot schedule a timeout: the IOLoop is closed");
    }
    const entry = this.#timers.push(
      deadline,
      cb,
      args.length === 0 ? undefined : args,
    );
    if (this.#timer === null || deadline < this.#armedAt) this.#arm(deadline);
    return entry;
  }

  #invoke(fn: AnyFunction, args: unknown[] | undefined, kind: string): void {
    try {
      const result = args === undefined ? fn() : fn(...args);
      if (result !== undefined && isThenable(result)) {
        result.then(undefined, (err) => this.#fail(err, kind, fn));
      }
    } catch (err) {
      this.#fail(err, kind, fn);
    }
  }

  /** A callback failed. Cancelled work is no failure (Tornado 6). */
  #fail(err: unknown, kind: string, fn: AnyFunction): void {
    if (!(err instanceof CancelledError)) this.#report(err, describe(kind, fn));
  }

  #report(err: unknown, where: string): void {
    try {
      this.#onError(err, where);
    } catch (handlerError) {
      try {
        defaultOnError(
          handlerError,
          `IOLoop error handler (reporting ${where})`,
        );
        defaultOnError(err, where);
      } catch {
        // console itself failed: nothing sane is left to do.
      }
    }
  }

  #dispatch(n: number, events: number): void {
    const entry = this.#handlers.get(n);
    if (entry === undefined) return;
    this.#invoke(entry.handler, [entry.fd, events], `handler for fd ${n}:`);
  }

  #arm(deadline: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    const delay = Math.min(
      MAX_DELAY,
      Math.max(0, Math.ceil(deadline - this.#time())),
    );
    this.#armedAt = deadline;
    this.#timer = setTimeout(this.#onTimerOutside, delay);
  }

  #disarm(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#armedAt = Infinity;
  }

  #onTimerOutside = (): void => outside(this.#onTimer);

  #onTimer = (): void => {
    this.#timer = null;
    this.#armedAt = Infinity;
    const timers = this.#timers;
    // Deno fires ~1 ms late at best: run everything due by now in one go,
    // but leave timeouts added by these callbacks (and by the batch below)
    // to the next round.
    const now = this.#time();
    const seqLimit = timers.nextSeq;
    // As in Tornado (asyncio's ready queue runs before newly due timers):
    // callbacks already queued run before any timeout that became due;
    // callbacks they add run after this round.
    if (this.#immediate !== null) {
      clearImmediate(this.#immediate);
      this.#runCallbacks();
      if (this.#closed) return;
    }
    for (;;) {
      const entry = timers.popDue(now, seqLimit);
      if (entry === undefined) break;
      this.#invoke(entry.callback, entry.args, "timeout");
      if (this.#closed) return;
    }
    const next = timers.peek();
    if (
      next !== undefined &&
      (this.#timer === null || next.deadline < this.#armedAt)
    ) {
      this.#arm(next.deadline);
    }
  };

  #keepAlive(): void {
    // A pending promise does not keep Deno alive; a ref'd timer does.
    this.#hold = setTimeout(() => this.#keepAlive(), MAX_DELAY);
  }
}
