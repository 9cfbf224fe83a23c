// Copyright the squall authors. MIT license.

/**
 * The one waiter list behind Lock, Semaphore, Condition, Event and the
 * queues: an intrusive doubly linked FIFO list, so a waiter that times out or
 * is aborted unlinks itself in O(1) and leaves nothing behind.
 *
 * Granting and giving up exclude each other because both happen
 * synchronously and both unlink the node first: a granted node has already
 * dropped its timer and abort listener, so a later abort in the same turn
 * cannot take the grant back; a node that gave up is no longer in the list,
 * so it can never be granted. (With deferred grants only the promise's
 * resolution waits a microtask; the grant itself is still synchronous.)
 *
 * Nothing waits on a list without being in it: the node is linked before
 * its timer is armed, because arming the first timer of a `deno test`
 * process runs pending microtasks, i.e. user code that may grant.
 * Private to squall.
 *
 * @module
 */

import { TimeoutError } from "../concurrent/errors.ts";
import type { WaitOptions } from "./types.ts";

/** setTimeout silently fires at once above this delay, so longer waits re-arm. */
const MAX_DELAY = 2 ** 31 - 1;

function noop(): void {}

/**
 * Returns a rejected promise that is already marked handled: it still
 * rejects for whoever awaits it, but ignoring it cannot crash the process.
 */
export function rejected<T = never>(reason: unknown): Promise<T> {
  const p = Promise.reject<T>(reason);
  p.catch(noop);
  return p;
}

/**
 * Checks wait options before any work: bad options or an already aborted
 * signal give a (handled) rejected promise, good ones give `null`.
 */
export function checkOptions<T = never>(
  options: WaitOptions,
): Promise<T> | null {
  if (typeof options !== "object" || options === null) {
    return rejected(
      new TypeError(
        `Cannot wait: options must be an object, got ${
          options === null ? "null" : typeof options
        }`,
      ),
    );
  }
  const { timeout, signal } = options;
  if (timeout !== undefined) {
    if (typeof timeout !== "number") {
      return rejected(
        new TypeError(
          `Cannot wait: "timeout" must be a number of milliseconds, got ${typeof timeout}`,
        ),
      );
    }
    if (Number.isNaN(timeout)) {
      return rejected(new RangeError(`Cannot wait: "timeout" is NaN`));
    }
  }
  if (signal !== undefined) {
    if (!(signal instanceof AbortSignal)) {
      return rejected(
        new TypeError(`Cannot wait: "signal" must be an AbortSignal`),
      );
    }
    if (signal.aborted) return rejected(signal.reason);
  }
  return null;
}

/** One pending wait. Fields are public to the list only. */
export class Waiter<T> {
  prev: Waiter<T> | null = null;
  next: Waiter<T> | null = null;
  /** The list holding this waiter; `null` once settled. */
  list: WaiterList<T> | null;
  promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Milliseconds still to wait after the current timer (for huge timeouts). */
  remaining = 0;
  timeout = 0;
  signal: AbortSignal | undefined = undefined;
  /** What the waiter brings along, e.g. a blocked putter's item. */
  data: unknown;

  constructor(list: WaiterList<T>, data: unknown) {
    this.list = list;
    this.data = data;
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** The abort listener: the node is its own EventListenerObject. */
  handleEvent(): void {
    const list = this.list;
    if (list === null) return;
    list.unlink(this);
    this.#dropTimer();
    const signal = this.signal as AbortSignal;
    // The `once` listener is already gone.
    this.signal = undefined;
    this.#fail(signal.reason);
  }

  /** Drops the timer and abort listener of a granted waiter. */
  disarm(): void {
    this.#dropTimer();
    this.#dropSignal();
  }

  /** Called by the timer. */
  expire(): void {
    const list = this.list;
    if (list === null) return;
    if (this.remaining > 0) {
      const next = Math.min(this.remaining, MAX_DELAY);
      this.remaining -= next;
      const timer = setTimeout(expireWaiter, next, this);
      if (this.list === null) clearTimeout(timer);
      else this.timer = timer;
      return;
    }
    this.timer = undefined;
    list.unlink(this);
    this.#dropSignal();
    if (list.rejectOnTimeout) {
      this.#fail(
        new TimeoutError(`${list.what} timed out after ${this.timeout} ms`),
      );
    } else {
      this.data = undefined;
      this.resolve(list.timeoutValue as T);
    }
  }

  #fail(reason: unknown): void {
    this.data = undefined;
    // Marked handled before it rejects: a caller that ignores the promise
    // must not get an unhandled rejection.
    this.promise.catch(noop);
    this.reject(reason);
  }

  #dropTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  #dropSignal(): void {
    const signal = this.signal;
    if (signal !== undefined) {
      this.signal = undefined;
      signal.removeEventListener("abort", this);
    }
  }
}

function expireWaiter<T>(waiter: Waiter<T>): void {
  waiter.expire();
}

/**
 * A FIFO list of waiters. `what` names the waiting call in timeout
 * messages. On timeout a waiter rejects with `TimeoutError`, or resolves
 * with `timeoutValue` when one is given.
 */
