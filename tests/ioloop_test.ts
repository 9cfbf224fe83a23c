// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import FakeTimers from "@sinonjs/fake-timers";
import { DummyExecutor } from "../concurrent/dummy_executor.ts";
import { CancelledError, TimeoutError } from "../concurrent/errors.ts";
import { Future } from "../concurrent/future.ts";
import { IOLoop, PeriodicCallback, type TimeoutHandle } from "../ioloop/mod.ts";
import { reportCallbackError } from "../ioloop/_report.ts";
import { countUnhandledRejections } from "./_capture.ts";

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A loop whose clock and host timers are driven by a fake clock. */
function fakeClockLoop(
  opts: { onError?: (e: unknown, w: string) => void } = {},
) {
  const clock = FakeTimers.install({
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"],
  });
  const loop = new IOLoop({
    makeCurrent: false,
    time: () => clock.now,
    ...opts,
  });
  return {
    clock,
    loop,
    [Symbol.dispose]() {
      loop.close();
      clock.uninstall();
    },
  };
}

function collectErrors() {
  const errors: { err: unknown; where: string }[] = [];
  return {
    errors,
    onError: (err: unknown, where: string) => errors.push({ err, where }),
  };
}

Deno.test("IOLoop.addCallback() runs callbacks in FIFO order with their arguments", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const seen: unknown[] = [];
  const done = Promise.withResolvers<void>();
  loop.addCallback((a: number, b: string) => seen.push([a, b]), 1, "x");
  loop.spawnCallback(() => seen.push("spawned"));
  loop.addCallbackFromSignal((s: string) => seen.push(s), "signal");
  loop.addCallback(() => done.resolve());
  await done.promise;
  assert.deepEqual(seen, [[1, "x"], "spawned", "signal"]);
  loop.close();
});

Deno.test("IOLoop.addCallback() runs callbacks added during a batch in a later task", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const seen: string[] = [];
  const done = Promise.withResolvers<void>();
  loop.addCallback(() => {
    seen.push("A");
    loop.addCallback(() => {
      seen.push("C");
      done.resolve();
    });
    queueMicrotask(() => seen.push("microtask"));
  });
  loop.addCallback(() => seen.push("B"));
  await done.promise;
  // The microtask queued by A runs after the whole batch (A, B) and before
  // C: C ran in a later macrotask.
  assert.deepEqual(seen, ["A", "B", "microtask", "C"]);
  loop.close();
});

Deno.test("IOLoop.addCallback() does not ride on setTimeout", async () => {
  // With setTimeout frozen, a chain of callbacks must still complete.
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const loop = new IOLoop({ makeCurrent: false });
    let hops = 0;
    const done = Promise.withResolvers<void>();
    const hop = () => {
      if (++hops === 200) done.resolve();
      else loop.addCallback(hop);
    };
    loop.addCallback(hop);
    await done.promise;
    assert.equal(hops, 200);
    loop.close();
  } finally {
    clock.uninstall();
  }
});

Deno.test("IOLoop runs scheduled work without start()", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const fired = await new Promise<string>((resolve) => {
    loop.callLater(1, resolve, "fired");
  });
  assert.equal(fired, "fired");
  loop.close();
});

Deno.test("IOLoop timeouts fire in deadline order, ties in scheduling order", async () => {
  using t = fakeClockLoop();
  const { loop, clock } = t;
  const seen: string[] = [];
  const base = loop.time();
  loop.callLater(30, () => seen.push("30"));
  loop.callAt(base + 10, () => seen.push("10a"));
  loop.addTimeout(base + 20, () => seen.push("20"));
  loop.callLater(10, () => seen.push("10b"));
  loop.callLater(0, () => seen.push("0"));
  loop.callLater(-5, () => seen.push("-5"));
  await clock.tickAsync(9);
  assert.deepEqual(seen, ["-5", "0"]);
  await clock.tickAsync(1);
  assert.deepEqual(seen, ["-5", "0", "10a", "10b"]);
  await clock.tickAsync(25);
  assert.deepEqual(seen, ["-5", "0", "10a", "10b", "20", "30"]);
});

