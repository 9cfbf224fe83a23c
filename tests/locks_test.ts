import assert from "node:assert/strict";
import {
  BoundedSemaphore,
  Condition,
  Event,
  Lock,
  type Releaser,
  Semaphore,
  type WaitOptions,
} from "@squall/io/locks";
import { TimeoutError } from "@squall/io/concurrent";
import {
  countingSignal,
  flush,
  isPending,
  outcome,
  withFakeTime,
} from "./_wait_helpers.ts";
import { countUnhandledRejections } from "./_capture.ts";
import { assertWaitReadsOptionsOnce } from "./_fickle_options.ts";

/** Something with `acquire()`, for tests shared by Lock and Semaphore. */
type Acquirable = {
  acquire(o?: { timeout?: number; signal?: AbortSignal }): Promise<Releaser>;
  readonly waiters: number;
};

const acquirables: Array<[string, () => Acquirable]> = [
  ["Lock", () => new Lock()],
  ["Semaphore", () => new Semaphore(1)],
  ["BoundedSemaphore", () => new BoundedSemaphore(1)],
];

for (const [name, make] of acquirables) {
  Deno.test(`${name}: waiters are served strictly first-come first-served`, async () => {
    const lock = make();
    const first = await lock.acquire();
    const order: number[] = [];
    const tasks = Array.from({ length: 20 }, async (_, i) => {
      using _held = await lock.acquire();
      order.push(i);
      await null; // yield while holding
    });
    assert.equal(lock.waiters, 20);
    first.release();
    await Promise.all(tasks);
    assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
    assert.equal(lock.waiters, 0);
  });

  Deno.test(`${name}: a releaser releases once, through using or directly`, async () => {
    const lock = make();
    const a = await lock.acquire();
    const bWait = lock.acquire();
    a.release();
    const b = await bWait;
    // a's second release must not free b's hold.
    a.release();
    a[Symbol.dispose]();
    await assert.rejects(lock.acquire({ timeout: 0 }), TimeoutError);
    {
      using _b = b;
    }
    {
      await using _c = await lock.acquire({ timeout: 0 });
      await assert.rejects(lock.acquire({ timeout: 0 }), TimeoutError);
    }
    (await lock.acquire({ timeout: 0 })).release();
  });

  Deno.test(`${name}: acquire() with timeout 0 settles at once and never waits`, async () => {
    await withFakeTime(async (clock) => {
      const lock = make();
      const held = await lock.acquire({ timeout: 0 });
      const late = lock.acquire({ timeout: 0 });
      assert.equal(clock.countTimers(), 0);
      assert.equal(lock.waiters, 0);
      await assert.rejects(late, TimeoutError);
      await assert.rejects(lock.acquire({ timeout: -5 }), TimeoutError);
      held.release();
    });
  });

  Deno.test(`${name}: a timed-out waiter is removed and never gets the lock`, async () => {
    await withFakeTime(async (clock) => {
      const lock = make();
      const held = await lock.acquire();
      const { signal, listeners } = countingSignal();
      const a = lock.acquire();
      const b = lock.acquire({ timeout: 50, signal });
      const c = lock.acquire({ timeout: 100 });
      assert.equal(lock.waiters, 3);
      clock.tick(49);
      assert.equal(await isPending(b), true);
      clock.tick(1);
      const failed = await outcome(b);
      assert.ok(!failed.ok && failed.error instanceof TimeoutError);
      assert.match((failed.error as Error).message, /timed out after 50 ms/);
      assert.equal(listeners(), 0);
      assert.equal(lock.waiters, 2);
      held.release();
      (await a).release();
      const got = await c;
      assert.equal(clock.countTimers(), 0, "the grant cleared c's timer");
      got.release();
      assert.equal(lock.waiters, 0);
    });
  });

  Deno.test(`${name}: timeouts beyond 2^31-1 ms do not fire early`, async () => {
    await withFakeTime(async (clock) => {
      const lock = make();
      const held = await lock.acquire();
      const wait = lock.acquire({ timeout: 2 ** 31 + 1000 });
      clock.tick(2 ** 31 - 1);
      assert.equal(await isPending(wait), true);
      clock.tick(1000);
      assert.equal(await isPending(wait), true);
      clock.tick(1);
      await assert.rejects(wait, TimeoutError);
      assert.equal(clock.countTimers(), 0);
      held.release();
    });
  });

  Deno.test(`${name}: aborting a waiter in the middle of three removes only it`, async () => {
    const lock = make();
    const held = await lock.acquire();
    const { controller, signal, listeners } = countingSignal();
    const got: string[] = [];
    const a = lock.acquire().then((r) => (got.push("a"), r));
    const b = lock.acquire({ signal });
    const c = lock.acquire({ signal: new AbortController().signal }).then(
      (r) => (got.push("c"), r),
    );
    const reason = new Error("stop b");
    controller.abort(reason);
    assert.equal(lock.waiters, 2);
    const failed = await outcome(b);
    assert.ok(!failed.ok);
    assert.equal(failed.error, reason, "rejects with signal.reason exactly");
    assert.equal(listeners(), 0);
    held.release();
    (await a).release();
    (await c).release();
    assert.deepEqual(got, ["a", "c"]);
  });

  Deno.test(`${name}: an already aborted signal rejects before acquiring`, async () => {
    const lock = make();
    const reason = { custom: "reason" };
    const p = lock.acquire({ signal: AbortSignal.abort(reason) });
    const result = await outcome(p);
    assert.ok(!result.ok);
    assert.equal(result.error, reason);
    // Not taken: a plain acquire succeeds at once.
    (await lock.acquire({ timeout: 0 })).release();
  });

  Deno.test(`${name}: release and abort of the next waiter in one turn passes to the one after`, async () => {
    const lock = make();
    const held = await lock.acquire();
    const second = countingSignal();
    const third = countingSignal();
    const got: string[] = [];
    const w2 = lock.acquire({ signal: second.signal });
    const w3 = lock.acquire({ signal: third.signal }).then(
      (r) => (got.push("w3"), r),
    );
    const w4 = lock.acquire().then((r) => (got.push("w4"), r));
    const reason = new Error("w2 gave up");
    held.release(); // handed to w2, not yet delivered ...
    second.controller.abort(reason); // ... so w2 can still give it back
    assert.equal(second.listeners(), 0);
    const r2 = await outcome(w2);
    assert.ok(!r2.ok && r2.error === reason, "rejects with the exact reason");
    const r3 = await w3;
    assert.deepEqual(got, ["w3"], "w3 holds it, w4 still waits");
    assert.equal(third.listeners(), 0, "delivery dropped w3's listener");
    assert.equal(lock.waiters, 1);
    await assert.rejects(lock.acquire({ timeout: 0 }), TimeoutError);
    r3.release(); // no over-release: the hand-back did not add a permit
    (await w4).release();
    assert.deepEqual(got, ["w3", "w4"]);
    (await lock.acquire({ timeout: 0 })).release();
  });

  Deno.test(`${name}: an abort after delivery leaves the grant with the waiter`, async () => {
    const lock = make();
    const held = await lock.acquire();
    const { controller, signal, listeners } = countingSignal();
    const next = lock.acquire({ signal });
    const after = lock.acquire({ signal: new AbortController().signal });
    held.release();
    const r = await next; // delivered
    assert.equal(listeners(), 0);
    controller.abort(new Error("too late"));
    await null;
    assert.equal(await isPending(after), true, "nothing was handed back");
    await assert.rejects(lock.acquire({ timeout: 0 }), TimeoutError);
    r.release();
    (await after).release();
  });

  Deno.test(`${name}: a timer firing between grant and delivery hands the grant on`, async () => {
    // Real timers cannot fire inside that window; a synchronous fake
    // clock.tick() can, and counts as giving up.
    await withFakeTime(async (clock) => {
      const lock = make();
      const held = await lock.acquire();
      const next = lock.acquire({
        timeout: 50,
        signal: new AbortController().signal,
      });
      const after = lock.acquire({ timeout: 100 });
      clock.tick(49);
      held.release();
      clock.tick(1);
      await assert.rejects(next, /timed out after 50 ms/);
      const r = await after;
      assert.equal(clock.countTimers(), 0);
      assert.equal(lock.waiters, 0);
      r.release();
    });
  });

  Deno.test(`${name}: abort of the next waiter and release in one turn passes to the one after`, async () => {
    const lock = make();
    const held = await lock.acquire();
    const controller = new AbortController();
    const next = lock.acquire({ signal: controller.signal });
    const after = lock.acquire();
    controller.abort(new Error("gave up"));
    held.release();
    await assert.rejects(next, /gave up/);
    const r = await outcome(after);
    assert.ok(r.ok);
    assert.equal(lock.waiters, 0);
    r.value.release();
  });

  Deno.test(`${name}: bad wait options reject with a clear error and take nothing`, async () => {
    const lock = make();
    const bad = [
      [{ timeout: "10" }, TypeError, /timeout/],
      [{ timeout: NaN }, RangeError, /NaN/],
      [{ signal: {} }, TypeError, /AbortSignal/],
      [null, TypeError, /options must be an object/],
      [5, TypeError, /options must be an object/],
    ] as const;
    for (const [options, Cls, message] of bad) {
      // deno-lint-ignore no-explicit-any
      const p = lock.acquire(options as any);
      await assert.rejects(
        p,
        (err) => err instanceof Cls && message.test(String(err)),
      );
    }
    (await lock.acquire({ timeout: 0 })).release();
  });
}