export class WaiterList<T> {
  head: Waiter<T> | null = null;
  tail: Waiter<T> | null = null;
  size = 0;
  readonly what: string;
  readonly rejectOnTimeout: boolean;
  readonly timeoutValue: T | undefined;
  /** Granted waiters whose promises resolve in the next microtask. */
  readonly #deliveries: Waiter<T>[] | null;
  #flushScheduled = false;
  readonly #flush: (() => void) | null;

  /**
   * With `deferGrants`, a granted waiter is settled at once (unlinked,
   * timer and listener dropped, the value is its own) but its promise
   * resolves one microtask later, in grant order. A queue uses this so
   * that the task that handed over an item resumes before the one that
   * receives it, as in Tornado, where `put()` returns and the getter runs
   * on a later loop turn; a consumer that calls `taskDone()` right away
   * then cannot finish `join()` before the producer puts its next item.
   */
  constructor(what: string, timeout?: { value: T }, deferGrants = false) {
    this.what = what;
    this.rejectOnTimeout = timeout === undefined;
    this.timeoutValue = timeout?.value;
    if (deferGrants) {
      const deliveries: Waiter<T>[] = [];
      this.#deliveries = deliveries;
      this.#flush = () => {
        // Index loop: a resolve may run user code (a thenable's `then`
        // getter) that grants more; those join this batch.
        for (let i = 0; i < deliveries.length; i++) {
          const waiter = deliveries[i] as Waiter<T>;
          const value = waiter.data as T;
          waiter.data = undefined;
          waiter.resolve(value);
        }
        deliveries.length = 0;
        this.#flushScheduled = false;
      };
    } else {
      this.#deliveries = null;
      this.#flush = null;
    }
  }

  /** Settles a granted (already unlinked) waiter with `value`. */
  #deliver(waiter: Waiter<T>, value: T): void {
    waiter.disarm();
    const deliveries = this.#deliveries;
    if (deliveries === null) {
      waiter.data = undefined;
      waiter.resolve(value);
      return;
    }
    waiter.data = value;
    deliveries.push(waiter);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush as () => void);
    }
  }

  /**
   * Settles the way a timeout would, without waiting: for `timeout: 0`
   * when the call cannot succeed at once.
   */
  timedOut(timeout: number): Promise<T> {
    if (this.rejectOnTimeout) {
      return rejected(
        new TimeoutError(`${this.what} timed out after ${timeout} ms`),
      );
    }
    return Promise.resolve(this.timeoutValue as T);
  }

  /**
   * Queues a waiter at the tail and returns its promise. `options` must
   * have passed {@linkcode checkOptions}; a non-positive timeout settles at
   * once and queues nothing.
   */
  wait(options: WaitOptions | undefined, data?: unknown): Promise<T> {
    let timeout = Infinity;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      if (options.timeout !== undefined) {
        timeout = options.timeout;
        if (timeout <= 0) return this.timedOut(Math.max(timeout, 0));
      }
      signal = options.signal;
    }
    const waiter = new Waiter<T>(this, data);
    // Linked before anything else: arming the first timer of a `deno test`
    // process runs pending microtasks, i.e. user code that may release or
    // grant, and it must find this waiter in line.
    const tail = this.tail;
    if (tail === null) {
      this.head = waiter;
    } else {
      tail.next = waiter;
      waiter.prev = tail;
    }
    this.tail = waiter;
    this.size++;
    if (signal !== undefined) {
      waiter.signal = signal;
      signal.addEventListener("abort", waiter, { once: true });
    }
    if (timeout !== Infinity) {
      waiter.timeout = timeout;
      const first = Math.min(timeout, MAX_DELAY);
      waiter.remaining = timeout - first;
      const timer = setTimeout(expireWaiter, first, waiter);
      // Settled while the timer was being armed: nothing may outlive it.
      if (waiter.list === null) clearTimeout(timer);
      else waiter.timer = timer;
    }
    return waiter.promise;
  }

  /** Removes a waiter in O(1); it stays unsettled. */
  unlink(waiter: Waiter<T>): void {
    const { prev, next } = waiter;
    if (prev === null) this.head = next;
    else prev.next = next;
    if (next === null) this.tail = prev;
    else next.prev = prev;
    waiter.prev = waiter.next = null;
    waiter.list = null;
    this.size--;
  }

  /** Grants `value` to the head waiter; false when there is none. */
  grantFirst(value: T): boolean {
    const waiter = this.head;
    if (waiter === null) return false;
    this.unlink(waiter);
    this.#deliver(waiter, value);
    return true;
  }

  /** Grants `value` to every waiter present now, in FIFO order. */
  grantAll(value: T): void {
    let waiter = this.head;
    this.head = this.tail = null;
    this.size = 0;
    while (waiter !== null) {
      const next = waiter.next;
      waiter.prev = waiter.next = null;
      waiter.list = null;
      this.#deliver(waiter, value);
      waiter = next;
    }
  }
}
