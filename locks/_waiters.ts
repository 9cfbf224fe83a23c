// Copyright the squall authors. MIT license.

/**
 * The one waiter list behind Lock, Semaphore, Condition, Event and the
 * queues: an intrusive doubly linked FIFO list, so a waiter that times out or
 * is aborted unlinks itself in O(1) and leaves nothing behind.
 *
 * A grant is not final until it is delivered. A waiter that can still give
 * up (it has an abort signal, or its list defers every grant) is unlinked
 * at the grant, but its promise resolves one microtask later; until then it
 * keeps its abort listener and timer. If it gives up in that window it
 * settles as a give-up (`signal.reason`, or the timeout outcome) and the
 * grant goes back through the list's `handBack` hook, so nothing it can no
 * longer see is lost: a lock passes to the next waiter, a queue item goes
 * back to the queue. A caller who aborted stopped listening; a grant it
 * never saw would be a lock nobody releases or an item nobody reads.
 * Waiters that cannot give up (no signal, no deferring list) are resolved
 * at the grant itself, which keeps the common path free of any extra
 * microtask, unless earlier grants still await delivery: then they join
 * those, so waiters always resume in grant (FIFO) order. Only fake timers
 * (a synchronous `clock.tick()`) can fire a timer inside the window: real
 * timers run their callbacks with the microtask queue drained in between.
 * A caller that must know now that no grant comes back (a queue's
 * `getNowait()`) delivers the window at once with `deliver()`.
 *
 * A node that gave up is no longer in the list, so it can never be
 * granted. Nothing waits on a list without being in it: the node is linked
 * before its timer is armed, because arming the first timer of a
 * `deno test` process runs pending microtasks, i.e. user code that may
 * grant. Private to squall.
 *
 * @module
 */

import { TimeoutError } from "../concurrent/errors.ts";
import { rejected } from "../concurrent/_quiet.ts";
import { AbortFollower, type AbortTarget } from "./_abort.ts";
import type { WaitOptions } from "./types.ts";

// The handled rejection every wait method returns for misuse.
export { rejected };

/** setTimeout silently fires at once above this delay, so longer waits re-arm. */
const MAX_DELAY = 2 ** 31 - 1;

/** Linked in its list. */
const WAITING = 0;
/** Granted by `grantFirst`, not yet delivered: giving up hands it back. */
const GRANTED = 1;
/** Granted by `grantAll` (or finally), not yet delivered: nothing to hand back. */
const SHARED = 2;
/** Settled, or resolved by a delivery already on its way. */
const DONE = 3;

function noop(): void {}

/**
 * Wait options as {@linkcode checkOptions} read them: a plain record of our
 * own, so reading it again cannot run user code or see other values.
 * `timeout` is absent or a number other than NaN; `signal` is absent or an
 * AbortSignal that was not aborted when it was read.
 */
export type CheckedWait = Readonly<WaitOptions>;

/** The checked options of a wait with no timeout and no signal. */
export const NO_LIMIT: CheckedWait = Object.freeze({});

/**
 * Reads wait options once and checks them before any work. Bad options or
 * an already aborted signal give a (handled) rejected promise; good ones
 * give the values read, which every later step uses instead of `options`
 * (a getter could return something else on a second read). No options, or
 * none that limit the wait, give the shared {@linkcode NO_LIMIT}.
 */
export function checkOptions<T = never>(
  options: WaitOptions | undefined,
): CheckedWait | Promise<T> {
  if (options === undefined) return NO_LIMIT;
  if (typeof options !== "object" || options === null) {
    return rejected(
      new TypeError(
        `Cannot wait: options must be an object, got ${
          options === null ? "null" : typeof options
        }`,
      ),
    );
  }
  let timeout: unknown;
  let signal: unknown;
  try {
    ({ timeout, signal } = options);
  } catch (err) {
    // A getter that throws: a promise method still only rejects.
    return rejected(err);
  }
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
  if (signal === undefined) {
    return timeout === undefined || timeout === Infinity
      ? NO_LIMIT
      : { timeout: timeout as number };
  }
  if (!(signal instanceof AbortSignal)) {
    return rejected(
      new TypeError(`Cannot wait: "signal" must be an AbortSignal`),
    );
  }
  if (signal.aborted) return rejected(signal.reason);
  return timeout === undefined
    ? { signal }
    : { timeout: timeout as number, signal };
}