Deno.test("Lock.release() on an unlocked lock throws an Error", async () => {
  const lock = new Lock();
  assert.throws(
    () => lock.release(),
    (err: Error) =>
      err.constructor === Error && /release unlocked lock/.test(err.message),
  );
  const r = await lock.acquire();
  lock.release();
  assert.equal(lock.locked, false);
  assert.throws(() => lock.release(), /release unlocked lock/);
  r.release(); // the hold already ended: a no-op, not a throw
  assert.equal(lock.locked, false);
});

Deno.test("Lock: a stale releaser never releases a later holder's hold", async () => {
  const lock = new Lock();
  const stale = await lock.acquire();
  lock.release();
  const current = await lock.acquire();
  stale.release();
  assert.equal(lock.locked, true);
  current.release();
  assert.equal(lock.locked, false);
});

Deno.test("Lock: release hands off directly even when unheld acquire races", async () => {
  const lock = new Lock();
  const held = await lock.acquire();
  const waiting = lock.acquire();
  held.release();
  // The lock went to the waiter; a newcomer must queue behind it.
  assert.equal(lock.locked, true);
  const newcomer = lock.acquire();
  assert.equal(lock.waiters, 1);
  (await waiting).release();
  (await newcomer).release();
  assert.equal(lock.locked, false);
});

