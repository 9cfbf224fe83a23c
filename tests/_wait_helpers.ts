// Shared helpers for the tests that wait: on promises, timers and events.
import FakeTimers from "@sinonjs/fake-timers";

type Clock = ReturnType<typeof FakeTimers.install>;

const PENDING = Symbol("pending");

/** Settles microtasks, then says whether `p` is still pending. */
export async function isPending(p: Promise<unknown>): Promise<boolean> {
  for (let i = 0; i < 5; i++) await null;
  // A settled `p` queues its reaction before the sentinel's.
  return await Promise.race([p, Promise.resolve(PENDING)]).then(
    (winner) => winner === PENDING,
    () => false,
  );
}

/** Lets every queued microtask (and their follow-ups) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await null;
}

/**
 * Polls `ready` every few milliseconds until it holds; throws after `ms`.
 * For an event that must come but whose time depends on the machine (a
 * worker's report, bytes from a peer): the bound is generous because a
 * loaded CI machine is slow, while a missing event never comes at all.
 */
export async function until(
  ready: () => boolean,
  what: string,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Outcome of a promise that must have settled by now. */
export async function outcome<T>(
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  if (await isPending(p)) throw new Error("promise is still pending");
  return p.then((value) => ({ ok: true as const, value }), (error) => ({
    ok: false as const,
    error,
  }));
}

/** Installs fake timers for the duration of `fn`. */
export async function withFakeTime(
  fn: (clock: Clock) => Promise<void> | void,
): Promise<void> {
  const clock = FakeTimers.install({
    toFake: ["setTimeout", "clearTimeout", "Date", "performance"],
  });
  try {
    await fn(clock);
  } finally {
    clock.uninstall();
  }
}

/**
 * A signal whose listener bookkeeping can be inspected: `listeners()` is
 * how many abort listeners it holds now, `added()` how many were ever
 * added, `peak()` the most it held at once.
 */
export function countingSignal(): {
  controller: AbortController;
  signal: AbortSignal;
  listeners: () => number;
  added: () => number;
  peak: () => number;
} {
  const controller = new AbortController();
  const signal = controller.signal;
  const live = new Set<unknown>();
  let added = 0;
  let peak = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((type: string, l: unknown, o?: unknown) => {
    if (type === "abort") {
      added++;
      live.add(l);
      peak = Math.max(peak, live.size);
    }
    // deno-lint-ignore no-explicit-any
    add(type, l as any, o as any);
  }) as typeof signal.addEventListener;
  signal.removeEventListener = ((type: string, l: unknown, o?: unknown) => {
    if (type === "abort") live.delete(l);
    // deno-lint-ignore no-explicit-any
    remove(type, l as any, o as any);
  }) as typeof signal.removeEventListener;
  // A `once` listener is dropped by the signal itself when it fires.
  add("abort", () => live.clear());
  return {
    controller,
    signal,
    listeners: () => live.size,
    added: () => added,
    peak: () => peak,
  };
}