Deno.test("IOLoop rearms its host timer when an earlier deadline arrives", async () => {
  using t = fakeClockLoop();
  const { loop, clock } = t;
  const seen: number[] = [];
  loop.callLater(1000, () => seen.push(1000));
  loop.callLater(5, () => seen.push(5));
  // One host timer for the whole loop, whatever the number of timeouts.
  assert.equal(clock.countTimers(), 1);
  await clock.tickAsync(5);
  assert.deepEqual(seen, [5]);
  assert.equal(clock.countTimers(), 1);
  await clock.tickAsync(995);
  assert.deepEqual(seen, [5, 1000]);
  assert.equal(clock.countTimers(), 0);
});

Deno.test("IOLoop.removeTimeout() cancels; it is idempotent and ignores unknown handles", async () => {
  using t = fakeClockLoop();
  const { loop, clock } = t;
  const other = new IOLoop({ makeCurrent: false });
  const seen: string[] = [];
  const a = loop.callLater(10, () => seen.push("a"));
  const b = loop.callLater(10, () => seen.push("b"));
  loop.removeTimeout(a);
  loop.removeTimeout(a);
  other.removeTimeout(b); // belongs to `loop`: ignored
  loop.removeTimeout({ deadline: 10 } as TimeoutHandle);
  loop.removeTimeout(null as unknown as TimeoutHandle);
  await clock.tickAsync(10);
  assert.deepEqual(seen, ["b"]);
  loop.removeTimeout(b); // already ran: ignored
  other.close();
});

Deno.test("IOLoop.removeTimeout() of the last timeout releases the host timer", () => {
  // No close() here: the sanitizers would flag a host timer left behind.
  const loop = new IOLoop({ makeCurrent: false });
  const handles = [5, 50, 500].map((ms) => loop.callLater(ms, () => {}));
  for (const h of handles) loop.removeTimeout(h);
});

Deno.test("IOLoop: a timeout callback may cancel a later timeout due in the same round", async () => {
  using t = fakeClockLoop();
  const { loop, clock } = t;
  const seen: string[] = [];
  let second: TimeoutHandle | null = null;
  loop.callLater(5, () => {
    seen.push("first");
    loop.removeTimeout(second!);
  });
  second = loop.callLater(5, () => seen.push("second"));
  await clock.tickAsync(10);
  assert.deepEqual(seen, ["first"]);
});

Deno.test("IOLoop: a timeout scheduled by a timeout callback runs in a later round", async () => {
  using t = fakeClockLoop();
  const { loop, clock } = t;
  const seen: string[] = [];
  loop.callLater(5, () => {
    seen.push("outer");
    loop.callLater(0, () => seen.push("inner"));
    seen.push("outer done");
  });
  await clock.tickAsync(5);
  await clock.tickAsync(1);
  assert.deepEqual(seen, ["outer", "outer done", "inner"]);
});

Deno.test("IOLoop runs queued callbacks before a timeout that fell due meanwhile", async () => {
  // Scheduled from a setImmediate task, with the thread then kept busy past
  // the deadline (as on a loaded machine): Deno's next turn finds the timer
  // due and runs timers before immediates.
  await new Promise((resolve) => setImmediate(resolve));
  const loop = new IOLoop({ makeCurrent: false });
  const order: string[] = [];
  loop.callLater(1, () => {
    order.push("timeout");
    loop.stop();
  });
  loop.addCallback(() => order.push("callback"));
  const end = performance.now() + 5;
  while (performance.now() < end) { /* busy */ }
  await loop.start();
  assert.deepEqual(order, ["callback", "timeout"]);
  loop.close();
});

Deno.test("IOLoop sends callback, timeout and rejected-promise errors to onError and keeps going", async () => {
  const { errors, onError } = collectErrors();
  const loop = new IOLoop({ makeCurrent: false, onError });
  const done = Promise.withResolvers<void>();
  loop.addCallback(function explode() {
    throw new Error("sync");
  });
  loop.addCallback(async function rejectLater() {
    await nextTurn();
    // Armed here, not up front: a turn that took over 1 ms (a loaded
    // machine) would let Deno run the due timer before this immediate.
    loop.callLater(1, function lateBoom() {
      throw new Error("timeout");
    });
    loop.callLater(3, () => done.resolve());
    throw new Error("async");
  });
  await done.promise;
  await nextTurn();
  assert.deepEqual(
    errors.map((e) => [(e.err as Error).message, e.where]),
    [
      ["sync", "callback explode"],
      ["async", "callback rejectLater"],
      ["timeout", "timeout lateBoom"],
    ],
  );
  loop.close();
});