Deno.test("Semaphore: rejects bad initial values", () => {
  assert.throws(() => new Semaphore(-1), RangeError);
  assert.throws(() => new Semaphore(1.5), RangeError);
  assert.throws(() => new Semaphore(NaN), RangeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new Semaphore("2" as any), TypeError);
  assert.throws(() => new BoundedSemaphore(-1), RangeError);
  assert.equal(new Semaphore().value, 1);
  assert.equal(new Semaphore(0).value, 0);
});

Deno.test("Semaphore: counts permits and hands released ones to waiters", async () => {
  const sem = new Semaphore(2);
  const a = await sem.acquire();
  const b = await sem.acquire();
  assert.equal(sem.value, 0);
  const c = sem.acquire();
  a.release();
  assert.equal(sem.value, 0, "the permit went straight to the waiter");
  assert.equal(sem.waiters, 0);
  (await c).release();
  b.release();
  assert.equal(sem.value, 2);
  sem.release(); // an unbounded semaphore may grow
  assert.equal(sem.value, 3);
});

Deno.test("BoundedSemaphore: releasing above the initial value throws RangeError", async () => {
  const sem = new BoundedSemaphore(2);
  assert.throws(() => sem.release(), RangeError);
  const a = await sem.acquire();
  a.release();
  a.release(); // idempotent through the releaser
  assert.equal(sem.value, 2);
  assert.throws(() => sem.release(), /released too many times/);
  assert.equal(sem.value, 2);
  const b = await sem.acquire();
  sem.release();
  assert.throws(() => b.release(), RangeError);
  assert.equal(sem.value, 2);
});

