import assert from "node:assert/strict";
import { TimeoutError } from "../concurrent/errors.ts";
import { checkOptions, NO_LIMIT, WaiterList } from "../locks/_waiters.ts";
import {
  countingSignal,
  flush,
  isPending,
  outcome,
  withFakeTime,
} from "./_wait_helpers.ts";
import { runGcScript } from "./_capture.ts";
import { seededRandom } from "./_rng.ts";

type Expected =
  | { kind: "pending" }
  | { kind: "granted"; value: number }
  | { kind: "timeout" }
  | { kind: "aborted"; reason: unknown }
  | { kind: "failed"; reason: unknown };

interface Entry {
  id: number;
  promise: Promise<number>;
  deadline: number;
  abort?: (reason: unknown) => void;
  listeners?: () => number;
  expected: Expected;
  /** Its place in arrival order, for waiters that joined the list. */
  stamp: number;
  /** Set while granted but not yet delivered. */
  granted?: { value: number; all: boolean; cutoff: number } | undefined;
}

/** Walks the list both ways and checks the links against the model. */
function checkLinks(list: WaiterList<number>, pending: Entry[]): void {
  const forward: number[] = [];
  for (let w = list.head; w !== null; w = w.next) {
    forward.push(w.data as number);
  }
  const backward: number[] = [];
  for (let w = list.tail; w !== null; w = w.prev) {
    backward.push(w.data as number);
  }
  const ids = pending.map((e) => e.id);
  assert.deepEqual(forward, ids);
  assert.deepEqual(backward, [...ids].reverse());
  assert.equal(list.size, ids.length);
}