Deno.test("IOLoop does not report a CancelledError from a callback or timeout (Tornado 6)", async () => {
  const { errors, onError } = collectErrors();
  const loop = new IOLoop({ makeCurrent: false, onError });
  const done = Promise.withResolvers<void>();
  loop.addCallback(function throwsCancelled() {
    throw new CancelledError();
  });
  loop.spawnCallback(function returnsCancelled() {
    const f = new Future<void>();
    loop.callLater(1, () => f.cancel());
    return f;
  });
  loop.callLater(1, async function awaitsCancelled() {
    const f = new Future<void>();
    f.cancel();
    await f;
  });
  const cancelled = new Future<void>();
  cancelled.cancel();
  loop.addFuture(cancelled, (f) => f.result()); // result() throws it
  // Anything else still is.
  loop.addCallback(function other() {
    throw new Error("still reported");
  });
  loop.callLater(5, () => done.resolve());
  await done.promise;
  await nextTurn();
  assert.deepEqual(
    errors.map((e) => [(e.err as Error).message, e.where]),
    [["still reported", "callback other"]],
  );
  loop.close();
});

Deno.test("IOLoop's default onError logs the callback's name with console.error", async () => {
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const loop = new IOLoop({ makeCurrent: false });
    const done = Promise.withResolvers<void>();
    loop.addCallback(function namedCallback() {
      throw new Error("boom");
    });
    loop.addCallback(() => done.resolve());
    await done.promise;
    loop.close();
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 1);
  assert.match(String(logged[0]![0]), /namedCallback/);
  assert.equal((logged[0]![1] as Error).message, "boom");
});

Deno.test("IOLoop survives an onError handler that throws", async () => {
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const loop = new IOLoop({
      makeCurrent: false,
      onError: () => {
        throw new Error("handler broke");
      },
    });
    const done = Promise.withResolvers<void>();
    loop.addCallback(() => {
      throw new Error("first");
    });
    loop.addCallback(() => done.resolve());
    await done.promise;
    loop.close();
  } finally {
    console.error = original;
  }
  const messages = logged.map((args) => (args[1] as Error).message);
  assert.deepEqual(messages, ["handler broke", "first"]);
});

Deno.test("reportCallbackError() reaches the current loop's onError, else console.error", () => {
  const { errors, onError } = collectErrors();
  const loop = new IOLoop({ onError });
  reportCallbackError(new Error("x"), "close callback");
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.where, "close callback");
  loop.close(); // also clears current
  assert.equal(IOLoop.current(false), null);
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    reportCallbackError(new Error("y"), "close callback");
  } finally {
    console.error = original;
  }
  assert.equal(errors.length, 1);
  assert.equal(logged.length, 1);
  assert.match(String(logged[0]![0]), /close callback/);
});

Deno.test("IOLoop.start() resolves when a callback calls stop()", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  let ran = false;
  loop.callLater(2, () => {
    ran = true;
    loop.stop();
  });
  await loop.start();
  assert.equal(ran, true);
  // It can start again, and stop from a plain callback.
  loop.addCallback(() => loop.stop());
  await loop.start();
  loop.close();
});

Deno.test("IOLoop.start() makes the loop current and restores the previous one", async () => {
  const outer = new IOLoop();
  const inner = new IOLoop({ makeCurrent: false });
  let seen: IOLoop | null = null;
  inner.addCallback(() => {
    seen = IOLoop.current(false);
    inner.stop();
  });
  await inner.start();
  assert.equal(seen, inner);
  assert.equal(IOLoop.current(false), outer);
  inner.close();
  outer.close();
});

Deno.test("IOLoop.stop() before start() makes start() resolve at once", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  loop.stop();
  await loop.start();
  loop.close();
});

Deno.test("IOLoop.start() rejects while running or once closed", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const running = loop.start();
  await assert.rejects(loop.start(), { message: /already running/ });
  loop.stop();
  await running;
  loop.close();
  await assert.rejects(loop.start(), { message: /closed/ });
});