Deno.test("Event: wait resolves true once set, for every waiter", async () => {
  const event = new Event();
  assert.equal(event.isSet(), false);
  const waits = [event.wait(), event.wait({ timeout: 1000 }), event.wait()];
  assert.equal(event.waiters, 3);
  event.set();
  assert.equal(event.waiters, 0);
  assert.deepEqual(await Promise.all(waits), [true, true, true]);
  assert.equal(await event.wait(), true);
  event.set(); // idempotent
  event.clear();
  assert.equal(event.isSet(), false);
  assert.equal(await isPending(event.wait({ timeout: 100_000 })), true);
  event.set();
});

Deno.test("Event: wait resolves false on timeout, at once for timeout 0", async () => {
  await withFakeTime(async (clock) => {
    const event = new Event();
    const immediate = event.wait({ timeout: 0 });
    assert.equal(clock.countTimers(), 0);
    assert.equal(event.waiters, 0);
    assert.equal(await immediate, false);
    const w = event.wait({ timeout: 20 });
    clock.tick(20);
    assert.equal(await w, false);
    assert.equal(event.waiters, 0);
    event.set();
    assert.equal(await event.wait({ timeout: 0 }), true);
  });
});

Deno.test("Lock: a bare release() inside the delivery window is not undone by a later abort", async () => {
  const lock = new Lock();
  const held = await lock.acquire();
  const ctl2 = new AbortController();
  const w2 = lock.acquire({ signal: ctl2.signal });
  const w3 = lock.acquire({ signal: new AbortController().signal });
  const w4 = lock.acquire();
  held.release(); // to w2 ...
  lock.release(); // ... whose hold ends before delivery: to w3
  ctl2.abort("w2 gave up"); // w2's hold is over: nothing to hand back
  await assert.rejects(w2, (e) => e === "w2 gave up");
  const r3 = await w3;
  assert.equal(await isPending(w4), true, "w3 holds the lock alone");
  r3.release();
  (await w4).release();
  assert.equal(lock.locked, false);
});

Deno.test("Semaphore: two releases and an abort in one turn wake the next two live waiters", async () => {
  const sem = new BoundedSemaphore(2);
  const [p1, p2] = [await sem.acquire(), await sem.acquire()];
  const ctl = new AbortController();
  const w1 = sem.acquire({ signal: ctl.signal });
  const w2 = sem.acquire({ signal: new AbortController().signal });
  const w3 = sem.acquire();
  const w4 = sem.acquire({ timeout: 1000 });
  p1.release();
  p2.release();
  ctl.abort("w1 gave up");
  await assert.rejects(w1, (e) => e === "w1 gave up");
  const [r2, r3] = await Promise.all([w2, w3]);
  assert.equal(sem.value, 0);
  assert.equal(await isPending(w4), true);
  r2.release();
  (await w4).release();
  r3.release();
  assert.equal(sem.value, 2);
  assert.throws(() => sem.release(), RangeError);
});