/**
 * One pending wait. Fields are public to the list only. A wait with a
 * signal follows it through the registry in `_abort.ts`: one listener per
 * signal, however many waits share it.
 */
export class Waiter<T> implements AbortTarget {
  prev: Waiter<T> | null = null;
  next: Waiter<T> | null = null;
  /** WAITING, GRANTED, SHARED or DONE. */
  state: number = WAITING;
  readonly list: WaiterList<T>;
  promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Milliseconds still to wait after the current timer (for huge timeouts). */
  remaining = 0;
  timeout = 0;
  /**
   * While in line, its place in arrival order; once granted by
   * `grantFirst`, the grant's cutoff: the arrival number of the first
   * waiter that came after the grant was made.
   */
  stamp = 0;
  /** Follows the signal until the wait settles; null without one. */
  follower: AbortFollower | null = null;
  /** What the waiter brings along (a blocked putter's item), then its grant. */
  data: unknown;

  constructor(list: WaiterList<T>, data: unknown) {
    this.list = list;
    this.data = data;
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Its signal aborted. */
  onAbort(): void {
    this.list.giveUp(this, false);
  }

  /** Called by the timer. */
  expire(): void {
    if (this.state === DONE) return;
    if (this.remaining > 0) {
      const next = Math.min(this.remaining, MAX_DELAY);
      this.remaining -= next;
      const timer = setTimeout(expireWaiter, next, this);
      if (this.state === DONE) clearTimeout(timer);
      else this.timer = timer;
      return;
    }
    this.timer = undefined;
    this.list.giveUp(this, true);
  }

  /** Drops the timer and the abort listener. */
  disarm(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const follower = this.follower;
    if (follower !== null) {
      this.follower = null;
      follower.unfollow();
    }
  }
}

function expireWaiter<T>(waiter: Waiter<T>): void {
  waiter.expire();
}

/** How a {@linkcode WaiterList} settles and delivers. */
export interface WaiterListOptions<T> {
  /**
   * Resolve timed-out waiters with this value instead of rejecting them
   * with `TimeoutError`.
   */
  onTimeout?: { value: T };
  /**
   * Deliver every grant one microtask later, in grant order, not only
   * those of waiters with a signal. A queue uses this so that the task
   * that handed over an item resumes before the one that receives it, as
   * in Tornado, where `put()` returns and the getter runs on a later loop
   * turn; a consumer that calls `taskDone()` right away then cannot finish
   * `join()` before the producer puts its next item.
   */
  deferAll?: boolean;
  /**
   * Grants are final at once: the waiter drops its timer and abort
   * listener at the grant (a blocked putter whose item was accepted).
   */
  final?: boolean;
  /**
   * Takes back a `grantFirst` grant whose waiter gave up before delivery.
   * `cutoff` is that grant's cutoff (see {@linkcode WaiterList.grantFirst}):
   * passing it on lets only waiters already in line when it was made have
   * it. It must not throw.
   */
  handBack?: (value: T, cutoff: number) => void;
  /**
   * The values granted are interchangeable and ordered (queue items): the
   * waiters still waiting for delivery receive them in grant order, so a
   * waiter that gives up hands back the LAST undelivered value and every
   * later waiter moves up one, as if the one that gave up had never waited.
   */
  inOrder?: boolean;
  /**
   * Called after each delivery microtask has delivered its batch. A queue
   * uses it to serve the getters that queued behind grants that could
   * still come back. It must not throw.
   */
  onDelivered?: () => void;
}

/**
 * A FIFO list of waiters. `what` names the waiting call in timeout
 * messages.
 */
export class WaiterList<T> {
  head: Waiter<T> | null = null;
  tail: Waiter<T> | null = null;
  size = 0;
  readonly what: string;
  readonly rejectOnTimeout: boolean;
  readonly timeoutValue: T | undefined;
  readonly #deferAll: boolean;
  readonly #final: boolean;
  readonly #handBack: ((value: T, cutoff: number) => void) | undefined;
  /** How many waiters have joined the list: the next one's stamp. */
  #arrivals = 0;
  /** Undelivered values in grant order (inOrder lists only). */
  readonly #values: T[] | null;
  /** Granted waiters awaiting delivery, in grant order. */
  readonly #batch: Waiter<T>[] = [];
  /**
   * Where delivery is in `#batch` and `#values`. Fields, not locals: a
   * resolve may run user code (a thenable's `then` getter) that calls
   * {@linkcode WaiterList.deliver} again, which goes on from there.
   */
  #nextWaiter = 0;
  #nextValue = 0;
  /** `grantFirst` grants awaiting delivery. */
  #undelivered = 0;
  #flushScheduled = false;
  readonly #flush: () => void;