Deno.test("IOLoop.start() and runSync() reject while another loop is running", async () => {
  const original = new IOLoop();
  const a = new IOLoop({ makeCurrent: false });
  const b = new IOLoop({ makeCurrent: false });
  const running = a.start();
  // Raced with a turn: a start() that is let through would never settle.
  const pendingAfterATurn = nextTurn().then(() => "still pending");
  await assert.rejects(Promise.race([b.start(), pendingAfterATurn]), {
    name: "Error",
    message: /start\(\): another IOLoop is running/,
  });
  let ran = false;
  await assert.rejects(
    Promise.race([b.runSync(() => (ran = true)), pendingAfterATurn]),
    {
      name: "Error",
      message: /runSync\(\): another IOLoop is running/,
    },
  );
  await nextTurn();
  assert.equal(ran, false); // refused before it was scheduled
  assert.equal(IOLoop.current(false), a);
  a.stop();
  await running;
  // The loop current before a.start() is current again, not a stopped one.
  assert.equal(IOLoop.current(false), original);
  // Once a stopped, b may run, and so may a's runSync after b's.
  b.addCallback(() => b.stop());
  await b.start();
  assert.equal(await b.runSync(() => "b"), "b");
  assert.equal(await a.runSync(() => "a"), "a");
  // A closed loop is no longer running: it does not block the others.
  const closing = a.start();
  a.close();
  await closing;
  assert.equal(await b.runSync(() => "after close"), "after close");
  for (const loop of [original, b]) loop.close();
});

Deno.test("IOLoop.runSync() resolves with the function's result", async (t) => {
  const loop = new IOLoop({ makeCurrent: false });
  await t.step("sync value", async () => {
    assert.equal(await loop.runSync(() => 7), 7);
  });
  await t.step("async value", async () => {
    const value = await loop.runSync(async () => {
      await new Promise<void>((resolve) => loop.callLater(1, resolve));
      return "late";
    });
    assert.equal(value, "late");
  });
  await t.step("a thenable", async () => {
    const thenable: PromiseLike<number> = {
      then(ok) {
        return Promise.resolve(ok?.(3));
      },
    } as PromiseLike<number>;
    assert.equal(await loop.runSync(() => thenable), 3);
  });
  loop.close();
});

Deno.test("IOLoop.runSync() rejects with the function's exception", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  await assert.rejects(
    loop.runSync(() => {
      throw new RangeError("sync");
    }),
    RangeError,
  );
  await assert.rejects(
    loop.runSync(() => Promise.reject(new TypeError("async"))),
    TypeError,
  );
  // A thenable whose then() throws, with and without a timeout.
  const badThen = {
    then() {
      throw new SyntaxError("bad then");
    },
  } as unknown as PromiseLike<never>;
  for (const options of [{}, { timeout: 10_000 }]) {
    await assert.rejects(loop.runSync(() => badThen, options), SyntaxError);
  }
  loop.close();
});

Deno.test("IOLoop.runSync() rejects with TimeoutError and cancels a cancellable result", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  let cancelled = false;
  const never = {
    then() {},
    cancel() {
      cancelled = true;
      return true;
    },
  };
  const err = await loop.runSync(() => never as unknown as PromiseLike<void>, {
    timeout: 5,
  }).catch((e) => e);
  assert.ok(err instanceof TimeoutError);
  assert.match(err.message, /5 ms/);
  assert.equal(cancelled, true);
  // The timeout does not outlive a run that finished in time.
  assert.equal(await loop.runSync(() => 1, { timeout: 10_000 }), 1);
  loop.close();
});

Deno.test("IOLoop.runSync() runs the function before its timeout can fire", async () => {
  using t = fakeClockLoop();
  const { loop, clock } = t;
  // The thread stays busy past the deadline before the loop's next turn
  // (clock.tick() fires due host timers at once): a function that finishes
  // synchronously, or returns a settled promise, still wins.
  const sync = loop.runSync(() => "sync value", { timeout: 5 });
  clock.tick(30);
  assert.equal(await sync, "sync value");
  const settled = loop.runSync(() => Promise.resolve("settled"), {
    timeout: 0,
  });
  clock.tick(30);
  assert.equal(await settled, "settled");
  // The deadline still counts from the call: 8 of 10 ms pass before the
  // function starts, and it times out 2 ms after.
  let starts = 0;
  let outcome = "pending";
  const late = loop.runSync(() => {
    starts++;
    return new Promise<never>(() => {});
  }, { timeout: 10 });
  late.then(() => outcome = "resolved", () => outcome = "rejected");
  clock.tick(8);
  assert.equal(starts, 0);
  await nextTurn();
  assert.equal(starts, 1);
  await clock.tickAsync(1);
  assert.equal(outcome, "pending");
  await clock.tickAsync(1);
  await assert.rejects(late, TimeoutError);
  assert.equal(starts, 1);
});

