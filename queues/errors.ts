// Copyright the squall authors. MIT license.

/**
 * Thrown by `Queue.getNowait()` when the queue has no item (Tornado's
 * `tornado.queues.QueueEmpty`).
 *
 * @example Poll without waiting
 * ```ts
 * import { Queue, QueueEmpty } from "@squall/io/queues";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue<number>();
 * assert.throws(() => queue.getNowait(), QueueEmpty);
 * ```
 */
export class QueueEmpty extends Error {
  /**
   * Constructs a new {@linkcode QueueEmpty}.
   *
   * @param message Why no item could be taken.
   * @param options The standard `cause` option.
   */
  constructor(message = "The queue is empty", options?: ErrorOptions) {
    super(message, options);
    this.name = "QueueEmpty";
  }
}

/**
 * Thrown by `Queue.putNowait()` when the queue is at its `maxsize`
 * (Tornado's `tornado.queues.QueueFull`).
 *
 * @example Put without waiting
 * ```ts
 * import { Queue, QueueFull } from "@squall/io/queues";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue<number>(1);
 * queue.putNowait(1);
 * assert.throws(() => queue.putNowait(2), QueueFull);
 * ```
 */
export class QueueFull extends Error {
  /**
   * Constructs a new {@linkcode QueueFull}.
   *
   * @param message Why the item could not be added.
   * @param options The standard `cause` option.
   */
  constructor(message = "The queue is full", options?: ErrorOptions) {
    super(message, options);
    this.name = "QueueFull";
  }
}
