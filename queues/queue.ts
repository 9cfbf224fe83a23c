// Copyright the squall authors. MIT license.

import { checkOptions, rejected, WaiterList } from "../locks/_waiters.ts";
import type { WaitOptions } from "../locks/types.ts";
import { FifoStore, internals, type ItemStore } from "./_stores.ts";
import { QueueEmpty, QueueFull } from "./errors.ts";

const RESOLVED: Promise<void> = Promise.resolve();

function notDone<T>(value: T): IteratorResult<T> {
  return { value, done: false };
}

/**
 * An async FIFO queue for handing items between tasks (Tornado's
 * `tornado.queues.Queue`).
 *
 * With a `maxsize`, `put()` waits while the queue is full; a blocked
 * putter's item goes straight into the queue when a slot frees, in the
 * order the putters came. `get()` waits while it is empty. Every wait takes
 * `{ timeout, signal }`; a getter or putter that gave up never takes or
 * adds an item later. `taskDone()` and `join()` track when every item put
 * has been processed. The queue is an async iterable that never ends.
 *
 * An item that is itself a promise (or any thenable) is awaited by `get()`,
 * because a promise cannot resolve to a thenable; wrap such items, e.g. in
 * a one-element array, to pass them through as they are.
 *
 * @typeParam T The type of the items.
 *
 * @example Producer and consumer
 * ```ts
 * import { Queue } from "@squall/io/queues";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue<number>(2);
 * const seen: number[] = [];
 * (async () => {
 *   for await (const item of queue) {
 *     seen.push(item);
 *     queue.taskDone();
 *   }
 * })();
 * for (let i = 0; i < 5; i++) await queue.put(i);
 * await queue.join({ timeout: 1000 });
 * assert.deepEqual(seen, [0, 1, 2, 3, 4]);
 * ```
 */