Deno.test("IOLoop.runSync() of a synchronous function never times out on a busy thread", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const done = loop.runSync(() => "value", { timeout: 1 });
  const end = performance.now() + 30;
  while (performance.now() < end) {
    // Busy: the 1 ms deadline passes before the loop's next turn.
  }
  assert.equal(await done, "value");
  loop.close();
});

Deno.test("IOLoop.runSync() rejects re-entry and a running loop with an Error", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const inner = await loop.runSync(() => loop.runSync(() => 1).catch((e) => e));
  assert.ok(inner instanceof Error);
  assert.match(inner.message, /re-entrantly/);
  const running = loop.start();
  await assert.rejects(loop.runSync(() => 1), { message: /running/ });
  loop.stop();
  await running;
  loop.close();
});

Deno.test("IOLoop.runSync() rejects when the loop is stopped before the function finishes", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  await assert.rejects(
    loop.runSync(() => {
      loop.stop();
      return new Promise(() => {});
    }),
    { message: /stopped/ },
  );
  loop.close();
});

Deno.test("IOLoop.runSync() rejects bad arguments", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  await assert.rejects(loop.runSync(() => 1, { timeout: -1 }), RangeError);
  await assert.rejects(loop.runSync(() => 1, { timeout: NaN }), RangeError);
  await assert.rejects(
    loop.runSync(() => 1, { timeout: "1" as unknown as number }),
    TypeError,
  );
  await assert.rejects(loop.runSync(42 as unknown as () => number), TypeError);
  // The loop is still usable afterwards.
  assert.equal(await loop.runSync(() => 2), 2);
  loop.close();
});

Deno.test("IOLoop.close() cancels pending callbacks and timeouts and leaves nothing behind", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  let ran = 0;
  loop.addCallback(() => ran++);
  loop.callLater(1, () => ran++);
  loop.callLater(100_000, () => ran++);
  loop.close();
  loop.close(); // idempotent
  await nextTurn();
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(ran, 0);
  // Afterwards: callbacks are dropped, timeouts refused.
  loop.addCallback(() => ran++);
  assert.throws(() => loop.callLater(1, () => {}), { message: /closed/ });
  await nextTurn();
  assert.equal(ran, 0);
});

Deno.test("IOLoop.close() inside a callback batch stops the rest of it", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const seen: string[] = [];
  loop.addCallback(() => {
    seen.push("a");
    loop.close();
  });
  loop.addCallback(() => seen.push("b"));
  await nextTurn();
  await nextTurn();
  assert.deepEqual(seen, ["a"]);
});

Deno.test("IOLoop.close() resolves a pending start()", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const started = loop.start();
  loop.addCallback(() => loop.close());
  await started;
});

Deno.test("IOLoop.current() creates, returns and clears the current loop", () => {
  IOLoop.clearCurrent();
  assert.equal(IOLoop.current(false), null);
  const created = IOLoop.current();
  assert.ok(created instanceof IOLoop);
  assert.equal(IOLoop.current(), created);
  assert.equal(IOLoop.instance(), created);
  const other = new IOLoop({ makeCurrent: false });
  assert.equal(IOLoop.current(), created);
  other.makeCurrent();
  assert.equal(IOLoop.current(), other);
  created.install();
  assert.equal(IOLoop.current(), created);
  const fresh = new IOLoop();
  assert.equal(IOLoop.current(), fresh);
  IOLoop.clearCurrent();
  assert.equal(IOLoop.current(false), null);
  for (const loop of [created, other, fresh]) loop.close();
});

Deno.test("IOLoop.current() never returns a closed loop", async () => {
  const outer = new IOLoop();
  const inner = new IOLoop({ makeCurrent: false });
  const running = inner.start();
  outer.close(); // closed while inner is current
  inner.stop();
  await running;
  // inner.stop() does not bring the closed loop back: there is none, and
  // current() creates one, as when no loop is current.
  assert.equal(IOLoop.current(false), null);
  const fresh = IOLoop.current();
  assert.notEqual(fresh, outer);
  fresh.removeTimeout(fresh.callLater(1, () => {}));
  // Installing a closed loop throws and leaves the current one current.
  assert.throws(() => outer.install(), /closed IOLoop/);
  assert.throws(() => outer.makeCurrent(), /closed IOLoop/);
  assert.equal(IOLoop.current(false), fresh);
  inner.close();
  fresh.close();
});