Deno.test("BoundedSemaphore: a hand-back never lifts the value above the bound", async () => {
  const sem = new BoundedSemaphore(1);
  const held = await sem.acquire();
  const ctl = new AbortController();
  const w = sem.acquire({ signal: ctl.signal });
  held.release(); // the permit goes to w ...
  sem.release(); // ... so this extra bare release is not caught yet
  ctl.abort(); // w gives its permit back: already at the bound
  await assert.rejects(w, { name: "AbortError" });
  assert.equal(sem.value, 1);
  assert.throws(() => sem.release(), RangeError);
});

Deno.test("Event: aborting one of three waiters rejects only it", async () => {
  const event = new Event();
  const { controller, signal, listeners } = countingSignal();
  const a = event.wait();
  const b = event.wait({ signal });
  const c = event.wait({ timeout: 1000 });
  const reason = new DOMException("nope", "AbortError");
  controller.abort(reason);
  assert.equal(event.waiters, 2);
  assert.equal(listeners(), 0);
  const rb = await outcome(b);
  assert.ok(!rb.ok && rb.error === reason);
  event.set();
  assert.deepEqual(await Promise.all([a, c]), [true, true]);
});

Deno.test("Event: an abort in the same turn as set() rejects; after delivery it changes nothing", async () => {
  const event = new Event();
  const ctl = new AbortController();
  const { controller, signal, listeners } = countingSignal();
  const a = event.wait();
  const b = event.wait({ signal: ctl.signal });
  const c = event.wait({ signal });
  event.set();
  const reason = new Error("b stopped listening");
  ctl.abort(reason);
  await assert.rejects(b, (e) => e === reason);
  assert.deepEqual(await Promise.all([a, c]), [true, true]);
  assert.equal(event.isSet(), true, "the event stays set");
  assert.equal(listeners(), 0, "delivery dropped c's listener");
  controller.abort(); // after delivery: nothing happens
  assert.equal(await c, true);
  assert.equal(event.waiters, 0);
});

Deno.test("Condition: notify wakes waiters in FIFO order, n at a time", async () => {
  const cond = new Condition();
  const woken: number[] = [];
  const waits = [0, 1, 2, 3, 4].map((i) =>
    cond.wait().then((v) => (woken.push(i), v))
  );
  cond.notify();
  await flush();
  assert.deepEqual(woken, [0]);
  cond.notify(2);
  await flush();
  assert.deepEqual(woken, [0, 1, 2]);
  cond.notify(0);
  await flush();
  assert.deepEqual(woken, [0, 1, 2]);
  cond.notifyAll();
  assert.deepEqual(await Promise.all(waits), [true, true, true, true, true]);
  assert.deepEqual(woken, [0, 1, 2, 3, 4]);
  cond.notify(); // nobody waiting: nothing happens, nothing is stored
  assert.equal(await cond.wait({ timeout: 0 }), false);
  assert.throws(() => cond.notify(-1), RangeError);
  assert.throws(() => cond.notify(1.5), RangeError);
  assert.throws(() => cond.notify(NaN), RangeError);
  for (const bad of ["2", null, 2n, true]) {
    // deno-lint-ignore no-explicit-any
    assert.throws(() => cond.notify(bad as any), TypeError);
  }
  cond.notify(Infinity);
});

Deno.test("waiters with and without a signal or timeout resume in FIFO order", async (t) => {
  const controller = new AbortController();
  // Every kind of waiter, a signal first: a grant to a waiter that can
  // still give up is delivered a microtask later, and the plain waiters
  // granted after it in the same turn must not overtake it.
  const kinds = [
    { signal: controller.signal },
    {},
    { timeout: 10_000 },
    { signal: controller.signal, timeout: 10_000 },
    {},
  ];
  const cases: Array<[string, () => Array<Promise<unknown>>]> = [
    ["Condition.notify(n)", () => {
      const cond = new Condition();
      const waits = kinds.map((o) => cond.wait(o));
      cond.notify(kinds.length);
      return waits;
    }],
    ["Condition.notifyAll()", () => {
      const cond = new Condition();
      const waits = kinds.map((o) => cond.wait(o));
      cond.notifyAll();
      return waits;
    }],
    ["Event.set()", () => {
      const event = new Event();
      const waits = kinds.map((o) => event.wait(o));
      event.set();
      return waits;
    }],
    ["Semaphore.release() in one turn", () => {
      const sem = new Semaphore(0);
      const waits = kinds.map((o) => sem.acquire(o));
      for (const _ of kinds) sem.release();
      return waits;
    }],
  ];
  for (const [name, start] of cases) {
    await t.step(name, async () => {
      const woken: number[] = [];
      const waits = start().map((p, i) => p.then(() => woken.push(i)));
      await Promise.all(waits);
      assert.deepEqual(woken, [0, 1, 2, 3, 4]);
    });
  }
});

