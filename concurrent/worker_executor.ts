// Copyright the squall authors. MIT license.

import { reportCallbackError } from "../ioloop/_report.ts";
import { setLongTimeout } from "./_timer.ts";
import { WORKER_SOURCE } from "./_worker_source.ts";
import type { Executor } from "./executor.ts";
import { Future } from "./future.ts";

/** Options for {@linkcode WorkerExecutor}. */
export interface WorkerExecutorOptions {
  /**
   * The most workers the pool runs at once; further tasks wait their turn.
   * A positive integer.
   *
   * @default {navigator.hardwareConcurrency}
   */
  size?: number;
  /**
   * How long, in milliseconds, a pool with nothing to do keeps its workers
   * before terminating them (they are started again on demand). An idle
   * worker keeps the program alive, so this bounds how long a program that
   * never calls {@linkcode WorkerExecutor.shutdown} lingers after its last
   * task. `Infinity` keeps them until `shutdown()`.
   *
   * @default {1000}
   */
  idleTimeout?: number;
}

interface Task {
  readonly id: number;
  readonly src: string;
  readonly name: string;
  // Emptied when the task is dropped while it waits.
  args: unknown[];
  readonly future: TaskFuture<unknown>;
  // In the pool's queue.
  queued: boolean;
}

interface Slot {
  readonly worker: Worker;
  task: Task | undefined;
}

interface Reply {
  id?: number;
  ok?: boolean;
  value?: unknown;
  error?: unknown;
  name?: string;
  message?: string;
  stack?: string;
  props?: Record<string, unknown>;
  stray?: { name: string; message: string; stack?: string };
  exited?: number;
}

/**
 * A task's future, which tells the pool at once when it is settled: one
 * cancelled while its task waits must stop counting in `pending` right
 * away (a done callback would come a microtask late).
 */
class TaskFuture<T> extends Future<T> {
  readonly #onSettle: () => void;

  constructor(onSettle: () => void) {
    super();
    this.#onSettle = onSettle;
  }

  override setResult(value: T): void {
    super.setResult(value);
    this.#onSettle();
  }

  override setException(error: unknown): void {
    super.setException(error);
    this.#onSettle();
  }

  override cancel(): boolean {
    if (!super.cancel()) return false;
    this.#onSettle();
    return true;
  }
}

const WORKER_URL = `data:text/javascript,${encodeURIComponent(WORKER_SOURCE)}`;
const NATIVE_SOURCE = /\{\s*\[native code\]\s*\}\s*$/;
const ERROR_CLASSES: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/**
 * An {@linkcode Executor} that runs functions off the main thread, on a
 * bounded pool of module Web Workers: what `IOLoop.runInExecutor` uses by
 * default, like Tornado's default thread pool.
 *
 * A function crosses to a worker as its source text and is rebuilt there, so
 * it must be **self-contained**: it may use its parameters, globals and
 * dynamic `import()`, but no variable, import or function from the scope it
 * was written in (that fails in the worker with a `ReferenceError` whose
 * message says so). Its arguments and its result (awaited if it returns a
 * promise) are copied with the structured clone algorithm; values that cannot
 * be cloned (functions, class instances lose their class) fail the task with
 * a `DataCloneError`. Arrow functions, `function` expressions, async
 * functions and methods that do not use `this` all work; native and bound
 * functions have no usable source and are refused by {@linkcode submit}.
 * An error thrown by the function becomes the future's exception, with its
 * class (for the built-in error classes), `name`, `message` and own
 * properties. A function that calls `exit()` (Deno's or `node:process`'s)
 * ends only its worker: its task fails with an `Error` that says so, and the
 * pool replaces the worker.
 *
 * Workers start lazily, one per task until `size` are running; further tasks
 * wait in first-come first-served order. Workers left idle for
 * `idleTimeout` ms are terminated. {@linkcode shutdown} (or `using`)
 * terminates them all and fails every unfinished task.
 *
 * The worker program is loaded from a `data:` URL built in memory, not from
 * a file next to this module, so the pool works the same when squall is
 * imported from a remote registry. In Deno this needs no permission (the
 * workers inherit the program's permissions). Runtimes without a global
 * `Worker` (Node.js) get an `Error` from the constructor.
 *
 * Cancelling a task's future drops the task if it has not started; a task
 * already running goes on, and its result is discarded.
 *
 * @example Compute off the main thread
 * ```ts
 * import { WorkerExecutor } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * using pool = new WorkerExecutor({ size: 2 });
 * function fib(n: number): number {
 *   return n < 2 ? n : fib(n - 1) + fib(n - 2);
 * }
 * assert.equal(await pool.submit(fib, 20), 6765);
 * const sums = await Promise.all(
 *   [[1, 2], [3, 4]].map((pair) =>
 *     pool.submit((xs: number[]) => xs.reduce((a, b) => a + b, 0), pair)
 *   ),
 * );
 * assert.deepEqual(sums, [3, 7]);
 * ```
 *
 * @example A function that is not self-contained
 * ```ts
 * import { WorkerExecutor } from "@squall/io/concurrent";
 * import assert from "node:assert/strict";
 *
 * using pool = new WorkerExecutor({ size: 1 });
 * const factor = 3;
 * await assert.rejects(pool.submit((x: number) => x * factor, 2), {
 *   name: "ReferenceError",
 *   message: /factor is not defined.*self-contained/,
 * });
 * ```
 */