Deno.test("IOLoop.configure() makes current() and new IOLoop() yield the subclass", async () => {
  class MyLoop extends IOLoop {}
  const { errors, onError } = collectErrors();
  IOLoop.clearCurrent();
  IOLoop.configure(MyLoop, { onError });
  try {
    const direct = new IOLoop({ makeCurrent: false });
    assert.ok(direct instanceof MyLoop);
    const current = IOLoop.current();
    assert.ok(current instanceof MyLoop);
    // The configured options apply.
    await current.runSync(() => {
      current.addCallback(() => {
        throw new Error("configured");
      });
      return nextTurn();
    });
    assert.equal(errors.length, 1);
    direct.close();
    current.close();
  } finally {
    IOLoop.configure(IOLoop);
  }
  const plain = new IOLoop({ makeCurrent: false });
  assert.equal(Object.getPrototypeOf(plain), IOLoop.prototype);
  plain.close();
  assert.throws(
    () => IOLoop.configure(Map as unknown as typeof IOLoop),
    TypeError,
  );
});

Deno.test("IOLoop.time() is monotonic milliseconds and injectable", () => {
  const loop = new IOLoop({ makeCurrent: false });
  const a = loop.time();
  const b = loop.time();
  assert.ok(b >= a);
  assert.ok(Math.abs(a - performance.now()) < 1000);
  loop.close();
  let now = 1_000;
  const fake = new IOLoop({ makeCurrent: false, time: () => now });
  assert.equal(fake.time(), 1_000);
  now = 2_500;
  assert.equal(fake.time(), 2_500);
  assert.equal(fake.callLater(10, () => {}).deadline, 2_510);
  fake.close();
});

Deno.test("IOLoop rejects bad arguments with TypeError or RangeError", () => {
  const loop = new IOLoop({ makeCurrent: false });
  const notFn = 5 as unknown as () => void;
  assert.throws(() => loop.addCallback(notFn), TypeError);
  assert.throws(() => loop.spawnCallback(notFn), TypeError);
  assert.throws(() => loop.callLater(1, notFn), TypeError);
  assert.throws(() => loop.callLater(NaN, () => {}), RangeError);
  assert.throws(() => loop.addTimeout(NaN, () => {}), RangeError);
  assert.throws(
    () => loop.callAt("1" as unknown as number, () => {}),
    TypeError,
  );
  assert.throws(
    () => new IOLoop({ time: 1 as unknown as () => number }),
    TypeError,
  );
  assert.throws(
    () => new IOLoop({ onError: 1 as unknown as () => void }),
    TypeError,
  );
  loop.close();
});

Deno.test("IOLoop exposes READ, WRITE and ERROR as Tornado's values", () => {
  assert.equal(IOLoop.READ, 0x001);
  assert.equal(IOLoop.WRITE, 0x004);
  assert.equal(IOLoop.ERROR, 0x008);
});

Deno.test("IOLoop.addFuture() calls back on the loop with a done Future", async (t) => {
  const { errors, onError } = collectErrors();
  const loop = new IOLoop({ makeCurrent: false, onError });
  await t.step("a resolved promise", async () => {
    // Boxed: resolving with a Future (a thenable) would adopt its value.
    const { f } = await new Promise<{ f: Future<string> }>((resolve) => {
      loop.addFuture(Promise.resolve("value"), (f) => resolve({ f }));
    });
    assert.ok(f instanceof Future);
    assert.equal(f.result(), "value");
  });
  await t.step(
    "a rejected promise, without an unhandled rejection",
    async () => {
      const { f } = await new Promise<{ f: Future<never> }>((resolve) => {
        loop.addFuture(
          Promise.reject(new Error("nope")),
          (f) => resolve({ f }),
        );
      });
      assert.equal((f.exception() as Error).message, "nope");
    },
  );
  await t.step("a Future completed later, from a callback batch", async () => {
    const source = new Future<number>();
    const seen: string[] = [];
    const got = new Promise<number>((resolve) => {
      loop.addFuture(source, (f) => {
        seen.push("done callback");
        resolve(f.result());
      });
    });
    loop.addCallback(() => {
      seen.push("set");
      source.setResult(5);
      seen.push("after set");
    });
    assert.equal(await got, 5);
    assert.deepEqual(seen, ["set", "after set", "done callback"]);
  });
  await t.step("errors in the callback go to onError", async () => {
    await new Promise<void>((resolve) => {
      loop.addFuture(Promise.resolve(1), function failing() {
        throw new Error("cb failed");
      });
      loop.addFuture(Promise.resolve(2), () => loop.addCallback(resolve));
    });
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.where, /failing/);
  });
  await t.step("bad arguments", () => {
    assert.throws(
      () => loop.addFuture(42 as unknown as Promise<number>, () => {}),
      TypeError,
    );
    assert.throws(
      () => loop.addFuture(Promise.resolve(), 1 as unknown as () => void),
      TypeError,
    );
  });
  loop.close();
});