Deno.test("waits sharing one signal add one abort listener to it, and none once they settle", async () => {
  const { controller, signal, listeners, added, peak } = countingSignal();
  const lock = new Lock();
  const held = await lock.acquire();
  const semaphore = new Semaphore(0);
  const event = new Event();
  const condition = new Condition();
  const waits: Array<Promise<unknown>> = [];
  for (let i = 0; i < 50; i++) {
    waits.push(lock.acquire({ signal }).then((r) => r.release()));
    waits.push(semaphore.acquire({ signal }));
    waits.push(event.wait({ signal }));
    waits.push(condition.wait({ signal }));
  }
  assert.equal(listeners(), 1);
  assert.equal(added(), 1, "200 waits, one listener");
  held.release();
  for (let i = 0; i < 50; i++) semaphore.release();
  event.set();
  condition.notifyAll();
  await Promise.all(waits);
  assert.equal(listeners(), 0, "the last wait to settle removed it");
  // Followed again: one listener again, and an abort rejects every wait
  // with the reason, in the order the waits began.
  const held2 = await lock.acquire();
  const event2 = new Event();
  const reason = new Error("shutting down");
  const order: string[] = [];
  const started: Array<[string, Promise<unknown>]> = [
    ["lock", lock.acquire({ signal })],
    ["condition", condition.wait({ signal, timeout: 10_000 })],
    ["semaphore", semaphore.acquire({ signal })],
    ["event", event2.wait({ signal })],
    ["lock again", lock.acquire({ signal, timeout: 10_000 })],
  ];
  assert.equal(listeners(), 1);
  controller.abort(reason);
  assert.equal(listeners(), 0);
  await Promise.all(started.map(([name, p]) =>
    p.then(
      () => assert.fail(`${name} was not aborted`),
      (err) => {
        assert.equal(err, reason);
        order.push(name);
      },
    )
  ));
  assert.deepEqual(order, started.map(([name]) => name));
  assert.equal(lock.waiters + condition.waiters + semaphore.waiters, 0);
  assert.equal(peak(), 1, "never more than one listener");
  assert.equal(added(), 2);
  held2.release();
});

Deno.test("Lock: one abort that gives up several waiters in the window passes the lock past all of them", async () => {
  const lock = new Lock();
  const held = await lock.acquire();
  const shutdown = new AbortController();
  const { signal } = shutdown;
  const a = lock.acquire({ signal });
  const b = lock.acquire({ signal });
  const c = lock.acquire();
  held.release(); // handed to a, not yet delivered
  shutdown.abort(new Error("shutdown"));
  await assert.rejects(a, /shutdown/);
  await assert.rejects(b, /shutdown/);
  (await c).release();
  assert.equal(lock.locked, false);
});

Deno.test("Condition: timed-out and aborted waiters never consume a notification", async () => {
  await withFakeTime(async (clock) => {
    const cond = new Condition();
    const ctl = new AbortController();
    const a = cond.wait({ timeout: 10 });
    const b = cond.wait({ signal: ctl.signal });
    const c = cond.wait({ timeout: 100 });
    const d = cond.wait();
    clock.tick(10);
    assert.equal(await a, false);
    ctl.abort("b gave up");
    await assert.rejects(b, (e) => e === "b gave up");
    assert.equal(cond.waiters, 2);
    cond.notify(1);
    assert.equal(await c, true);
    assert.equal(clock.countTimers(), 0);
    assert.equal(await isPending(d), true);
    cond.notify(1);
    assert.equal(await d, true);
  });
});