for (
  const [label, timeoutValue, deferAll, inOrder, cutoffs] of [
    ["rejecting", undefined, false, false, false],
    ["resolving", -1, false, false, true],
    [
      "rejecting, every grant deferred, values in order",
      undefined,
      true,
      true,
      false,
    ],
    ["resolving, every grant deferred", -1, true, false, true],
  ] as const
) {
  Deno.test(`WaiterList (${label} on timeout): randomized operations match a model with a delivery window`, async () => {
    await withFakeTime(async (clock) => {
      const random = seededRandom(label.length * 1000 + 7);
      // The model. `pending`: in line; `window`: granted, not yet
      // delivered (they can still give up); `windowValues`: for an
      // in-order list, the undelivered grantFirst values in grant order.
      const all: Entry[] = [];
      let pending: Entry[] = [];
      let window: Entry[] = [];
      let windowValues: number[] = [];
      const returned: number[] = [];
      const modelReturned: number[] = [];
      let nextId = 0;
      let arrivals = 0;
      /** Hand-backs that found only waiters come after the grant. */
      let lapsed = 0;
      let nextValue = 1000;
      const canGiveUpLate = (e: Entry) => deferAll || e.abort !== undefined;
      const modelGrant = (
        e: Entry,
        value: number,
        all: boolean,
        cutoff = arrivals,
      ) => {
        pending = pending.filter((x) => x !== e);
        if (canGiveUpLate(e)) {
          e.granted = { value, all, cutoff };
          if (inOrder && !all) windowValues.push(value);
          window.push(e);
        } else {
          e.expected = { kind: "granted", value };
        }
      };
      // Like Lock, Semaphore and Queue, the hook passes a grant handed
      // back to the next waiter in line, if any; like Condition (with
      // `cutoffs`), only to one that was in line when the grant was made.
      const list: WaiterList<number> = new WaiterList<number>("Test.wait()", {
        ...(timeoutValue === undefined
          ? {}
          : { onTimeout: { value: timeoutValue } }),
        deferAll,
        inOrder,
        handBack: (value, cutoff) => {
          const granted = cutoffs
            ? list.grantFirst(value, cutoff)
            : list.grantFirst(value);
          if (!granted) returned.push(value);
        },
      });
      /** A waiter gave up; returns nothing, updates the model. */
      const modelGiveUp = (e: Entry, expected: Expected) => {
        e.expected = expected;
        if (pending.includes(e)) {
          pending = pending.filter((x) => x !== e);
          return;
        }
        const grant = e.granted!;
        window = window.filter((x) => x !== e);
        e.granted = undefined;
        if (grant.all) return; // grantAll: nothing to hand back
        const value = inOrder ? windowValues.pop()! : grant.value;
        const head = pending[0];
        if (head && (!cutoffs || head.stamp < grant.cutoff)) {
          modelGrant(head, value, false, cutoffs ? grant.cutoff : arrivals);
        } else {
          if (head) lapsed++;
          modelReturned.push(value);
        }
      };
      const modelDeliver = () => {
        let next = 0;
        for (const e of window) {
          const { value, all } = e.granted!;
          e.granted = undefined;
          e.expected = {
            kind: "granted",
            value: inOrder && !all ? windowValues[next++]! : value,
          };
        }
        assert.equal(next, inOrder ? windowValues.length : 0);
        window = [];
        windowValues = [];
      };
      const kinds = new Set<string>();
      for (let step = 0; step < 3000; step++) {
        const r = random();
        if (r < 0.35) {
          const id = nextId++;
          const withTimeout = random() < 0.5;
          const withSignal = random() < 0.5;
          const timeout = withTimeout
            ? (random() < 0.1 ? 0 : 1 + Math.floor(random() * 40))
            : undefined;
          const counting = withSignal ? countingSignal() : undefined;
          const options: { timeout?: number; signal?: AbortSignal } = {};
          if (timeout !== undefined) options.timeout = timeout;
          if (counting) options.signal = counting.signal;
          const timersBefore = clock.countTimers();
          const promise = list.wait(options, id);
          const entry: Entry = {
            id,
            promise,
            deadline: timeout === undefined ? Infinity : clock.now + timeout,
            stamp: -1,
            expected: { kind: "pending" },
          };
          if (counting) {
            entry.abort = (reason) => counting.controller.abort(reason);
            entry.listeners = counting.listeners;
          }
          all.push(entry);
          if (timeout === 0) {
            assert.equal(
              clock.countTimers(),
              timersBefore,
              "timeout 0 arms no timer",
            );
            entry.expected = { kind: "timeout" };
          } else {
            entry.stamp = arrivals++;
            pending.push(entry);
          }
        } else if (r < 0.5) {
          // Abort one in line or one in the delivery window.
          const candidates = [...pending, ...window].filter((e) => e.abort);
          const victim = candidates[Math.floor(random() * candidates.length)];
          if (victim) {
            if (victim.granted) kinds.add("aborted in the window");
            const reason = { step };
            victim.abort!(reason);
            modelGiveUp(victim, { kind: "aborted", reason });
            // Aborting twice, or after settling, changes nothing.
            victim.abort!({ again: step });
          }
        } else if (r < 0.68) {
          const value = nextValue++;
          const head = pending[0];
          assert.equal(list.grantFirst(value), head !== undefined);
          if (head) modelGrant(head, value, false);
        } else if (r < 0.70) {
          const value = nextValue++;
          list.grantAll(value);
          for (const e of [...pending]) modelGrant(e, value, true);
        } else if (r < 0.71) {
          const reason = { failed: step };
          const head = pending[0];
          assert.equal(list.failFirst(reason), head !== undefined);
          if (head) {
            pending = pending.filter((x) => x !== head);
            head.expected = { kind: "failed", reason };
          }
        } else if (r < 0.82) {
          // Deliver: the microtask checkpoint after the turn, or at once
          // for a caller that must know no grant comes back.
          if (random() < 0.3) {
            if (window.length > 0) kinds.add("delivered at once");
            list.deliver();
          } else {
            await flush();
            if (window.length > 0) kinds.add("delivered");
          }
          modelDeliver();
          // An abort after delivery changes nothing.
          for (const e of all) {
            if (e.expected.kind === "granted") e.abort?.({ late: step });
          }
        } else {
          // A synchronous fake tick can fire timers inside the window.
          const to = clock.now + Math.floor(random() * 10);
          clock.tick(to - clock.now);
          const due = [...pending, ...window]
            .filter((e) => e.deadline <= to)
            .sort((x, y) => x.deadline - y.deadline || x.id - y.id);
          for (const e of due) {
            // Re-check: a hand-back may have moved it into the window.
            if (!pending.includes(e) && !window.includes(e)) continue;
            if (e.granted) kinds.add("timed out in the window");
            modelGiveUp(e, { kind: "timeout" });
          }
        }
        checkLinks(list, pending);
        assert.equal(
          list.undelivered,
          window.filter((e) => !e.granted!.all).length,
          "grantFirst grants awaiting delivery",
        );
        assert.deepEqual(returned, modelReturned, "handed back with no taker");
        assert.equal(
          clock.countTimers(),
          [...pending, ...window].filter((e) => e.deadline !== Infinity)
            .length,
          "exactly the waiters in line or in the window hold a timer",
        );
        for (const e of window) {
          if (e.listeners) {
            assert.equal(e.listeners(), 1, "the window keeps the listener");
          }
        }
      }
      list.grantAll(-2);
      for (const e of [...pending]) modelGrant(e, -2, true);
      await flush();
      modelDeliver();
      checkLinks(list, []);
      assert.equal(clock.countTimers(), 0);
      for (const e of all) {
        const got = await outcome(e.promise);
        const want = e.expected;
        kinds.add(want.kind);
        if (want.kind === "granted") {
          assert.deepEqual(got, { ok: true, value: want.value });
        } else if (want.kind === "aborted" || want.kind === "failed") {
          assert.ok(!got.ok && got.error === want.reason);
        } else if (want.kind === "timeout") {
          if (timeoutValue === undefined) {
            assert.ok(!got.ok && got.error instanceof TimeoutError);
            assert.match(
              (got.error as Error).message,
              /^Test\.wait\(\) timed out after \d+ ms$/,
            );
          } else {
            assert.deepEqual(got, { ok: true, value: timeoutValue });
          }
        } else {
          assert.fail(`waiter ${e.id} never settled`);
        }
        if (e.listeners) {
          assert.equal(e.listeners(), 0, "abort listener removed");
        }
      }
      // Every path was exercised, including both give-ups in the window.
      assert.deepEqual([...kinds].sort(), [
        "aborted",
        "aborted in the window",
        "delivered",
        "delivered at once",
        "failed",
        "granted",
        "timed out in the window",
        "timeout",
      ]);
      assert.ok(returned.length > 0, "some grants found no taker");
      assert.equal(lapsed > 0, cutoffs, "some lapsed for late waiters");
    });
  });
}