Deno.test("IOLoop.runInExecutor() runs on the given or the default executor", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const inline = new DummyExecutor();
  assert.equal(
    await loop.runInExecutor(inline, (a: number, b: number) => a * b, 6, 7),
    42,
  );
  await assert.rejects(
    loop.runInExecutor(inline, () => {
      throw new RangeError("inside");
    }),
    RangeError,
  );
  const used: string[] = [];
  loop.setDefaultExecutor({
    submit(fn, ...args) {
      used.push("custom");
      return inline.submit(fn, ...args);
    },
  });
  assert.equal(
    await loop.runInExecutor(null, () => "via default"),
    "via default",
  );
  assert.deepEqual(used, ["custom"]);
  await assert.rejects(
    loop.runInExecutor({} as unknown as DummyExecutor, () => 1),
    TypeError,
  );
  await assert.rejects(
    loop.runInExecutor(null, 1 as unknown as () => number),
    TypeError,
  );
  assert.throws(
    () => loop.setDefaultExecutor(null as unknown as DummyExecutor),
    TypeError,
  );
  loop.close();
  await assert.rejects(loop.runInExecutor(null, () => 1), /closed/);
});

Deno.test("IOLoop's own default executor is a WorkerExecutor, shut down by close()", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  // Self-contained: it runs in a Web Worker, where `self` is a worker scope.
  const where = await loop.runInExecutor(
    null,
    (n: number) =>
      `${typeof (globalThis as { postMessage?: unknown }).postMessage}:${
        n * 2
      }`,
    21,
  );
  assert.equal(where, "function:42");
  assert.equal(
    typeof (globalThis as { postMessage?: unknown }).postMessage,
    "undefined",
  );
  // The sanitizers check that close() terminated the worker.
  loop.close();
});

Deno.test("IOLoop.runInExecutor()'s promise, ignored, never causes an unhandled rejection", async () => {
  let awaited: Promise<unknown> | undefined;
  const count = await countUnhandledRejections(async () => {
    const loop = new IOLoop({ makeCurrent: false });
    // The task fails.
    loop.runInExecutor(new DummyExecutor(), () => {
      throw new Error("ignored failure");
    });
    // Misuse.
    loop.runInExecutor(null, 1 as unknown as () => number);
    // The loop's own WorkerExecutor is shut down by close() mid-task.
    const started = loop.runInExecutor(null, () => "warm");
    assert.equal(await started, "warm");
    loop.runInExecutor(null, () => new Promise(() => {}));
    awaited = loop.runInExecutor(null, () => new Promise(() => {}));
    loop.close();
    // Closed: refused.
    loop.runInExecutor(null, () => 1);
  });
  assert.equal(count, 0);
  // Whoever awaits still sees the failure.
  await assert.rejects(awaited!, /shut down while the task was running/);
});

Deno.test("IOLoop.runSync() awaits a Future and cancels it on timeout", async () => {
  const loop = new IOLoop({ makeCurrent: false });
  const ready = new Future<string>();
  loop.callLater(1, () => ready.setResult("from a future"));
  assert.equal(await loop.runSync(() => ready), "from a future");
  const never = new Future<string>();
  await assert.rejects(loop.runSync(() => never, { timeout: 2 }), TimeoutError);
  assert.equal(never.cancelled(), true);
  loop.close();
});

Deno.test("IOLoop.close() inside a timeout callback drops the rest of its round", async () => {
  using t = fakeClockLoop();
  const { loop, clock } = t;
  const seen: string[] = [];
  loop.callLater(5, () => {
    seen.push("first");
    loop.close();
  });
  loop.callLater(5, () => seen.push("second"));
  await clock.tickAsync(10);
  assert.deepEqual(seen, ["first"]);
  assert.equal(clock.countTimers(), 0);
});