export class Queue<T> implements AsyncIterable<T> {
  readonly #maxsize: number;
  #store: ItemStore<T> = new FifoStore<T>();
  // Deferred grants: the task handing over an item resumes first. An item
  // granted to a getter that gives up before delivery comes back (#putBack);
  // a blocked putter's item is in the queue from its grant on, so that
  // grant is final.
  readonly #getters = new WaiterList<T>("Queue.get()", {
    deferAll: true,
    inOrder: true,
    handBack: (item) => this.#putBack(item),
  });
  readonly #putters = new WaiterList<void>("Queue.put()", {
    deferAll: true,
    final: true,
  });
  readonly #joiners = new WaiterList<void>("Queue.join()");
  #unfinished = 0;

  static {
    internals.setStore = <T>(queue: Queue<T>, store: ItemStore<T>) => {
      queue.#store = store;
    };
  }

  /**
   * Constructs a new {@linkcode Queue}.
   *
   * @param maxsize How many items it holds before `put()` waits; `0`
   * means no limit.
   * @throws {RangeError} When `maxsize` is negative or not an integer.
   * @throws {TypeError} When `maxsize` is not a number.
   */
  constructor(maxsize = 0) {
    if (typeof maxsize !== "number") {
      throw new TypeError(
        `Cannot create a queue: maxsize must be a number, got ${typeof maxsize}`,
      );
    }
    if (!Number.isInteger(maxsize) || maxsize < 0) {
      throw new RangeError(
        `Cannot create a queue: maxsize must be a non-negative integer, got ${maxsize}`,
      );
    }
    this.#maxsize = maxsize;
  }

  /**
   * How many items the queue holds before `put()` waits; `0` for no limit.
   *
   * @example Read the bound
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Queue(3).maxsize, 3);
   * assert.equal(new Queue().maxsize, 0);
   * ```
   */
  get maxsize(): number {
    return this.#maxsize;
  }

  /**
   * How many `get()`, `put()` and `join()` calls are waiting.
   *
   * @example A getter waits on an empty queue
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<string>();
   * const next = queue.get();
   * assert.equal(queue.waiters, 1);
   * queue.putNowait("x");
   * assert.equal(await next, "x");
   * assert.equal(queue.waiters, 0);
   * ```
   */
  get waiters(): number {
    return this.#getters.size + this.#putters.size + this.#joiners.size;
  }

  /**
   * The number of items in the queue.
   *
   * @returns The item count, not counting blocked putters' items.
   *
   * @example Count items
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * queue.putNowait(1);
   * queue.putNowait(2);
   * assert.equal(queue.qsize(), 2);
   * ```
   */
  qsize(): number {
    return this.#store.size;
  }

  /**
   * Whether the queue has no item.
   *
   * @returns `true` when `qsize()` is 0.
   *
   * @example A new queue is empty
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Queue().empty(), true);
   * ```
   */
  empty(): boolean {
    return this.#store.size === 0;
  }

  /**
   * Whether the queue is at its `maxsize` (never, without one).
   *
   * @returns `true` when `put()` would wait.
   *
   * @example Fill a bounded queue
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>(1);
   * queue.putNowait(1);
   * assert.equal(queue.full(), true);
   * ```
   */
  full(): boolean {
    return this.#maxsize > 0 && this.#store.size >= this.#maxsize;
  }

  /**
   * Puts an item into the queue, waiting for a free slot if it is full.
   *
   * @param item The item.
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns Resolves once the item is in the queue (or handed to a
   * waiting getter). Rejects with `TimeoutError` on timeout and with
   * `signal.reason` when aborted; the item is then not added. A blocked
   * put whose item was already moved into the queue resolves even if its
   * signal aborts before the promise settles: the item stays, so the
   * outcome tells the truth.
   *
   * @example Time out on a full queue
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import { TimeoutError } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>(1);
   * await queue.put(1);
   * await assert.rejects(queue.put(2, { timeout: 5 }), TimeoutError);
   * assert.equal(queue.qsize(), 1);
   * ```
   */
  put(item: T, options?: WaitOptions): Promise<void> {
    const wait = checkOptions<void>(options);
    if (wait instanceof Promise) return wait;
    if (this.#getters.head !== null) {
      this.#unfinished++;
      this.#getters.grantFirst(item);
      return RESOLVED;
    }
    if (this.full()) return this.#putters.wait(wait, item);
    try {
      this.#store.push(item);
    } catch (err) {
      return rejected(err);
    }
    this.#unfinished++;
    return RESOLVED;
  }

  /**
   * Puts an item into the queue without waiting.
   *
   * @param item The item.
   * @throws {QueueFull} When the queue is full.
   *
   * @example Hand an item to a waiting getter
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<string>(1);
   * const next = queue.get();
   * queue.putNowait("a");
   * assert.equal(await next, "a");
   * ```
   */
  putNowait(item: T): void {
    if (this.#getters.head !== null) {
      this.#unfinished++;
      this.#getters.grantFirst(item);
      return;
    }
    if (this.full()) {
      throw new QueueFull(
        `Cannot put without waiting: the queue is full (maxsize ${this.#maxsize})`,
      );
    }
    this.#store.push(item);
    this.#unfinished++;
  }

  /**
   * Removes and returns the next item, waiting for one if the queue is
   * empty.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns The item. Rejects with `TimeoutError` on timeout and with
   * `signal.reason` when aborted; that getter then never takes an item.
   * An item is delivered one microtask after it was handed over; if the
   * signal aborts in between (say, in the same turn as the `put()`), the
   * getter rejects and the item goes to the next getter, or back to the
   * head of the queue, as if this getter had never waited. (Should puts in
   * that same window have filled a bounded queue, it then holds more than
   * `maxsize` items until enough are taken; no item is ever dropped, and
   * puts wait meanwhile.) An abort after delivery changes nothing.
   *
   * @example Wait for an item
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<string>();
   * setTimeout(() => queue.putNowait("late"), 1);
   * assert.equal(await queue.get({ timeout: 1000 }), "late");
   * ```
   *
   * @example An abort in the same turn as the put loses nothing
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<string>();
   * const controller = new AbortController();
   * const gaveUp = queue.get({ signal: controller.signal });
   * queue.putNowait("x"); // handed to the getter ...
   * controller.abort(new Error("gave up")); // ... which no longer listens
   * await assert.rejects(gaveUp, /gave up/);
   * assert.equal(queue.getNowait(), "x");
   * ```
   */
  get(options?: WaitOptions): Promise<T> {
    const wait = checkOptions<T>(options);
    if (wait instanceof Promise) return wait;
    if (this.#store.size > 0) {
      try {
        return Promise.resolve(this.#take());
      } catch (err) {
        return rejected(err);
      }
    }
    return this.#getters.wait(wait);
  }

  /**
   * Removes and returns the next item without waiting.
   *
   * @returns The item.
   * @throws {QueueEmpty} When the queue has no item.
   *
   * @example Drain what is there
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * queue.putNowait(1);
   * assert.equal(queue.getNowait(), 1);
   * assert.equal(queue.empty(), true);
   * ```
   */
  getNowait(): T {
    if (this.#store.size === 0) {
      throw new QueueEmpty("Cannot get without waiting: the queue is empty");
    }
    return this.#take();
  }

  /**
   * Takes back an item from a getter that gave up before it was delivered:
   * the next getter gets it, or it goes back to the head of the queue.
   */
  #putBack(item: T): void {
    if (this.#getters.head !== null) this.#getters.grantFirst(item);
    else this.#store.putBack(item);
  }

  /** Takes the next item; a blocked putter's item moves in first. */
  #take(): T {
    const putter = this.#putters.head;
    // Only if the take makes room for it: a queue left over maxsize by a
    // hand-back keeps its putters waiting until it is below the bound.
    if (putter !== null && this.#store.size <= this.#maxsize) {
      // As in Tornado the putter's item enters before the take, so a
      // PriorityQueue or LifoQueue sees it when choosing what comes out.
      this.#store.push(putter.data as T);
      this.#unfinished++;
      this.#putters.grantFirst(undefined);
    }
    return this.#store.take();
  }

  /**
   * Marks one item taken from the queue as processed.
   *
   * @throws {RangeError} When called more times than items were put.
   *
   * @example Count work done
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * queue.putNowait(1);
   * queue.getNowait();
   * queue.taskDone();
   * assert.throws(() => queue.taskDone(), RangeError);
   * ```
   */
  taskDone(): void {
    if (this.#unfinished <= 0) {
      throw new RangeError(
        "taskDone() called too many times: every item put is already done",
      );
    }
    if (--this.#unfinished === 0) this.#joiners.grantAll(undefined);
  }

  /**
   * Waits until every item put has been marked done with `taskDone()`.
   *
   * @param options `timeout` in milliseconds and an abort `signal`.
   * @returns Resolves when no task is unfinished. Rejects with
   * `TimeoutError` on timeout and with `signal.reason` when aborted.
   *
   * @example Time out while work is pending
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * queue.putNowait(1);
   * await assert.rejects(queue.join({ timeout: 5 }), { name: "TimeoutError" });
   * queue.getNowait();
   * queue.taskDone();
   * await queue.join({ timeout: 0 });
   * ```
   */
  join(options?: WaitOptions): Promise<void> {
    const wait = checkOptions<void>(options);
    if (wait instanceof Promise) return wait;
    if (this.#unfinished === 0) return RESOLVED;
    return this.#joiners.wait(wait);
  }

  /**
   * Iterates over items as they arrive, with `for await`; each step is a
   * `get()`. The iteration never ends on its own: `break` out of it.
   *
   * @returns An async iterator over the queue's items.
   *
   * @example Consume in a loop
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * [1, 2, 3].forEach((n) => queue.putNowait(n));
   * let sum = 0;
   * for await (const n of queue) {
   *   sum += n;
   *   if (queue.empty()) break;
   * }
   * assert.equal(sum, 6);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.get().then(notDone) };
  }
}