export class WorkerExecutor implements Executor, Disposable {
  readonly #size: number;
  readonly #idleTimeout: number;
  #slots: Slot[] = [];
  #idle: Slot[] = [];
  #queue: Task[] = [];
  #head = 0;
  // Tasks in the queue whose future was settled while they waited.
  #dropped = 0;
  #nextId = 1;
  #closed = false;
  #clearIdleTimer: (() => void) | undefined = undefined;

  /**
   * Creates an empty pool; workers start with the first tasks.
   *
   * @param options Pool size and idle timeout.
   * @throws {Error} If the runtime has no Web Worker API (Node.js).
   * @throws {TypeError} If `size` or `idleTimeout` is not a number.
   * @throws {RangeError} If `size` is not a positive integer or
   * `idleTimeout` is negative or `NaN`.
   */
  constructor(options: WorkerExecutorOptions = {}) {
    if (typeof Worker !== "function") {
      throw new Error(
        "Cannot create a WorkerExecutor: this runtime has no Web Worker API " +
          "(globalThis.Worker is missing, as in Node.js); use DummyExecutor " +
          "or node:worker_threads there",
      );
    }
    const size = options.size ?? defaultSize();
    if (typeof size !== "number") {
      throw new TypeError(
        `Cannot create a WorkerExecutor: size must be a number, got ${typeof size}`,
      );
    }
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(
        `Cannot create a WorkerExecutor: size must be a positive integer, got ${
          String(size)
        }`,
      );
    }
    const idleTimeout = options.idleTimeout ?? 1000;
    if (typeof idleTimeout !== "number") {
      throw new TypeError(
        `Cannot create a WorkerExecutor: idleTimeout must be a number, got ${typeof idleTimeout}`,
      );
    }
    if (!(idleTimeout >= 0)) {
      throw new RangeError(
        `Cannot create a WorkerExecutor: idleTimeout must be a number of milliseconds >= 0, got ${
          String(idleTimeout)
        }`,
      );
    }
    this.#size = size;
    this.#idleTimeout = idleTimeout;
  }

  /**
   * The most workers this pool runs at once.
   *
   * @example Read the pool size
   * ```ts
   * import { WorkerExecutor } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * using pool = new WorkerExecutor({ size: 3 });
   * assert.equal(pool.size, 3);
   * ```
   */
  get size(): number {
    return this.#size;
  }

  /**
   * How many workers are alive now (busy or idle).
   *
   * @example Workers start on demand
   * ```ts
   * import { WorkerExecutor } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * using pool = new WorkerExecutor({ size: 4 });
   * assert.equal(pool.workers, 0);
   * await pool.submit(() => 1);
   * assert.equal(pool.workers, 1);
   * ```
   */
  get workers(): number {
    return this.#slots.length;
  }

  /**
   * How many submitted tasks wait for a free worker. A waiting task whose
   * future is cancelled (or otherwise settled) is dropped at once: it no
   * longer counts, and the pool lets go of its arguments.
   *
   * @example Excess tasks wait
   * ```ts
   * import { WorkerExecutor } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * using pool = new WorkerExecutor({ size: 1 });
   * const tasks = [pool.submit(() => 1), pool.submit(() => 2)];
   * const dropped = pool.submit(() => 3);
   * assert.equal(pool.pending, 2);
   * dropped.cancel();
   * assert.equal(pool.pending, 1);
   * assert.deepEqual(await Promise.all(tasks), [1, 2]);
   * assert.equal(pool.pending, 0);
   * ```
   */
  get pending(): number {
    return this.#queue.length - this.#head - this.#dropped;
  }

  /**
   * Runs `fn(...args)` on a worker and returns a future for its outcome.
   *
   * @typeParam A The argument types (structured-cloneable).
   * @typeParam R What `fn` returns (structured-cloneable once awaited).
   * @param fn A self-contained function (see the class documentation).
   * @param args Its arguments.
   * @returns A future for the result. Failures to run the function (it is not
   * self-contained, an argument or the result cannot be cloned, the worker
   * died) become its exception.
   * @throws {TypeError} If `fn` is not a function, or is a native or bound
   * function whose source text is not available.
   * @throws {Error} After {@linkcode shutdown}.
   *
   * @example Errors thrown in the worker reach the caller
   * ```ts
   * import { WorkerExecutor } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * using pool = new WorkerExecutor({ size: 1 });
   * const f = pool.submit((n: number) => {
   *   if (n < 0) throw new RangeError(`negative: ${n}`);
   *   return Math.sqrt(n);
   * }, -4);
   * await assert.rejects(f, { name: "RangeError", message: "negative: -4" });
   * ```
   */
  submit<A extends unknown[], R>(
    fn: (...args: A) => R | PromiseLike<R>,
    ...args: A
  ): Future<Awaited<R>> {
    if (this.#closed) {
      throw new Error("Cannot submit to a WorkerExecutor that was shut down");
    }
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot submit to a WorkerExecutor: expected a function, got ${typeof fn}`,
      );
    }
    const name = fn.name || "(anonymous)";
    const src = Function.prototype.toString.call(fn);
    if (NATIVE_SOURCE.test(src)) {
      throw new TypeError(
        `Cannot run function ${name} in a worker: it is a native or bound ` +
          "function, whose source text is not available; pass a " +
          "self-contained function written in JavaScript",
      );
    }
    const future = new TaskFuture<Awaited<R>>(() => {
      if (!task.queued) return;
      // Dropped while it waits: #dequeue skips it.
      this.#dropped++;
      task.args = [];
    });
    const task: Task = {
      id: this.#nextId++,
      src,
      name,
      args,
      future: future as TaskFuture<unknown>,
      queued: false,
    };
    this.#clearIdleTimer?.();
    this.#clearIdleTimer = undefined;
    const slot = this.#idle.pop() ??
      (this.#slots.length < this.#size ? this.#spawn() : undefined);
    if (slot === undefined) this.#enqueue(task);
    else if (!this.#post(slot, task)) this.#dispatch(slot);
    return future;
  }

  /**
   * Terminates every worker at once. Tasks still running or waiting fail
   * with an `Error` that says the pool was shut down; later
   * {@linkcode submit} calls throw. Calling it again does nothing.
   *
   * @example Shut down with work outstanding
   * ```ts
   * import { WorkerExecutor } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const pool = new WorkerExecutor({ size: 1 });
   * const running = pool.submit(() => new Promise(() => {})); // never ends
   * const waiting = pool.submit(() => "never started");
   * pool.shutdown();
   * await assert.rejects(running, /shut down while the task was running/);
   * await assert.rejects(waiting, /shut down before the task started/);
   * assert.throws(() => pool.submit(() => 1), /shut down/);
   * ```
   */
  shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearIdleTimer?.();
    this.#clearIdleTimer = undefined;
    const running: Task[] = [];
    for (const slot of this.#slots) {
      if (slot.task !== undefined) running.push(slot.task);
      slot.task = undefined;
      slot.worker.terminate();
    }
    const waiting = this.#queue.slice(this.#head);
    for (const task of waiting) task.queued = false;
    this.#slots = [];
    this.#idle = [];
    this.#queue = [];
    this.#head = 0;
    this.#dropped = 0;
    for (const task of running) {
      fail(
        task,
        new Error(
          `The WorkerExecutor was shut down while the task was running (function ${task.name})`,
        ),
      );
    }
    for (const task of waiting) {
      fail(
        task,
        new Error(
          `The WorkerExecutor was shut down before the task started (function ${task.name})`,
        ),
      );
    }
  }

  /**
   * Calls {@linkcode shutdown}, so that `using pool = new WorkerExecutor()`
   * cleans up at the end of the scope.
   *
   * @example Scope a pool
   * ```ts
   * import { WorkerExecutor } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * let outer: WorkerExecutor;
   * {
   *   using pool = new WorkerExecutor({ size: 1 });
   *   outer = pool;
   *   assert.equal(await pool.submit(() => "hi"), "hi");
   * }
   * assert.throws(() => outer.submit(() => 1), /shut down/);
   * ```
   */
  [Symbol.dispose](): void {
    this.shutdown();
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_URL, {
      type: "module",
      name: `squall WorkerExecutor ${this.#slots.length + 1}`,
    });
    const slot: Slot = { worker, task: undefined };
    worker.onmessage = (event: MessageEvent<Reply>) =>
      this.#onReply(slot, event.data);
    worker.onmessageerror = () =>
      this.#onReply(slot, {
        id: slot.task?.id ?? 0,
        ok: false,
        name: "DataCloneError",
        message: "Cannot receive the worker's reply: it could not be " +
          "deserialized",
      });
    worker.onerror = (event: ErrorEvent) => {
      // Without preventDefault the error would be rethrown in this thread.
      event.preventDefault();
      this.#onCrash(slot, event.message);
    };
    this.#slots.push(slot);
    return slot;
  }

  /** Sends `task` to the idle `slot`; false if its arguments cannot go. */
  #post(slot: Slot, task: Task): boolean {
    slot.task = task;
    try {
      slot.worker.postMessage({ id: task.id, src: task.src, args: task.args });
      return true;
    } catch (err) {
      slot.task = undefined;
      fail(
        task,
        new DOMException(
          `Cannot send the arguments of function ${task.name} to a worker: ${
            errorMessage(err)
          }`,
          "DataCloneError",
        ),
      );
      return false;
    }
  }

  /** Gives the free `slot` the next waiting task, or parks it. */
  #dispatch(slot: Slot): void {
    for (;;) {
      const task = this.#dequeue();
      if (task === undefined) break;
      if (this.#post(slot, task)) return;
    }
    this.#idle.push(slot);
    this.#armIdleTimer();
  }

  /** Retires the workers after idleTimeout once every one of them is idle. */
  #armIdleTimer(): void {
    if (
      this.#slots.length > 0 && this.#idle.length === this.#slots.length &&
      this.#idleTimeout !== Infinity && this.#clearIdleTimer === undefined
    ) {
      this.#clearIdleTimer = setLongTimeout(() => {
        this.#clearIdleTimer = undefined;
        this.#retireIdle();
      }, this.#idleTimeout);
    }
  }

  /** Queues `task` at the tail, or at the head when `first`. */
  #enqueue(task: Task, first = false): void {
    task.queued = true;
    if (!first) this.#queue.push(task);
    else if (this.#head > 0) this.#queue[--this.#head] = task;
    else this.#queue.unshift(task);
  }

  #dequeue(): Task | undefined {
    while (this.#head < this.#queue.length) {
      const task = this.#queue[this.#head]!;
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      task.queued = false;
      if (task.future.done()) {
        this.#dropped--; // settled while it waited
        continue;
      }
      return task;
    }
    return undefined;
  }

  #retireIdle(): void {
    for (const slot of this.#idle) slot.worker.terminate();
    const idle = new Set(this.#idle);
    this.#slots = this.#slots.filter((slot) => !idle.has(slot));
    this.#idle = [];
  }

  #onReply(slot: Slot, reply: Reply): void {
    if (reply.exited !== undefined) {
      this.#onExit(slot, reply.exited);
      return;
    }
    if (reply.stray !== undefined) {
      reportCallbackError(
        rebuildError(reply.stray),
        "a WorkerExecutor worker (an error no task awaited)",
      );
      return;
    }
    const task = slot.task;
    if (task === undefined || task.id !== reply.id) return;
    slot.task = undefined;
    // Hand the worker its next task, and arm the idle timer, before settling:
    // settling queues microtasks that may submit or shut down.
    this.#dispatch(slot);
    if (task.future.done()) return; // cancelled meanwhile
    if (reply.ok) task.future.setResult(reply.value);
    else task.future.setException(explain(rebuildError(reply), task));
  }

  #onCrash(slot: Slot, message: string): void {
    this.#lose(slot, (task) =>
      new Error(
        `The worker running function ${task.name} failed: ${message}`,
      ));
  }

  /** Code in the worker called `exit()`: the worker is ending. */
  #onExit(slot: Slot, running: number): void {
    if (running === 0) {
      reportCallbackError(
        new Error(
          "A WorkerExecutor worker exited between tasks: code left running " +
            "by a task called exit() (Deno's or node:process's), which ends " +
            "the worker, not the program",
        ),
        "a WorkerExecutor worker",
      );
    }
    // A task posted to the worker but not started yet waits for the next.
    this.#lose(slot, (task) =>
      task.id !== running ? undefined : new Error(
        `The worker running function ${task.name} exited: a task run by ` +
          "WorkerExecutor called exit() (Deno's or node:process's), which " +
          "ends the worker, not the program; throw an error or return instead",
      ));
  }

  /**
   * Drops the dead `slot` and fails its task with `failure(task)`, or puts
   * the task back at the head of the queue when that gives `undefined`.
   */
  #lose(slot: Slot, failure: (task: Task) => Error | undefined): void {
    slot.worker.terminate();
    this.#slots = this.#slots.filter((s) => s !== slot);
    this.#idle = this.#idle.filter((s) => s !== slot);
    const task = slot.task;
    slot.task = undefined;
    if (task !== undefined) {
      const error = failure(task);
      if (error !== undefined) fail(task, error);
      else if (!task.future.done()) this.#enqueue(task, true);
    }
    // Replace the lost worker if tasks are waiting for one; else the
    // workers left may all be idle now.
    if (this.pending > 0 && !this.#closed) {
      this.#dispatch(this.#spawn());
    } else if (!this.#closed) this.#armIdleTimer();
  }
}