Deno.test("IOLoop callbacks do not inherit the async context of whoever armed the loop", async () => {
  const store = new AsyncLocalStorage<string>();
  const loop = new IOLoop({ makeCurrent: false });
  const seen: Array<string | undefined> = [];
  const done = Promise.withResolvers<void>();
  // The first timeout and the first callback arm the loop's host timer and
  // callback batch from inside a context; the later ones come from outside.
  store.run("armed inside", () => {
    loop.callLater(20, () => {});
    loop.addCallback(() => {});
  });
  loop.callLater(5, () => seen.push(store.getStore()));
  loop.addCallback(() => seen.push(store.getStore()));
  loop.callLater(30, () => done.resolve());
  await done.promise;
  assert.deepEqual(seen, [undefined, undefined]);
  loop.close();
});

Deno.test("IOLoop: a context entered inside a callback or timeout stays with what it schedules", async () => {
  const store = new AsyncLocalStorage<string>();
  const loop = new IOLoop({ makeCurrent: false });
  const seen: string[] = [];
  const done = Promise.withResolvers<void>();
  const note = (what: string) => seen.push(`${what}: ${store.getStore()}`);
  // A callback and a timeout each schedule work from inside a context of
  // their own (as a bound callback does); the loop's next batch and timer
  // round are armed meanwhile, and must not carry that context to others.
  loop.addCallback(() => {
    store.run("req-A", () => {
      loop.addCallback(() => note("A's callback"));
      loop.callLater(1, () => note("A's timeout"));
    });
    loop.addCallback(() => note("plain callback"));
    loop.callLater(2, () => {
      note("plain timeout");
      store.run("req-B", () => loop.callLater(1, () => note("B's timeout")));
      loop.addCallback(() => note("plain callback 2"));
      loop.callLater(5, () => {
        note("plain timeout 2");
        done.resolve();
      });
    });
  });
  await done.promise;
  assert.deepEqual(seen.sort(), [
    "A's callback: undefined",
    "A's timeout: undefined",
    "B's timeout: undefined",
    "plain callback 2: undefined",
    "plain callback: undefined",
    "plain timeout 2: undefined",
    "plain timeout: undefined",
  ]);
  loop.close();
});

Deno.test("IOLoop: a timeout round runs the callbacks queued before it, and leaves what they add for later", async () => {
  using t = fakeClockLoop();
  const { loop, clock } = t;
  const order: string[] = [];
  loop.callLater(1, () => order.push("T0"));
  loop.addCallback(() => {
    order.push("C1");
    loop.callLater(0, () => order.push("T by C1"));
    loop.addCallback(() => order.push("C2 by C1"));
  });
  // The timer falls due before the callback batch runs (a busy turn).
  clock.tick(1);
  assert.deepEqual(order, ["C1", "T0"]);
  await new Promise((resolve) => setImmediate(resolve)); // the next batch
  assert.deepEqual(order, ["C1", "T0", "C2 by C1"]);
  clock.tick(1); // fake timers make a 0 ms delay armed during a tick 1 ms
  assert.deepEqual(order, ["C1", "T0", "C2 by C1", "T by C1"]);
});

Deno.test("IOLoop runs what it schedules in a neutral context; AsyncLocalStorage.bind() carries the scheduler's", async () => {
  const store = new AsyncLocalStorage<string>();
  const loop = new IOLoop();
  const seen: Record<string, string | undefined> = {};
  const expected = 12;
  const done = Promise.withResolvers<void>();
  const mark = (key: string) => () => {
    seen[key] = store.getStore();
    if (Object.keys(seen).length === expected) done.resolve();
  };
  store.run("scheduler", () => {
    for (
      const [suffix, wrap] of [
        ["", (fn: () => void) => fn],
        [" bound", (fn: () => void) => AsyncLocalStorage.bind(fn)],
      ] as const
    ) {
      loop.addCallback(wrap(mark(`addCallback${suffix}`)));
      loop.spawnCallback(wrap(mark(`spawnCallback${suffix}`)));
      loop.callLater(1, wrap(mark(`callLater${suffix}`)));
      loop.callAt(loop.time() + 1, wrap(mark(`callAt${suffix}`)));
      loop.addTimeout(loop.time() + 1, wrap(mark(`addTimeout${suffix}`)));
      const tick = mark(`PeriodicCallback${suffix}`);
      const pc = new PeriodicCallback(
        wrap(() => {
          pc.stop();
          tick();
        }),
        1,
      );
      pc.start();
    }
  });
  await done.promise;
  for (const [key, value] of Object.entries(seen)) {
    assert.equal(value, key.endsWith(" bound") ? "scheduler" : undefined, key);
  }
  loop.close();
});