Deno.test("Condition: notify(1) and an abort of the woken waiter in one turn wake the next", async () => {
  const cond = new Condition();
  const first = countingSignal();
  const woken: string[] = [];
  const a = cond.wait({ signal: first.signal });
  const b = cond.wait({ signal: new AbortController().signal }).then(
    (v) => (woken.push("b"), v),
  );
  const c = cond.wait().then((v) => (woken.push("c"), v));
  cond.notify(1);
  const reason = new Error("a gave up");
  first.controller.abort(reason);
  await assert.rejects(a, (e) => e === reason);
  assert.equal(await b, true);
  assert.deepEqual(woken, ["b"], "exactly one live waiter woke");
  assert.equal(first.listeners(), 0);
  assert.equal(cond.waiters, 1);
  // notifyAll serves everyone present: an abort passes nothing on.
  const ctl = new AbortController();
  const d = cond.wait({ signal: ctl.signal });
  cond.notifyAll(); // c and d
  const e = cond.wait();
  ctl.abort("d gave up");
  await assert.rejects(d, (x) => x === "d gave up");
  assert.equal(await c, true);
  assert.equal(await isPending(e), true);
  cond.notify();
  assert.equal(await e, true);
});

Deno.test("Condition: a notification given back never wakes a waiter that came after the notify", async () => {
  await withFakeTime(async (clock) => {
    const cond = new Condition();
    const ctl = new AbortController();
    const a = cond.wait({ signal: ctl.signal });
    cond.notify(1); // only a is waiting
    const late = cond.wait({ timeout: 50 }); // came after the notify
    ctl.abort("a gave up"); // a gives the notification back: it lapses
    await assert.rejects(a, (e) => e === "a gave up");
    assert.equal(await isPending(late), true);
    clock.tick(50);
    assert.equal(await late, false, "timed out: it was never notified");
    // One already waiting at the notify gets it; one that came later not.
    const ctl2 = new AbortController();
    const b = cond.wait({ signal: ctl2.signal });
    const c = cond.wait({ timeout: 50 });
    cond.notify(1);
    const d = cond.wait({ timeout: 50 });
    ctl2.abort("b gave up");
    await assert.rejects(b, (e) => e === "b gave up");
    assert.equal(await c, true);
    assert.equal(await isPending(d), true);
    clock.tick(50);
    assert.equal(await d, false);
    assert.equal(cond.waiters, 0);
  });
});

for (const [name, make] of acquirables) {
  Deno.test(`${name}: a grant given back goes to the next waiter, even one that came after the release`, async () => {
    const lock = make();
    const held = await lock.acquire();
    const ctl = new AbortController();
    const a = lock.acquire({ signal: ctl.signal });
    held.release(); // handed to a
    const late = lock.acquire(); // came after the release
    ctl.abort("a gave up"); // the lock (or permit) is still free: late gets it
    await assert.rejects(a, (e) => e === "a gave up");
    (await late).release();
    (await lock.acquire({ timeout: 0 })).release();
  });
}

Deno.test("Condition: an abort after the notification was delivered changes nothing", async () => {
  const cond = new Condition();
  const ctl = new AbortController();
  const a = cond.wait({ signal: ctl.signal });
  const b = cond.wait();
  cond.notify(1);
  assert.equal(await a, true);
  ctl.abort();
  assert.equal(await isPending(b), true, "no notification passed on");
  cond.notify();
  assert.equal(await b, true);
});