function defaultSize(): number {
  const n = typeof navigator === "undefined"
    ? undefined
    : navigator.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? Math.floor(n) : 1;
}

function fail(task: Task, error: unknown): void {
  if (!task.future.done()) task.future.setException(error);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Turns a worker's description of a failure back into an error. */
function rebuildError(reply: Reply): unknown {
  if ("error" in reply) {
    const err = reply.error;
    if (err instanceof Error) {
      if (reply.props !== undefined) Object.assign(err, reply.props);
      if (typeof reply.name === "string" && err.name !== reply.name) {
        err.name = reply.name;
      }
    }
    return err;
  }
  const name = reply.name ?? "Error";
  const message = reply.message ?? "";
  if (name === "DataCloneError") return new DOMException(message, name);
  const ErrorClass = ERROR_CLASSES[name] ?? Error;
  const err = new ErrorClass(message);
  if (err.name !== name) err.name = name;
  if (reply.stack !== undefined) err.stack = reply.stack;
  return err;
}

/** Adds what went wrong to failures caused by running a function remotely. */
function explain(err: unknown, task: Task): unknown {
  if (!(err instanceof Error)) return err;
  if (err.name === "ReferenceError") {
    err.message += ` (in function ${task.name} run by WorkerExecutor: it ` +
      "must be self-contained, without variables, imports or functions " +
      "from the scope it was written in; pass values as arguments)";
  } else if (
    err instanceof TypeError && /\bundefined\b/.test(err.message) &&
    /\bthis\b/.test(task.src)
  ) {
    err.message += ` (function ${task.name} uses \`this\`, which is ` +
      "undefined in a worker: WorkerExecutor calls functions without a " +
      "receiver)";
  }
  return err;
}
