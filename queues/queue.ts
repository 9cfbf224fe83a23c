// Copyright the squall authors. MIT license.

import {
  type CheckedWait,
  checkOptions,
  rejected,
  WaiterList,
} from "../locks/_waiters.ts";
import type { WaitOptions } from "../locks/types.ts";
import { FifoStore, internals, type ItemStore } from "./_stores.ts";
import { QueueEmpty, QueueFull } from "./errors.ts";

const RESOLVED: Promise<void> = Promise.resolve();

function notDone<T>(value: T): IteratorResult<T> {
  return { value, done: false };
}

/** Whether a wait with these options must settle at once. */
function cannotWait(wait: CheckedWait): boolean {
  return wait.timeout !== undefined && wait.timeout <= 0;
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
  //
  // While such an item may still come back, the store's head is not known:
  // a get() then waits behind it instead of taking from the store, and is
  // served (#serve) once every grant is delivered or given back. That is
  // the only time getters wait while the store holds items; those items
  // are theirs, and qsize() does not count them.
  readonly #getters = new WaiterList<T>("Queue.get()", {
    deferAll: true,
    inOrder: true,
    handBack: (item) => this.#putBack(item),
    onDelivered: () => this.#serve(),
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
   * @returns The item count, not counting blocked putters' items, nor
   * items already bound for waiting getters. (Those exist only for a
   * moment: a `get()` called while an item handed to another getter in
   * the same turn could still come back waits for it, so the items in the
   * queue go to such getters one microtask later.)
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
    const items = this.#store.size;
    const getters = this.#getters.size;
    return items > getters ? items - getters : 0;
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
    return this.qsize() === 0;
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
    return this.#maxsize > 0 && this.qsize() >= this.#maxsize;
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
    if (this.#getters.head !== null && this.#store.size === 0) {
      this.#unfinished++;
      this.#getters.grantFirst(item);
      return RESOLVED;
    }
    if (
      (this.#putters.head !== null || this.full()) &&
      !(cannotWait(wait) && this.#roomNow())
    ) {
      return this.#putters.wait(wait, item);
    }
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
   * @throws {QueueFull} When the queue is full. (Should putters be blocked
   * while getters wait behind items handed over in this turn, see
   * {@linkcode Queue.get}, those items are delivered first, as
   * {@linkcode Queue.getNowait} does, to know whether a slot is free.)
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
    if (this.#getters.head !== null && this.#store.size === 0) {
      this.#unfinished++;
      this.#getters.grantFirst(item);
      return;
    }
    if (!this.#roomNow()) {
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
   * puts wait meanwhile.) An abort after delivery changes nothing. While
   * such an item may still come back, a later `get()` waits behind it
   * rather than take an item put after it: it gets that item if it comes
   * back, else the next one, a microtask later.
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
   *
   * @example A later get() takes an item that comes back first
   * ```ts
   * import { Queue } from "@squall/io/queues";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<string>();
   * const controller = new AbortController();
   * const gaveUp = queue.get({ signal: controller.signal });
   * queue.putNowait("x"); // handed to the first getter ...
   * queue.putNowait("y");
   * const next = queue.get(); // ... so this one waits behind "x"
   * controller.abort(new Error("gave up"));
   * await assert.rejects(gaveUp, /gave up/);
   * assert.equal(await next, "x");
   * assert.equal(queue.getNowait(), "y");
   * ```
   */
  get(options?: WaitOptions): Promise<T> {
    const wait = checkOptions<T>(options);
    if (wait instanceof Promise) return wait;
    if (this.#store.size > 0) {
      // With grants in their delivery window, wait behind them (they may
      // come back), unless this get cannot wait.
      try {
        if (this.#getters.undelivered === 0) {
          return Promise.resolve(this.#take());
        }
        if (cannotWait(wait) && this.qsize() > 0) {
          return Promise.resolve(this.#takeNow());
        }
      } catch (err) {
        return rejected(err);
      }
    }
    return this.#getters.wait(wait);
  }

  /**
   * Removes and returns the next item without waiting.
   *
   * Items handed to getters in this same turn and not yet delivered could
   * still come back (see {@linkcode Queue.get}), ahead of the item this
   * call takes. So, when the queue holds an item for it, this call first
   * delivers them: from then on they are final, and an abort of those
   * getters changes nothing. `get({ timeout: 0 })` does the same.
   *
   * @returns The item.
   * @throws {QueueEmpty} When the queue has no item (items bound for
   * waiting getters do not count, see {@linkcode Queue.qsize}).
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
    if (this.qsize() === 0) {
      throw new QueueEmpty("Cannot get without waiting: the queue is empty");
    }
    return this.#takeNow();
  }

  /**
   * Takes the next item at once. Grants still in their delivery window
   * are delivered first, and the getters waiting behind them served: the
   * items they would get back, or take, come before this one.
   */
  #takeNow(): T {
    if (this.#getters.undelivered > 0) this.#settle();
    if (this.#store.size === 0) {
      // Only user code run by a delivery (a thenable item's `then` getter)
      // can have taken what qsize() counted.
      throw new QueueEmpty("Cannot get without waiting: the queue is empty");
    }
    return this.#take();
  }

  /**
   * Takes back an item from a getter that gave up before it was delivered:
   * the next getter gets it, or it goes back to the head of the queue.
   */
  #putBack(item: T): void {
    const store = this.#store;
    const empty = store.size === 0;
    // Through the store even when it goes straight on: the store tracks
    // what it lent.
    store.putBack(item, this.#getters.undelivered);
    if (empty && this.#getters.head !== null) {
      this.#getters.grantFirst(store.take());
    } else {
      this.#serve();
    }
  }

  /**
   * Once no grant awaits delivery, hands the items in the store to the
   * getters that queued while one did, in order.
   */
  #serve(): void {
    const getters = this.#getters;
    if (getters.undelivered > 0) return;
    this.#store.settle();
    while (getters.head !== null && this.#store.size > 0) {
      let item: T;
      try {
        item = this.#take(true);
      } catch (err) {
        // A PriorityQueue comparator threw: this getter fails, as its own
        // take would have.
        getters.failFirst(err);
        continue;
      }
      getters.grantFirst(item);
    }
  }

  /**
   * Whether a put can add its item now without passing a blocked putter.
   * Blocked putters wait only while the queue is full, unless getters
   * queued behind grants in their delivery window hold items back.
   */
  #room(): boolean {
    return this.#putters.head === null && !this.full();
  }

  /**
   * {@linkcode Queue.#room}, for a put that cannot wait: if blocked
   * putters wait though the queue is not full, the waiting getters are
   * served first, which moves those putters' items in.
   */
  #roomNow(): boolean {
    if (this.#putters.head !== null && !this.full()) this.#settle();
    return this.#room();
  }

  /**
   * Delivers the grants in their delivery window now, so they are final,
   * and serves the getters that waited behind them.
   */
  #settle(): void {
    const getters = this.#getters;
    while (getters.undelivered > 0) {
      getters.deliver();
      this.#serve();
    }
  }

  /**
   * Takes the next item; a blocked putter's item moves in first. `lend`
   * when it goes to a getter that may still give it back.
   */
  #take(lend = false): T {
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
    return lend ? this.#store.lend() : this.#store.take();
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
