// Options objects that change their mind, for the tests that a call reads
// each option once and uses the value it read.
import assert from "node:assert/strict";
import type { StreamConnectOptions } from "../iostream/mod.ts";
import { isPending } from "./_wait_helpers.ts";

/**
 * Options whose getters count their reads: each key gives its value in
 * `first` on the first read, and calls its function in `later` on every
 * read after that (to return another value, or to throw).
 */
export function fickleOptions<T extends object>(
  first: T,
  later: { [K in keyof T]-?: () => unknown },
): { options: T; overRead: () => string[] } {
  const reads = new Map<string, number>();
  const options = {} as T;
  for (const key of Object.keys(later) as Array<keyof T & string>) {
    reads.set(key, 0);
    Object.defineProperty(options, key, {
      enumerable: true,
      get(): unknown {
        const n = reads.get(key)! + 1;
        reads.set(key, n);
        return n === 1 ? first[key] : later[key]();
      },
    });
  }
  return {
    options,
    // The keys read more than once, with their counts, for a clear failure.
    overRead: () =>
      [...reads].filter(([, n]) => n > 1).map(([key, n]) => `${key} ×${n}`),
  };
}

/** Throws: for a later read that must not happen. */
export function readTwice(): never {
  throw new Error("read twice");
}

/**
 * Connect options first read as a 10 s timeout, a signal nobody aborts and
 * `maxBufferSize: 64`; any second read of any of them throws.
 */
export function fickleConnectOptions(): {
  options: StreamConnectOptions;
  overRead: () => string[];
} {
  return fickleOptions<StreamConnectOptions>({
    timeout: 10_000,
    signal: new AbortController().signal,
    maxBufferSize: 64,
  }, {
    timeout: readTwice,
    signal: readTwice,
    maxBufferSize: readTwice,
    readChunkSize: readTwice,
    maxWriteBufferSize: readTwice,
  });
}

/** The `timeout` and `signal` of a call that waits. */
export interface Limits {
  timeout?: number;
  signal?: AbortSignal;
}

/**
 * Checks that `start` reads its options once each and waits on what it
 * read, whatever later reads would give (another value, a bad one, or a
 * throw): it times out after the 5 ms it read first (`expectTimeout`
 * checks how it settles), and gives up on an abort of the signal it read
 * first. `more` adds the call's other options, with their first and later
 * values.
 */
export async function assertWaitReadsOptionsOnce<O extends Limits>(
  start: (options: O) => Promise<unknown>,
  expectTimeout: (waiting: Promise<unknown>) => Promise<void>,
  more: { first: Partial<O>; later: Record<string, () => unknown> } = {
    first: {},
    later: {},
  },
): Promise<void> {
  const fickle = (first: Limits, later: Record<string, () => unknown>) =>
    fickleOptions<O>(
      { ...more.first, ...first } as O,
      { ...more.later, ...later } as { [K in keyof O]-?: () => unknown },
    );
  for (
    const later of [
      { timeout: () => "never", signal: () => "not a signal" },
      { timeout: readTwice, signal: readTwice },
    ]
  ) {
    const timed = fickle(
      { timeout: 5, signal: new AbortController().signal },
      later,
    );
    await expectTimeout(start(timed.options));
    assert.deepEqual(timed.overRead(), []);
  }

  const controller = new AbortController();
  const aborted = fickle(
    { signal: controller.signal },
    { timeout: () => 0, signal: () => new AbortController().signal },
  );
  const waiting = start(aborted.options);
  assert.equal(await isPending(waiting), true, "no timeout was read");
  const reason = new Error("gave up");
  controller.abort(reason);
  await assert.rejects(waiting, (err) => err === reason);
  assert.deepEqual(aborted.overRead(), []);
}