Deno.test("Condition: needs no lock to wait; its lock backs acquire/release", async () => {
  const lock = new Lock();
  const cond = new Condition(lock);
  const w = cond.wait();
  cond.notify();
  assert.equal(await w, true);
  {
    using _held = await cond.acquire();
    assert.equal(lock.locked, true);
    await assert.rejects(cond.acquire({ timeout: 0 }), TimeoutError);
  }
  assert.equal(lock.locked, false);
  await cond.acquire();
  cond.release();
  assert.throws(() => cond.release(), /release unlocked lock/);
  const own = new Condition();
  (await own.acquire()).release();
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new Condition({} as any), TypeError);
});

Deno.test("no promise from locks/ causes an unhandled rejection when ignored", async () => {
  const unhandled = await countUnhandledRejections(async () => {
    const lock = new Lock();
    const sem = new Semaphore(0);
    const event = new Event();
    const cond = new Condition();
    await lock.acquire();
    const ctl = new AbortController();
    const aborted = AbortSignal.abort();
    for (
      const start of [
        () => lock.acquire({ timeout: 1 }),
        () => lock.acquire({ timeout: 0 }),
        () => lock.acquire({ signal: ctl.signal }),
        () => lock.acquire({ signal: aborted }),
        // deno-lint-ignore no-explicit-any
        () => lock.acquire({ timeout: "x" as any }),
        () => sem.acquire({ timeout: 1 }),
        () => sem.acquire({ signal: ctl.signal }),
        () => event.wait({ signal: ctl.signal }),
        () => event.wait({ signal: aborted }),
        () => cond.wait({ signal: ctl.signal }),
        () => cond.acquire({ timeout: 0 }),
      ]
    ) {
      start(); // ignored on purpose
    }
    ctl.abort();
    await null;
    lock.release();
  }, { settleMs: 10 });
  assert.equal(unhandled, 0);
});

Deno.test("an options getter that throws makes every wait method reject, not throw", async () => {
  const boom = new Error("getter");
  const options = {
    get timeout(): number {
      throw boom;
    },
  };
  const lock = new Lock();
  const semaphore = new Semaphore(0);
  const calls: Array<[string, () => Promise<unknown>]> = [
    ["Lock.acquire", () => lock.acquire(options)],
    ["Semaphore.acquire", () => semaphore.acquire(options)],
    ["Condition.wait", () => new Condition().wait(options)],
    ["Event.wait", () => new Event().wait(options)],
  ];
  for (const [name, call] of calls) {
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => p = call(), name);
    await assert.rejects(p!, (err) => err === boom, name);
  }
  assert.equal(lock.locked, false);
  assert.equal(semaphore.waiters, 0);
});

Deno.test("every wait method reads each option once and waits on the values it read", async (t) => {
  const rejectsAfter5ms = (what: string) => (waiting: Promise<unknown>) =>
    assert.rejects(waiting, {
      name: "TimeoutError",
      message: `${what} timed out after 5 ms`,
    });
  const resolvesFalse = async (waiting: Promise<unknown>) =>
    assert.equal(await waiting, false);
  // Each wait times out or is aborted, so these stay as they are.
  const lock = new Lock();
  await lock.acquire();
  const condition = new Condition();
  await condition.acquire();
  const semaphore = new Semaphore(0);
  const event = new Event();
  const cases: Array<
    [
      string,
      (options: WaitOptions) => Promise<unknown>,
      (waiting: Promise<unknown>) => Promise<void>,
    ]
  > = [
    ["Lock.acquire", (o) => lock.acquire(o), rejectsAfter5ms("Lock.acquire()")],
    [
      "Semaphore.acquire",
      (o) => semaphore.acquire(o),
      rejectsAfter5ms("Semaphore.acquire()"),
    ],
    ["Condition.wait", (o) => condition.wait(o), resolvesFalse],
    [
      "Condition.acquire",
      (o) => condition.acquire(o),
      rejectsAfter5ms("Lock.acquire()"),
    ],
    ["Event.wait", (o) => event.wait(o), resolvesFalse],
  ];
  for (const [name, start, expectTimeout] of cases) {
    await t.step(name, () => assertWaitReadsOptionsOnce(start, expectTimeout));
  }
});