  constructor(what: string, options: WaiterListOptions<T> = {}) {
    this.what = what;
    this.rejectOnTimeout = options.onTimeout === undefined;
    this.timeoutValue = options.onTimeout?.value;
    this.#deferAll = options.deferAll ?? false;
    this.#final = options.final ?? false;
    this.#handBack = options.handBack;
    this.#values = options.inOrder ? [] : null;
    const onDelivered = options.onDelivered;
    this.#flush = () => {
      this.deliver();
      this.#flushScheduled = false;
      onDelivered?.();
    };
  }

  /**
   * How many `grantFirst` grants await delivery: until then, any of them
   * whose waiter can still give up may come back through `handBack`.
   */
  get undelivered(): number {
    return this.#undelivered;
  }

  /**
   * Delivers every grant awaiting delivery now, in grant order, instead of
   * in the delivery microtask: they are final from here on.
   */
  deliver(): void {
    const batch = this.#batch;
    const values = this.#values;
    // Index loop: a resolve may run user code that grants more or gives
    // up; all of it joins this batch.
    while (this.#nextWaiter < batch.length) {
      const waiter = batch[this.#nextWaiter++] as Waiter<T>;
      const state = waiter.state;
      if (state === DONE) continue; // gave up in the window
      waiter.state = DONE;
      waiter.disarm();
      let value = waiter.data as T;
      if (state === GRANTED) {
        this.#undelivered--;
        if (values !== null) value = values[this.#nextValue++] as T;
      }
      waiter.data = undefined;
      waiter.resolve(value);
    }
    batch.length = 0;
    this.#nextWaiter = 0;
    if (values !== null) {
      values.length = 0;
      this.#nextValue = 0;
    }
  }

  /** Grants `value` to an unlinked waiter. */
  #grant(waiter: Waiter<T>, value: T, state: number): void {
    if (waiter.follower === null && !this.#deferAll) {
      // Cannot give up any more: the grant is final. Delivered at once, at
      // no extra cost, unless earlier grants still await delivery: then it
      // joins them, so that waiters resume in the order they were granted.
      if (this.#batch.length === 0) {
        waiter.state = DONE;
        if (waiter.timer !== undefined) {
          clearTimeout(waiter.timer);
          waiter.timer = undefined;
        }
        waiter.data = undefined;
        waiter.resolve(value);
        return;
      }
      waiter.disarm();
      state = SHARED;
    } else if (this.#final) {
      waiter.disarm();
      state = SHARED;
    }
    waiter.state = state;
    if (state === GRANTED) this.#undelivered++;
    if (state === GRANTED && this.#values !== null) {
      this.#values.push(value);
      waiter.data = undefined;
    } else {
      waiter.data = value;
    }
    this.#batch.push(waiter);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  /**
   * Settles a waiter that gave up: aborted (`timedOut` false) or timed out.
   * A waiter still in line leaves it; one granted but not yet delivered
   * hands its grant back. Does nothing to a settled waiter.
   */
  giveUp(waiter: Waiter<T>, timedOut: boolean): void {
    const state = waiter.state;
    if (state === DONE) return;
    waiter.state = DONE;
    if (state === WAITING) this.unlink(waiter);
    const follower = waiter.follower;
    waiter.follower = null;
    if (timedOut) {
      follower?.unfollow();
    } else if (waiter.timer !== undefined) {
      // The registry already unlinked it from the signal.
      clearTimeout(waiter.timer);
      waiter.timer = undefined;
    }
    let value: T | undefined;
    if (state === GRANTED) {
      this.#undelivered--;
      value = this.#values !== null ? this.#values.pop() : waiter.data as T;
    }
    waiter.data = undefined;
    if (!timedOut) {
      fail(waiter, (follower as AbortFollower).signal.reason);
    } else if (this.rejectOnTimeout) {
      fail(
        waiter,
        new TimeoutError(`${this.what} timed out after ${waiter.timeout} ms`),
      );
    } else {
      waiter.resolve(this.timeoutValue as T);
    }
    if (state === GRANTED && this.#handBack !== undefined) {
      this.#handBack(value as T, waiter.stamp);
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
   * Queues a waiter at the tail and returns its promise. `options` are
   * what {@linkcode checkOptions} returned; a non-positive timeout settles
   * at once and queues nothing.
   */
  wait(options: CheckedWait = NO_LIMIT, data?: unknown): Promise<T> {
    const { timeout = Infinity, signal } = options;
    if (timeout <= 0) return this.timedOut(Math.max(timeout, 0));
    const waiter = new Waiter<T>(this, data);
    waiter.stamp = this.#arrivals++;
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
      waiter.follower = new AbortFollower(signal, waiter);
    }
    if (timeout !== Infinity) {
      waiter.timeout = timeout;
      const first = Math.min(timeout, MAX_DELAY);
      waiter.remaining = timeout - first;
      const timer = setTimeout(expireWaiter, first, waiter);
      // Settled while the timer was being armed: nothing may outlive it.
      // (A waiter granted but not yet delivered keeps it until delivery.)
      if (waiter.state === DONE) clearTimeout(timer);
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
    this.size--;
  }

  /**
   * Grants `value` to the head waiter, if it arrived before `cutoff` (by
   * default, if there is one); false when there is none. A hand-back of a
   * grant made earlier passes that grant's cutoff, so that it never
   * reaches a waiter that arrived after the grant was made.
   */
  grantFirst(value: T, cutoff: number = this.#arrivals): boolean {
    const waiter = this.head;
    if (waiter === null || waiter.stamp >= cutoff) return false;
    this.unlink(waiter);
    waiter.stamp = cutoff;
    this.#grant(waiter, value, GRANTED);
    return true;
  }

  /**
   * Rejects the head waiter with `reason` (a grant for it failed); false
   * when there is none.
   */
  failFirst(reason: unknown): boolean {
    const waiter = this.head;
    if (waiter === null) return false;
    this.unlink(waiter);
    waiter.state = DONE;
    waiter.disarm();
    waiter.data = undefined;
    fail(waiter, reason);
    return true;
  }

  /**
   * Grants `value` to every waiter present now, in FIFO order. These
   * grants hand nothing back: everyone in line was served.
   */
  grantAll(value: T): void {
    let waiter = this.head;
    this.head = this.tail = null;
    this.size = 0;
    while (waiter !== null) {
      const next = waiter.next;
      waiter.prev = waiter.next = null;
      this.#grant(waiter, value, SHARED);
      waiter = next;
    }
  }
}

function fail<T>(waiter: Waiter<T>, reason: unknown): void {
  // Marked handled before it rejects: a caller that ignores the promise
  // must not get an unhandled rejection.
  waiter.promise.catch(noop);
  waiter.reject(reason);
}
