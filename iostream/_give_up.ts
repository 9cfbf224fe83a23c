// Copyright the squall authors. MIT license.

/**
 * Giving up a wait on a `{ timeout, signal }` options bag, shared by reads,
 * `connect()` and `waitForHandshake()`. Private to squall.
 *
 * @module
 */

import { checkDelay, setLongTimeout } from "../concurrent/_timer.ts";
import { TimeoutError } from "../concurrent/errors.ts";
import { AbortFollower } from "../locks/_abort.ts";
import { typeName } from "./_type_name.ts";

/** The options every wait that can give up takes. */
export interface GiveUpOptions {
  timeout?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * The timeout and signal of a wait that can give up, as
 * {@linkcode readGiveUp} read them: a record of our own, so reading it again
 * runs no user code and sees no other values.
 */
export interface GiveUp {
  readonly timeout: number | undefined;
  readonly signal: AbortSignal | undefined;
}

/**
 * Reads `options` once and says how the wait gives up: `undefined` when it
 * does not (no timeout, no signal), else the values read, which every later
 * step uses instead of `options` (a getter could return something else on
 * a second read). Throws `TypeError`/`RangeError` for bad values, and an
 * aborted signal's reason: nothing is started then. `what` names the wait
 * in messages ("a read", "a connect").
 */
export function readGiveUp(
  options: GiveUpOptions | undefined,
  what: string,
): GiveUp | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Options must be an object, got ${typeName(options)}`);
  }
  const { timeout, signal } = options;
  if (timeout === undefined && signal === undefined) return undefined;
  if (timeout !== undefined) {
    const bad = checkDelay(timeout, `${what} timeout`);
    if (bad !== undefined) throw bad;
  }
  if (signal !== undefined) {
    if (!(signal instanceof AbortSignal)) {
      throw new TypeError(
        `Signal must be an AbortSignal, got ${typeName(signal)}`,
      );
    }
    if (signal.aborted) throw signal.reason;
  }
  return { timeout, signal };
}

/**
 * Calls `giveUp` with a `TimeoutError` ("`name` timed out after … ms") once
 * the timeout passes, or with the signal's reason once it is aborted, at
 * once when either is already so (timeout ≤ 0). Drops its timer and abort
 * listener when `settled` settles, so a long-lived signal collects nothing.
 * `giveUp` must ignore calls after the wait ended.
 */
export function armGiveUp(
  limits: GiveUp,
  name: string,
  giveUp: (reason: unknown) => void,
  settled: Promise<unknown>,
): void {
  const { timeout, signal } = limits;
  const expire = (): void =>
    giveUp(new TimeoutError(`${name} timed out after ${timeout} ms`));
  if (signal?.aborted) {
    giveUp(signal.reason);
    return;
  }
  if (timeout !== undefined && timeout <= 0) {
    expire();
    return;
  }
  const clear = timeout === undefined
    ? undefined
    : setLongTimeout(expire, timeout);
  // Through the registry the locks use: many reads sharing one shutdown
  // signal add one listener to it, not one each (O(N) apiece).
  const follower = signal === undefined
    ? undefined
    : new AbortFollower(signal, { onAbort: () => giveUp(signal.reason) });
  const done = (): void => {
    clear?.();
    follower?.unfollow();
  };
  settled.then(done, done);
}

/**
 * Settles as `wait` does, unless `limits` (from {@linkcode readGiveUp}) give
 * up first: then it rejects with the reason (and calls `onGiveUp` with it)
 * while `wait` goes on, its outcome dropped.
 */
export function giveUpWaiting<T>(
  wait: Promise<T>,
  limits: GiveUp,
  name: string,
  onGiveUp?: (reason: unknown) => void,
): Promise<T> {
  const { promise, resolve, reject } = Promise.withResolvers<T>();
  let over = false;
  armGiveUp(limits, name, (reason) => {
    if (over) return;
    over = true;
    onGiveUp?.(reason);
    reject(reason);
  }, promise);
  wait.then((value) => {
    if (over) return;
    over = true;
    resolve(value);
  }, (err) => {
    if (over) return;
    over = true;
    reject(err);
  });
  return promise;
}

/**
 * Runs `attempt` to make something that must be closed (a connection, a
 * stream) and gives up on it as `options` say; without a timeout or signal
 * it just runs `attempt()`. On giving up, the promise rejects at once with
 * the reason and `attempt`'s signal is aborted with it, so the attempt can
 * stop what it started; whatever it still makes afterwards is closed on
 * arrival, and a failure it reports afterwards is dropped. Giving up at
 * once starts nothing. Rejects with what {@linkcode readGiveUp} (given
 * `what`) throws, and with what `attempt` throws.
 */
export function giveUpOnMaking<T extends { close(): void }>(
  options: GiveUpOptions,
  what: string,
  name: string,
  attempt: (signal?: AbortSignal) => Promise<T>,
): Promise<T> {
  let limits: GiveUp | undefined;
  try {
    limits = readGiveUp(options, what);
    if (limits === undefined) return attempt();
  } catch (err) {
    return Promise.reject(err);
  }
  const controller = new AbortController();
  const made = Promise.withResolvers<T>();
  const result = giveUpWaiting(
    made.promise,
    limits,
    name,
    (reason) => controller.abort(reason),
  );
  if (controller.signal.aborted) return result;
  made.promise.then((value) => {
    if (controller.signal.aborted) value.close();
  }, () => {});
  try {
    attempt(controller.signal).then(made.resolve, made.reject);
  } catch (err) {
    made.reject(err);
  }
  return result;
}