Deno.test("WaiterList: deferred grants resolve a microtask later, in grant order", async () => {
  const list = new WaiterList<string>("Test.wait()", { deferAll: true });
  const log: string[] = [];
  const a = list.wait({ timeout: 1000 }).then((v) => {
    log.push(`a ${v}`);
  });
  const b = list.wait(undefined).then((v) => {
    log.push(`b ${v}`);
  });
  list.grantFirst("one");
  assert.equal(list.size, 1, "unlinked at once");
  list.grantAll("two");
  assert.equal(list.size, 0);
  // Queued after the delivery microtask but before the waiters' reactions.
  queueMicrotask(() => log.push("microtask queued after the grants"));
  await Promise.all([a, b]);
  assert.deepEqual(log, [
    "microtask queued after the grants",
    "a one",
    "b two",
  ]);
});

Deno.test("WaiterList: a waiter without a signal is resolved at the grant itself", async () => {
  const list = new WaiterList<string>("Test.wait()");
  const log: string[] = [];
  const p = list.wait({ timeout: 1000 }).then((v) => log.push(v));
  const q = list.wait({ signal: new AbortController().signal }).then((v) =>
    log.push(v)
  );
  list.grantFirst("sync");
  list.grantFirst("deferred");
  queueMicrotask(() => log.push("microtask"));
  await Promise.all([p, q]);
  // The synchronous grant's reaction runs before a later-queued
  // microtask; the deferred one only after the delivery microtask.
  assert.deepEqual(log, ["sync", "microtask", "deferred"]);
});

Deno.test("WaiterList: giving up in the delivery window hands the grant back once", async () => {
  const back: string[] = [];
  const list = new WaiterList<string>("Test.wait()", {
    handBack: (v) => back.push(v),
  });
  const { controller, signal, listeners } = countingSignal();
  const a = list.wait({ signal, timeout: 1000 });
  list.grantFirst("one");
  assert.equal(listeners(), 1, "kept until delivery");
  const reason = new Error("gave up");
  controller.abort(reason);
  controller.abort(new Error("again"));
  assert.deepEqual(back, ["one"]);
  await assert.rejects(a, (e) => e === reason);
  assert.equal(listeners(), 0);
  // grantAll hands nothing back.
  const ctl = new AbortController();
  const b = list.wait({ signal: ctl.signal });
  list.grantAll("two");
  ctl.abort();
  await assert.rejects(b, { name: "AbortError" });
  assert.deepEqual(back, ["one"]);
});

Deno.test("WaiterList: a final grant ignores an abort in the window", async () => {
  const back: string[] = [];
  const list = new WaiterList<string>("Test.wait()", {
    deferAll: true,
    final: true,
    handBack: (v) => back.push(v),
  });
  const { controller, signal, listeners } = countingSignal();
  const a = list.wait({ signal, timeout: 1000 });
  list.grantFirst("kept");
  assert.equal(listeners(), 0, "dropped at the grant");
  controller.abort();
  assert.equal(await a, "kept");
  assert.deepEqual(back, []);
});

Deno.test("WaiterList: a waiter settled while its timer is armed keeps no timer", async () => {
  // Arming the first timer of a `deno test` process can run pending
  // microtasks; simulate a grant from such user code inside setTimeout.
  const list = new WaiterList<string>("Test.wait()");
  const realSetTimeout = globalThis.setTimeout;
  let cleared = 0;
  const realClear = globalThis.clearTimeout;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    list.grantFirst("granted during arming");
    return realSetTimeout(...args);
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((id: number) => {
    cleared++;
    realClear(id);
  }) as typeof clearTimeout;
  try {
    const p = list.wait({ timeout: 1000 });
    assert.equal(cleared, 1, "the fresh timer was cleared at once");
    assert.equal(await p, "granted during arming");
    assert.equal(list.size, 0);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    globalThis.clearTimeout = realClear;
  }
});

Deno.test("checkOptions: returns the options it read and rejects bad ones without throwing", async () => {
  assert.equal(checkOptions(undefined), NO_LIMIT);
  assert.equal(checkOptions({}), NO_LIMIT);
  assert.equal(checkOptions({ timeout: Infinity }), NO_LIMIT);
  const signal = new AbortController().signal;
  assert.deepEqual(checkOptions({ timeout: 5, signal }), {
    timeout: 5,
    signal,
  });
  assert.deepEqual(checkOptions({ timeout: -1 }), { timeout: -1 });
  assert.deepEqual(checkOptions({ signal }), { signal });
  const reason = new Error("r");
  const aborted = checkOptions({ signal: AbortSignal.abort(reason) });
  assert.ok(aborted instanceof Promise);
  await assert.rejects(aborted, (e) => e === reason);
  // deno-lint-ignore no-explicit-any
  const notNumber = checkOptions({ timeout: null as any });
  assert.ok(notNumber instanceof Promise);
  await assert.rejects(notNumber, TypeError);
  const nan = checkOptions({ timeout: NaN });
  assert.ok(nan instanceof Promise);
  await assert.rejects(nan, RangeError);
});

Deno.test("WaiterList: negative timeouts settle at once like timeout 0", async () => {
  const list = new WaiterList<boolean>("Test.wait()", {
    onTimeout: { value: false },
  });
  assert.equal(await list.wait({ timeout: -3 }), false);
  assert.equal(list.size, 0);
  const rejecting = new WaiterList<boolean>("Test.wait()");
  await assert.rejects(rejecting.wait({ timeout: -1 }), /timed out after 0 ms/);
  assert.equal(await isPending(rejecting.wait({ timeout: 50 })), true);
  rejecting.grantAll(true);
});

Deno.test("100,000 timed-out waiters leave no waiter and no memory behind", async () => {
  // A subprocess, so a full GC can be forced before each measurement.
  const result = await runGcScript("waiter_memory.ts", "100000");
  assert.equal(result.n, 100_000);
  assert.equal(result.waiters, 0);
  assert.equal(result.qsize, 1, "no timed-out putter added its item");
  // Leaking the waiters themselves costs over 100 MB here; a clean run
  // grows by a few kB. 2 MB is a generous but real bound (20 B/waiter).
  const growth = (result.after as number) - (result.before as number);
  assert.ok(growth < 2_000_000, `heap grew by ${growth} bytes`);
});

Deno.test("locks/ and queues/ work with globalThis.Deno deleted", async () => {
  const code = `
    delete globalThis.Deno;
    const { Lock, Semaphore, BoundedSemaphore, Event, Condition } = await import(${
    JSON.stringify(new URL("../locks/mod.ts", import.meta.url).href)
  });
    const { Queue, PriorityQueue, LifoQueue } = await import(${
    JSON.stringify(new URL("../queues/mod.ts", import.meta.url).href)
  });
    if (typeof Deno !== "undefined") throw new Error("Deno is still there");
    const lock = new Lock();
    const held = await lock.acquire();
    const timedOut = await lock.acquire({ timeout: 5 }).then(() => false, (e) => e.name === "TimeoutError");
    held.release();
    const sem = new BoundedSemaphore(1);
    (await sem.acquire({ signal: new AbortController().signal })).release();
    const event = new Event();
    setTimeout(() => event.set(), 1);
    const set = await event.wait({ timeout: 1000 });
    const cond = new Condition();
    const woken = cond.wait({ timeout: 1000 });
    cond.notifyAll();
    const q = new Queue(1);
    await q.put(1);
    const late = q.put(2);
    const first = await q.get();
    await late;
    const pq = new PriorityQueue();
    [3, 1, 2].forEach((n) => pq.putNowait(n));
    const lq = new LifoQueue();
    [1, 2].forEach((n) => lq.putNowait(n));
    console.log(JSON.stringify([timedOut, new Semaphore(2).value, set, await woken,
      first, q.getNowait(), pq.getNowait(), lq.getNowait()]));
  `;
  const { code: status, stdout, stderr } = await new Deno.Command(
    Deno.execPath(),
    { args: ["eval", code], stdout: "piped", stderr: "piped" },
  ).output();
  assert.equal(status, 0, new TextDecoder().decode(stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout)), [
    true,
    2,
    true,
    true,
    1,
    2,
    1,
    2,
  ]);
});
