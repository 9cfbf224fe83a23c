import assert from "node:assert/strict";
import {
  LifoQueue,
  PriorityQueue,
  Queue,
  QueueEmpty,
  QueueFull,
} from "@squall/io/queues";
import { TimeoutError } from "@squall/io/concurrent";
import type { WaitOptions } from "@squall/io/locks";
import {
  countingSignal,
  flush,
  isPending,
  outcome,
  withFakeTime,
} from "./_wait_helpers.ts";
import { seededRandom } from "./_rng.ts";
import { countUnhandledRejections } from "./_capture.ts";
import { assertWaitReadsOptionsOnce } from "./_fickle_options.ts";

Deno.test("Queue: validates maxsize", () => {
  assert.throws(() => new Queue(-1), RangeError);
  assert.throws(() => new Queue(1.5), RangeError);
  assert.throws(() => new Queue(NaN), RangeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new Queue("3" as any), TypeError);
  assert.throws(() => new PriorityQueue(-1), RangeError);
  assert.throws(() => new LifoQueue(-2), RangeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new PriorityQueue(0, "cmp" as any), TypeError);
  assert.equal(new Queue().maxsize, 0);
  assert.equal(new Queue(7).maxsize, 7);
});

Deno.test("Queue: qsize, empty and full follow the items", async () => {
  const q = new Queue<number>(2);
  assert.equal(q.empty(), true);
  assert.equal(q.full(), false);
  await q.put(1);
  q.putNowait(2);
  assert.equal(q.qsize(), 2);
  assert.equal(q.full(), true);
  assert.throws(() => q.putNowait(3), QueueFull);
  assert.equal(q.qsize(), 2);
  assert.equal(await q.get(), 1);
  assert.equal(q.getNowait(), 2);
  assert.throws(() => q.getNowait(), QueueEmpty);
  const unbounded = new Queue<number>();
  for (let i = 0; i < 1000; i++) unbounded.putNowait(i);
  assert.equal(unbounded.full(), false);
  for (let i = 0; i < 1000; i++) assert.equal(unbounded.getNowait(), i);
});

Deno.test("Queue: items come out first-in first-out across ring growth", async () => {
  const q = new Queue<number>();
  const random = seededRandom(7);
  let next = 0;
  let expected = 0;
  for (let round = 0; round < 2000; round++) {
    const puts = Math.floor(random() * 40);
    for (let i = 0; i < puts; i++) q.putNowait(next++);
    const gets = Math.min(q.qsize(), Math.floor(random() * 40));
    for (let i = 0; i < gets; i++) assert.equal(await q.get(), expected++);
  }
  while (!q.empty()) assert.equal(q.getNowait(), expected++);
  assert.equal(expected, next);
});

Deno.test("Queue: getters are served first-come first-served", async () => {
  const q = new Queue<string>();
  const got: string[] = [];
  const getters = [0, 1, 2].map((i) =>
    q.get().then((v) => got.push(`${i}:${v}`))
  );
  assert.equal(q.waiters, 3);
  q.putNowait("a");
  await q.put("b");
  q.putNowait("c");
  await Promise.all(getters);
  assert.deepEqual(got, ["0:a", "1:b", "2:c"]);
  assert.equal(q.qsize(), 0);
});

Deno.test("Queue: blocked putters hand their items over in FIFO order", async () => {
  const q = new Queue<string>(1);
  await q.put("a");
  const done: string[] = [];
  const putters = ["b", "c", "d"].map((x) => q.put(x).then(() => done.push(x)));
  assert.equal(q.waiters, 3);
  assert.equal(q.getNowait(), "a");
  assert.equal(q.qsize(), 1, "b moved in as a slot freed");
  assert.equal(await q.get(), "b");
  assert.equal(await q.get(), "c");
  assert.equal(await q.get(), "d");
  await Promise.all(putters);
  assert.deepEqual(done, ["b", "c", "d"]);
  assert.equal(q.empty(), true);
});

Deno.test("Queue: get and put with timeout 0 settle at once", async () => {
  await withFakeTime(async (clock) => {
    const q = new Queue<number>(1);
    const get0 = q.get({ timeout: 0 });
    assert.equal(clock.countTimers(), 0);
    await assert.rejects(get0, TimeoutError);
    await q.put(1, { timeout: 0 });
    const put0 = q.put(2, { timeout: 0 });
    assert.equal(clock.countTimers(), 0);
    assert.equal(q.waiters, 0);
    await assert.rejects(put0, TimeoutError);
    assert.equal(await q.get({ timeout: 0 }), 1);
    await assert.rejects(q.join({ timeout: 0 }), TimeoutError);
    q.taskDone();
    await q.join({ timeout: 0 });
  });
});

Deno.test("Queue: a timed-out getter never takes an item later", async () => {
  await withFakeTime(async (clock) => {
    const q = new Queue<string>();
    const { signal, listeners } = countingSignal();
    const a = q.get({ timeout: 10, signal });
    const b = q.get({ timeout: 30 });
    clock.tick(10);
    await assert.rejects(a, TimeoutError);
    assert.equal(listeners(), 0);
    assert.equal(q.waiters, 1);
    q.putNowait("x");
    assert.equal(await b, "x");
    assert.equal(clock.countTimers(), 0);
    q.putNowait("y");
    assert.equal(q.qsize(), 1, "nobody else took it");
  });
});

Deno.test("Queue: a timed-out putter never adds its item later", async () => {
  await withFakeTime(async (clock) => {
    const q = new Queue<string>(1);
    q.putNowait("a");
    const late = q.put("late", { timeout: 5 });
    const kept = q.put("kept", { timeout: 50 });
    clock.tick(5);
    await assert.rejects(late, /Queue.put\(\) timed out after 5 ms/);
    assert.equal(q.getNowait(), "a");
    assert.equal(q.getNowait(), "kept");
    await kept;
    assert.equal(q.empty(), true);
    assert.equal(clock.countTimers(), 0);
  });
});

Deno.test("Queue: aborting the middle of three getters removes only it", async () => {
  const q = new Queue<number>();
  const { controller, signal, listeners } = countingSignal();
  const a = q.get();
  const b = q.get({ signal });
  const c = q.get({ signal: new AbortController().signal });
  const reason = new Error("b stops");
  controller.abort(reason);
  assert.equal(listeners(), 0);
  const rb = await outcome(b);
  assert.ok(!rb.ok && rb.error === reason);
  q.putNowait(1);
  q.putNowait(2);
  assert.deepEqual(await Promise.all([a, c]), [1, 2]);
  assert.equal(q.qsize(), 0);
});

Deno.test("Queue: aborting the middle of three putters removes only its item", async () => {
  const q = new Queue<string>(1);
  q.putNowait("x");
  const ctl = new AbortController();
  const a = q.put("a");
  const b = q.put("b", { signal: ctl.signal });
  const c = q.put("c");
  ctl.abort();
  await assert.rejects(b, { name: "AbortError" });
  assert.deepEqual(
    [q.getNowait(), q.getNowait(), q.getNowait()],
    ["x", "a", "c"],
  );
  await Promise.all([a, c]);
  assert.throws(() => q.getNowait(), QueueEmpty);
});

Deno.test("Queue: put and an abort of the pending getter in one turn pass the item to the next getter", async () => {
  const q = new Queue<string>();
  const first = countingSignal();
  const g1 = q.get({ signal: first.signal });
  const g2 = q.get({ signal: new AbortController().signal });
  const g3 = q.get();
  q.putNowait("x"); // handed to g1, not yet delivered ...
  const reason = new Error("g1 gave up");
  first.controller.abort(reason); // ... so g1 gives it back
  assert.equal(first.listeners(), 0);
  await assert.rejects(g1, (e) => e === reason);
  assert.equal(await g2, "x");
  assert.equal(await isPending(g3), true);
  assert.equal(q.qsize(), 0);
  q.putNowait("y");
  assert.equal(await g3, "y");
  q.taskDone();
  q.taskDone();
  await q.join({ timeout: 0 }); // x was counted once, not twice
});

Deno.test("Queue: gets, puts and joins sharing one signal add one abort listener to it", async () => {
  const { controller, signal, listeners, added, peak } = countingSignal();
  const empty = new Queue<number>();
  const full = new Queue<number>(1);
  full.putNowait(0);
  const gets = Array.from({ length: 30 }, () => empty.get({ signal }));
  const puts = Array.from(
    { length: 30 },
    (_, i) => full.put(i + 1, { signal }),
  );
  const joins = Array.from({ length: 30 }, () => full.join({ signal }));
  assert.equal(added(), 1, "90 waits, one listener");
  for (let i = 0; i < 30; i++) empty.putNowait(i);
  assert.deepEqual(await Promise.all(gets), [...Array(30).keys()]);
  assert.equal(listeners(), 1, "the puts and joins still wait");
  for (let i = 0; i < 31; i++) {
    assert.equal(full.getNowait(), i);
    full.taskDone();
  }
  await Promise.all([...puts, ...joins]);
  assert.equal(listeners(), 0, "the last wait to settle removed it");
  // Followed again, then aborted: every wait rejects, none is left.
  const reason = new Error("shutting down");
  const gave: Array<Promise<unknown>> = [
    empty.get({ signal }),
    empty.get({ signal, timeout: 10_000 }),
  ];
  full.putNowait(99);
  gave.push(full.put(100, { signal }), full.join({ signal }));
  controller.abort(reason);
  for (const p of gave) await assert.rejects(p, (e) => e === reason);
  assert.equal(empty.waiters + full.waiters, 0);
  assert.deepEqual([listeners(), added(), peak()], [0, 2, 1]);
});

Deno.test("Queue: one abort that gives up several getters in the window passes the item past all of them", async () => {
  const q = new Queue<string>();
  const shutdown = new AbortController();
  const { signal } = shutdown;
  const a = q.get({ signal });
  const b = q.get({ signal });
  const c = q.get();
  q.putNowait("x"); // handed to a, not yet delivered
  shutdown.abort(new Error("shutdown"));
  await assert.rejects(a, /shutdown/);
  await assert.rejects(b, /shutdown/);
  assert.equal(await c, "x");
  assert.equal(q.qsize(), 0);
});

Deno.test("Queue: an abort in the same turn keeps the order, as if that getter never waited", async () => {
  const q = new Queue<string>();
  const ctl = new AbortController();
  const g1 = q.get({ signal: ctl.signal });
  const g2 = q.get();
  const g3 = q.get({ timeout: 1000 });
  q.putNowait("a"); // g1
  q.putNowait("b"); // g2
  ctl.abort();
  await assert.rejects(g1, { name: "AbortError" });
  // g2 moves up to "a", g3 gets "b".
  assert.deepEqual(await Promise.all([g2, g3]), ["a", "b"]);
});

Deno.test("Queue: put and an abort of the only getter in one turn leave the item in the queue", async () => {
  const q = new Queue<string>();
  const ctl = new AbortController();
  const ctl2 = new AbortController();
  const g1 = q.get({ signal: ctl.signal });
  const g2 = q.get({ signal: ctl2.signal });
  q.putNowait("a"); // g1
  q.putNowait("b"); // g2
  q.putNowait("c"); // into the queue
  ctl.abort("g1 gave up");
  ctl2.abort("g2 gave up");
  assert.equal(q.qsize(), 3);
  await assert.rejects(g1, (e) => e === "g1 gave up");
  await assert.rejects(g2, (e) => e === "g2 gave up");
  assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [
    "a",
    "b",
    "c",
  ]);
  // The simplest case: one getter, one item.
  const ctl3 = new AbortController();
  const g3 = q.get({ signal: ctl3.signal });
  q.putNowait("x");
  ctl3.abort();
  assert.equal(q.qsize(), 1);
  await assert.rejects(g3, { name: "AbortError" });
  assert.equal(q.qsize(), 1);
  assert.equal(q.getNowait(), "x");
});

Deno.test("Queue: items handed back in one turn may briefly exceed maxsize", async () => {
  const q = new Queue<number>(1);
  const ctl = new AbortController();
  const g1 = q.get({ signal: ctl.signal });
  const g2 = q.get({ signal: ctl.signal });
  const p1 = q.put(1); // g1
  const p2 = q.put(2); // g2: both puts succeed at once ...
  ctl.abort(); // ... and both items come back
  await Promise.all([p1, p2]);
  await assert.rejects(g1, { name: "AbortError" });
  await assert.rejects(g2, { name: "AbortError" });
  assert.equal(q.qsize(), 2);
  assert.equal(q.full(), true);
  assert.throws(() => q.putNowait(3), QueueFull);
  assert.deepEqual([q.getNowait(), q.getNowait()], [1, 2]);
});

Deno.test("LifoQueue: an item handed back goes under the items put after it", async () => {
  const q = new LifoQueue<string>();
  const ctl = new AbortController();
  const g = q.get({ signal: ctl.signal });
  q.putNowait("a"); // to g
  q.putNowait("b"); // stacked
  ctl.abort();
  await assert.rejects(g, { name: "AbortError" });
  // As if g never waited: a then b stacked, b on top.
  assert.deepEqual([q.getNowait(), q.getNowait()], ["b", "a"]);
  // Alone, it is simply the top again.
  const ctl2 = new AbortController();
  const g2 = q.get({ signal: ctl2.signal });
  q.putNowait("c");
  ctl2.abort();
  await assert.rejects(g2, { name: "AbortError" });
  q.putNowait("d");
  assert.deepEqual([q.getNowait(), q.getNowait()], ["d", "c"]);
});

Deno.test("PriorityQueue: an item handed back keeps its place among ties", async () => {
  const q = new PriorityQueue<[number, string]>();
  const ctl = new AbortController();
  const g1 = q.get({ signal: ctl.signal });
  const g2 = q.get({ signal: ctl.signal });
  q.putNowait([1, "first"]); // g1
  q.putNowait([1, "second"]); // g2
  q.putNowait([1, "third"]);
  q.putNowait([0, "urgent"]);
  ctl.abort();
  await assert.rejects(g1, { name: "AbortError" });
  await assert.rejects(g2, { name: "AbortError" });
  assert.deepEqual(
    Array.from({ length: 4 }, () => q.getNowait()[1]),
    ["urgent", "first", "second", "third"],
  );
});

Deno.test("PriorityQueue: an item handed back that the comparator rejects is not lost", async () => {
  const q = new PriorityQueue<number>(0, (a, b) => {
    if (a === 13 || b === 13) throw new Error("unlucky");
    return a - b;
  });
  const ctl = new AbortController();
  const g = q.get({ signal: ctl.signal });
  q.putNowait(13); // to g: nothing to compare with
  q.putNowait(5);
  q.putNowait(1);
  ctl.abort();
  await assert.rejects(g, { name: "AbortError" });
  // It cannot be ordered, so it comes first; the others keep their order.
  assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [13, 1, 5]);
});

Deno.test("Queue: an item handed back to a bounded queue that filled meanwhile is kept; puts wait until it drains", async () => {
  const q = new Queue<string>(1);
  const ctl = new AbortController();
  const getter = q.get({ signal: ctl.signal });
  q.putNowait("x"); // handed to the getter: the queue is empty again
  q.putNowait("y"); // fills it
  ctl.abort("gave up"); // "x" comes back ahead of "y"
  await assert.rejects(getter, (e) => e === "gave up");
  assert.equal(q.qsize(), 2);
  assert.equal(q.full(), true);
  assert.throws(() => q.putNowait("z"), QueueFull);
  const put = q.put("z");
  assert.equal(await isPending(put), true);
  assert.equal(q.getNowait(), "x");
  assert.equal(await isPending(put), true); // still one over: "y" fills it
  assert.equal(q.getNowait(), "y"); // "z" moves in as "y" leaves
  await put;
  assert.equal(q.getNowait(), "z");
  assert.equal(q.qsize(), 0);
});

Deno.test("Queue: a get() in the same turn as a grant that comes back gets that item first", async () => {
  const q = new Queue<string>();
  const ctl = new AbortController();
  const a = q.get({ signal: ctl.signal });
  q.putNowait("x"); // handed to a, not yet delivered
  q.putNowait("y"); // into the queue
  const c = q.get(); // "x" may come back: c waits behind it
  assert.equal(q.qsize(), 0, "y is bound for c");
  assert.equal(q.empty(), true);
  assert.throws(() => q.getNowait(), QueueEmpty);
  ctl.abort("a gave up"); // "x" comes back, to c, as if a never waited
  await assert.rejects(a, (e) => e === "a gave up");
  assert.equal(await c, "x");
  assert.equal(q.getNowait(), "y");
  // Without the abort, a gets "x" and c, served after, "y", in that order.
  const ctl2 = new AbortController();
  const woke: string[] = [];
  const a2 = q.get({ signal: ctl2.signal }).then((v) => woke.push(`a ${v}`));
  q.putNowait("x");
  q.putNowait("y");
  const c2 = q.get().then((v) => woke.push(`c ${v}`));
  await Promise.all([a2, c2]);
  assert.deepEqual(woke, ["a x", "c y"]);
  assert.deepEqual([q.qsize(), q.waiters], [0, 0]);
});

Deno.test("Queue: getNowait() in the same turn as a grant makes the grant final and takes the next item", async () => {
  const q = new Queue<string>();
  const ctl = new AbortController();
  const a = q.get({ signal: ctl.signal });
  q.putNowait("x"); // handed to a, not yet delivered
  q.putNowait("y");
  // Taking "y" now must not let "x" come back behind it: a keeps "x".
  assert.equal(q.getNowait(), "y");
  ctl.abort("too late");
  assert.equal(await a, "x");
  assert.deepEqual([q.qsize(), q.waiters], [0, 0]);
  // get({ timeout: 0 }) cannot wait either, and does the same.
  const ctl2 = new AbortController();
  const a2 = q.get({ signal: ctl2.signal });
  q.putNowait("x");
  q.putNowait("y");
  assert.equal(await q.get({ timeout: 0 }), "y");
  ctl2.abort("too late");
  assert.equal(await a2, "x");
  // With nothing beyond the grant, getNowait() finds the queue empty and
  // the grant can still come back.
  const ctl3 = new AbortController();
  const a3 = q.get({ signal: ctl3.signal });
  q.putNowait("x");
  assert.throws(() => q.getNowait(), QueueEmpty);
  const none = q.get({ timeout: 0 });
  ctl3.abort("gave up");
  await assert.rejects(none, TimeoutError);
  await assert.rejects(a3, (e) => e === "gave up");
  assert.equal(q.getNowait(), "x");
});

Deno.test("Queue: a get() behind a grant that comes back is served in queue order, for each kind of queue", async (t) => {
  const cases: Array<
    [string, () => Queue<number>, number[], number, number[]]
  > = [
    // kind, queue, items put (the first to the getter that gives up),
    // what the later get() receives, what is left, as if it never waited.
    ["Queue", () => new Queue<number>(), [5, 1, 7], 5, [1, 7]],
    ["LifoQueue", () => new LifoQueue<number>(), [5, 1, 7], 7, [1, 5]],
    ["PriorityQueue", () => new PriorityQueue<number>(), [1, 5, 3], 1, [3, 5]],
  ];
  for (const [name, make, puts, got, left] of cases) {
    await t.step(name, async () => {
      const q = make();
      const ctl = new AbortController();
      const a = q.get({ signal: ctl.signal });
      for (const n of puts) q.putNowait(n);
      const c = q.get();
      ctl.abort();
      await assert.rejects(a, { name: "AbortError" });
      assert.equal(await c, got);
      assert.deepEqual(left.map(() => q.getNowait()), left);
    });
  }
});

Deno.test("LifoQueue: a grant that comes back returns to its place in the stack, whether put() handed it over or a waiting get() was served it", async (t) => {
  // Each case ends with the item granted last given back: what is left
  // must come out newest first, as if its getter had never waited.
  await t.step("handed over by put(), with items put after it", async () => {
    const q = new LifoQueue<number>();
    const c1 = new AbortController();
    const c2 = new AbortController();
    const a1 = q.get({ signal: c1.signal });
    const a2 = q.get({ signal: c2.signal });
    q.putNowait(1); // to a1
    q.putNowait(2); // to a2
    q.putNowait(3);
    c1.abort();
    c2.abort();
    await assert.rejects(a1, { name: "AbortError" });
    await assert.rejects(a2, { name: "AbortError" });
    assert.deepEqual([1, 2, 3].map(() => q.getNowait()), [3, 2, 1]);
  });
  await t.step("served from the top of the stack", async () => {
    const q = new LifoQueue<number>();
    const c1 = new AbortController();
    const c2 = new AbortController();
    const a = q.get({ signal: c1.signal });
    q.putNowait(1); // to a
    q.putNowait(2);
    q.putNowait(3);
    const b = q.get({ signal: c2.signal }); // waits behind a's grant
    const got = a.then((v) => {
      c2.abort(); // b was served 3 when a was delivered
      return v;
    });
    assert.equal(await got, 1);
    await assert.rejects(b, { name: "AbortError" });
    assert.deepEqual([2, 3].map(() => q.getNowait()), [3, 2]);
  });
  await t.step("served from the stack, with items put after it", async () => {
    const q = new LifoQueue<number>();
    const c1 = new AbortController();
    const c2 = new AbortController();
    const a = q.get({ signal: c1.signal });
    q.putNowait(0); // to a
    q.putNowait(1);
    q.putNowait(2);
    const b = q.get({ signal: c2.signal });
    const got = a.then((v) => {
      q.putNowait(5); // above 2, which b was served
      c2.abort();
      return v;
    });
    assert.equal(await got, 0);
    await assert.rejects(b, { name: "AbortError" });
    assert.deepEqual([1, 2, 5].map(() => q.getNowait()), [5, 2, 1]);
  });
  await t.step("served, then one handed over by put()", async () => {
    const q = new LifoQueue<number>();
    const c1 = new AbortController();
    const c2 = new AbortController();
    const a = q.get({ signal: c1.signal });
    q.putNowait(0); // to a
    q.putNowait(3);
    const b = q.get({ signal: c1.signal });
    const c = q.get({ signal: c2.signal });
    const got = a.then((v) => {
      q.putNowait(4); // b was served 3; 4 goes to c
      c2.abort();
      c1.abort();
      return v;
    });
    assert.equal(await got, 0);
    await assert.rejects(b, { name: "AbortError" });
    await assert.rejects(c, { name: "AbortError" });
    assert.deepEqual([3, 4].map(() => q.getNowait()), [4, 3]);
  });
});

Deno.test("Queue: puts never pass a blocked putter while getters wait behind a grant", async () => {
  const q = new Queue<string>(1);
  const ctl = new AbortController();
  const a = q.get({ signal: ctl.signal });
  q.putNowait("x"); // to a, not yet delivered
  q.putNowait("y"); // fills the queue
  const blocked = q.put("w");
  const c = q.get(); // waits behind "x"; "y" is bound for it
  assert.equal(q.full(), false);
  // "w" waits first: this put waits behind it ...
  const later = q.put("v");
  // ... and one that cannot wait settles the grant: a keeps "x", c takes
  // "y", "w" moves in and fills the queue again.
  assert.throws(() => q.putNowait("z"), QueueFull);
  ctl.abort("too late");
  assert.equal(await a, "x");
  assert.equal(await c, "y");
  await blocked;
  assert.equal(await isPending(later), true);
  assert.deepEqual([q.getNowait(), q.qsize()], ["w", 1]);
  await later;
  assert.equal(q.getNowait(), "v");
});

for (
  const [name, make] of [
    ["Queue", (maxsize: number) => new Queue<number>(maxsize)],
    ["LifoQueue", (maxsize: number) => new LifoQueue<number>(maxsize)],
    ["PriorityQueue", (maxsize: number) => new PriorityQueue<number>(maxsize)],
  ] as const
) {
  Deno.test(
    `${name}: randomized gets, puts, aborts and timeouts in and out of the delivery window lose nothing${
      name === "Queue" ? " and keep FIFO order" : ""
    }`,
    async () => {
      await withFakeTime(async (clock) => {
        const random = seededRandom(name.length * 31 + 5);
        const pick = <T>(xs: T[]): T | undefined =>
          xs[Math.floor(random() * xs.length)];
        const options = (): WaitOptions & { controller?: AbortController } => {
          const o: WaitOptions & { controller?: AbortController } = {};
          if (random() < 0.5) {
            o.controller = new AbortController();
            o.signal = o.controller.signal;
          }
          const r = random();
          if (r < 0.1) o.timeout = 0;
          else if (r < 0.4) o.timeout = 1 + Math.floor(random() * 20);
          return o;
        };
        for (let round = 0; round < 150; round++) {
          const q = make(Math.floor(random() * 4));
          let seq = 0;
          let nextItem = 0;
          /** Successful gets: [call number, item]. */
          const got: Array<[number, number]> = [];
          /** Async gets in the order they resumed. */
          const resumed: number[] = [];
          const accepted = new Set<number>();
          const controllers: AbortController[] = [];
          const pending: Array<Promise<unknown>> = [];
          for (let step = 0; step < 60; step++) {
            const r = random();
            if (r < 0.12) {
              const item = nextItem++;
              try {
                q.putNowait(item);
                accepted.add(item);
              } catch (err) {
                assert.ok(err instanceof QueueFull);
              }
            } else if (r < 0.3) {
              const item = nextItem++;
              const { controller, ...o } = options();
              if (controller) controllers.push(controller);
              pending.push(
                q.put(item, o).then(() => accepted.add(item), () => {}),
              );
            } else if (r < 0.5) {
              const n = seq++;
              const { controller, ...o } = options();
              if (controller) controllers.push(controller);
              pending.push(
                q.get(o).then((item) => {
                  got.push([n, item]);
                  resumed.push(n);
                }, () => {}),
              );
            } else if (r < 0.57) {
              const n = seq++;
              try {
                got.push([n, q.getNowait()]);
              } catch (err) {
                assert.ok(err instanceof QueueEmpty);
              }
            } else if (r < 0.75) {
              pick(controllers)?.abort();
            } else if (r < 0.85) {
              await null;
            } else if (r < 0.93) {
              await flush();
            } else {
              // A synchronous tick fires timers inside the delivery window.
              clock.tick(Math.floor(random() * 8));
            }
            assert.equal(q.empty(), q.qsize() === 0);
            assert.ok(q.qsize() >= 0);
          }
          for (const c of controllers) c.abort();
          clock.tick(100);
          // Waits with neither signal nor timeout are left: feed the
          // getters, drain for the putters.
          for (await flush(); q.waiters > 0; await flush()) {
            if (!q.empty()) {
              got.push([seq++, q.getNowait()]);
            } else {
              q.putNowait(nextItem);
              accepted.add(nextItem++);
            }
          }
          await Promise.all(pending);
          assert.equal(clock.countTimers(), 0);
          while (!q.empty()) got.push([seq++, q.getNowait()]);
          const items = got.map(([, item]) => item);
          assert.equal(new Set(items).size, items.length, "no item twice");
          assert.deepEqual(
            [...items].sort((a, b) => a - b),
            [...accepted].sort((a, b) => a - b),
            "every accepted item taken once",
          );
          if (name === "Queue") {
            got.sort((a, b) => a[0] - b[0]);
            assert.deepEqual(
              got.map(([, item]) => item),
              [...accepted].sort((a, b) => a - b),
              "the n-th successful get takes the n-th accepted item",
            );
          }
          assert.deepEqual(
            resumed,
            [...resumed].sort((a, b) => a - b),
            "gets resume in the order they were called",
          );
          for (let i = 0; i < items.length; i++) q.taskDone();
          await q.join({ timeout: 0 });
        }
      });
    },
  );
}

Deno.test("Queue: an abort after the item was delivered changes nothing", async () => {
  const q = new Queue<string>();
  const { controller, signal, listeners } = countingSignal();
  const g = q.get({ signal });
  q.putNowait("x");
  assert.equal(await g, "x");
  assert.equal(listeners(), 0, "delivery dropped the listener");
  controller.abort();
  await null;
  assert.equal(q.qsize(), 0, "nothing was handed back");
});

Deno.test("Queue: a getter timer firing between grant and delivery hands the item back", async () => {
  await withFakeTime(async (clock) => {
    const q = new Queue<string>();
    const g = q.get({ timeout: 10 });
    clock.tick(9);
    q.putNowait("x"); // granted ...
    clock.tick(1); // ... but the fake timer fires before delivery
    await assert.rejects(g, /Queue.get\(\) timed out after 10 ms/);
    assert.equal(q.qsize(), 1);
    assert.equal(clock.countTimers(), 0);
    assert.equal(q.getNowait(), "x");
  });
});

Deno.test("Queue: a blocked put whose item was accepted resolves even if aborted in the same turn", async () => {
  const q = new Queue<string>(1);
  q.putNowait("a");
  const { controller, signal, listeners } = countingSignal();
  const putter = q.put("b", { signal });
  const other = q.put("c", { signal: new AbortController().signal });
  assert.equal(q.getNowait(), "a"); // b moves in now ...
  controller.abort(); // ... so its put has succeeded: the abort is too late
  assert.equal(listeners(), 0, "acceptance dropped the listener at once");
  await putter;
  assert.equal(q.getNowait(), "b");
  await other;
  assert.equal(q.getNowait(), "c");
});

Deno.test("Queue: an already aborted signal rejects with its reason and changes nothing", async () => {
  const q = new Queue<number>();
  const reason = new Error("already");
  const signal = AbortSignal.abort(reason);
  const put = await outcome(q.put(1, { signal }));
  assert.ok(!put.ok && put.error === reason);
  assert.equal(q.qsize(), 0);
  q.putNowait(2);
  const get = await outcome(q.get({ signal }));
  assert.ok(!get.ok && get.error === reason);
  assert.equal(q.qsize(), 1);
  const join = await outcome(q.join({ signal }));
  assert.ok(!join.ok && join.error === reason);
  // deno-lint-ignore no-explicit-any
  await assert.rejects(q.get({ timeout: "1" as any }), TypeError);
  assert.equal(q.qsize(), 1);
});

Deno.test("Queue: taskDone and join track unfinished work", async () => {
  await withFakeTime(async (clock) => {
    const q = new Queue<number>();
    assert.throws(() => q.taskDone(), RangeError);
    await q.join();
    q.putNowait(1);
    q.putNowait(2);
    const joined = q.join();
    const timed = q.join({ timeout: 100 });
    const aborted = q.join({ signal: AbortSignal.timeout(1) });
    clock.tick(1);
    await assert.rejects(aborted, { name: "TimeoutError" });
    q.getNowait();
    q.taskDone();
    assert.equal(await isPending(joined), true);
    q.getNowait();
    q.taskDone();
    await joined;
    await timed;
    assert.equal(clock.countTimers(), 0);
    assert.throws(() => q.taskDone(), /too many times/);
    q.putNowait(3);
    const late = q.join({ timeout: 20 });
    clock.tick(20);
    await assert.rejects(late, TimeoutError);
    assert.equal(q.waiters, 0);
  });
});

Deno.test("Queue: items handed to waiting getters count as unfinished", async () => {
  const q = new Queue<number>(1);
  const getter = q.get();
  q.putNowait(1);
  assert.equal(await getter, 1);
  assert.equal(await isPending(q.join({ timeout: 100_000 })), true);
  q.taskDone();
  await q.join({ timeout: 0 });
  // Items that came from blocked putters count too.
  q.putNowait(2);
  const put = q.put(3);
  q.getNowait();
  await put;
  q.getNowait();
  q.taskDone();
  assert.equal(await isPending(q.join({ timeout: 100_000 })), true);
  q.taskDone();
  await q.join({ timeout: 0 });
});

Deno.test("Queue: for await iterates items as they come", async () => {
  const q = new Queue<number>();
  const seen: number[] = [];
  const consumer = (async () => {
    for await (const n of q) {
      if (n < 0) break;
      seen.push(n);
    }
  })();
  for (const n of [1, 2, 3]) await q.put(n);
  await flush();
  q.putNowait(4);
  q.putNowait(-1);
  await consumer;
  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.equal(q.waiters, 0);
});

Deno.test("Queue: the task that hands an item over resumes before the receiver", async () => {
  const log: string[] = [];
  const q = new Queue<number>(1);
  const getter = (async () => log.push(`got ${await q.get()}`))();
  await q.put(1);
  log.push("put returned");
  await getter;
  q.putNowait(2);
  const putter = (async () => {
    await q.put(3);
    log.push("put 3 returned");
  })();
  assert.equal(await q.get(), 2);
  log.push("get returned");
  await putter;
  assert.deepEqual(log, [
    "put returned",
    "got 1",
    "get returned",
    "put 3 returned",
  ]);
});

Deno.test("Queue: join() waiters resume in FIFO order, with or without a signal", async () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  const controller = new AbortController();
  const woken: number[] = [];
  const joins = [{ signal: controller.signal }, {}, { timeout: 10_000 }, {}]
    .map((options, i) => queue.join(options).then(() => woken.push(i)));
  queue.getNowait();
  queue.taskDone();
  await Promise.all(joins);
  assert.deepEqual(woken, [0, 1, 2, 3]);
});

Deno.test("Queue: join waits for a consumer that calls taskDone at once (Tornado's producer/consumer)", async () => {
  for (const Cls of [Queue, PriorityQueue, LifoQueue]) {
    for (const maxsize of [0, 1, 3, 100]) {
      for (const consumers of [1, 2]) {
        const q: Queue<number> = new Cls<number>(maxsize);
        const history: number[] = [];
        for (let c = 0; c < consumers; c++) {
          (async () => {
            for (;;) {
              history.push(await q.get());
              q.taskDone();
            }
          })();
        }
        (async () => {
          for (let i = 0; i < 10; i++) await q.put(i);
        })();
        await q.join({ timeout: 1000 });
        const label = `${Cls.name}(${maxsize}), ${consumers} consumer(s)`;
        // The consumers stay parked in get(); nothing else is pending.
        assert.equal(history.length, 10, label);
        if (Cls === Queue) {
          assert.deepEqual(history, [...Array(10).keys()], label);
        } else {assert.deepEqual([...history].sort((a, b) => a - b), [
            ...Array(10).keys(),
          ], label);}
      }
    }
  }
});

Deno.test("PriorityQueue: returns the smallest first, ties in insertion order", () => {
  const random = seededRandom(42);
  const q = new PriorityQueue<[number, number]>();
  const items: Array<[number, number]> = [];
  for (let i = 0; i < 2000; i++) {
    const item: [number, number] = [Math.floor(random() * 50), i];
    items.push(item);
    q.putNowait([item[0], item[1]]);
    if (random() < 0.3) {
      items.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      assert.deepEqual(q.getNowait(), items.shift());
    }
  }
  items.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const item of items) assert.deepEqual(q.getNowait(), item);
  assert.equal(q.empty(), true);
});

Deno.test("PriorityQueue: stable for equal priorities with payload objects", () => {
  const q = new PriorityQueue<[number, { id: string }]>();
  const objs = ["a", "b", "c", "d", "e"].map((id) => ({ id }));
  q.putNowait([2, objs[0]!]);
  q.putNowait([1, objs[1]!]);
  q.putNowait([2, objs[2]!]);
  q.putNowait([1, objs[3]!]);
  q.putNowait([2, objs[4]!]);
  const order = [];
  while (!q.empty()) order.push(q.getNowait()[1].id);
  assert.deepEqual(order, ["b", "d", "a", "c", "e"]);
});

Deno.test("PriorityQueue: orders numbers, strings, bigints and nested arrays", () => {
  const nums = new PriorityQueue<number | bigint>();
  for (const n of [5, 3n, -1, 2.5, 10n, 0]) nums.putNowait(n);
  const outNums = [];
  while (!nums.empty()) outNums.push(nums.getNowait());
  assert.deepEqual(outNums, [-1, 0, 2.5, 3n, 5, 10n]);

  const strs = new PriorityQueue<string>();
  for (const s of ["pear", "apple", "fig", "apple"]) strs.putNowait(s);
  assert.deepEqual(
    [strs.getNowait(), strs.getNowait(), strs.getNowait(), strs.getNowait()],
    ["apple", "apple", "fig", "pear"],
  );

  const tuples = new PriorityQueue<unknown[]>();
  const input = [[1, "b"], [1, "a"], [0, "z"], [1], [1, "a", 0], [[2, 1], 0], [
    [2, 0],
    9,
  ]];
  for (const t of input) tuples.putNowait(t);
  const out = [];
  while (!tuples.empty()) out.push(tuples.getNowait());
  assert.deepEqual(out, [
    [0, "z"],
    [1],
    [1, "a"],
    [1, "a", 0],
    [1, "b"],
    [[2, 0], 9],
    [[2, 1], 0],
  ]);

  // Mixed kinds never throw: numbers < NaN < strings < arrays < others.
  const mixed = new PriorityQueue<unknown>();
  const other = { x: 1 };
  for (const v of [other, [1], "s", NaN, 3]) mixed.putNowait(v);
  const outMixed = [];
  while (!mixed.empty()) outMixed.push(mixed.getNowait());
  assert.deepEqual(outMixed, [3, NaN, "s", [1], other]);
});

Deno.test("PriorityQueue: a custom comparator, stable for ties", async () => {
  type Job = { due: number; name: string };
  const q = new PriorityQueue<Job>(0, (a, b) => b.due - a.due); // largest first
  const jobs = [
    { due: 1, name: "a" },
    { due: 3, name: "b" },
    { due: 1, name: "c" },
    { due: 3, name: "d" },
    { due: 2, name: "e" },
  ];
  for (const job of jobs) await q.put(job);
  const names = [];
  while (!q.empty()) names.push((await q.get()).name);
  assert.deepEqual(names, ["b", "d", "e", "a", "c"]);
});

Deno.test("PriorityQueue: a throwing comparator fails the call and loses nothing", async () => {
  let broken = false;
  const q = new PriorityQueue<number>(0, (a, b) => {
    if (broken) throw new Error("comparator broke");
    return a - b;
  });
  for (const n of [5, 1, 4, 2, 3]) q.putNowait(n);
  broken = true;
  assert.throws(() => q.putNowait(0), /comparator broke/);
  await assert.rejects(q.put(0), /comparator broke/);
  assert.throws(() => q.getNowait(), /comparator broke/);
  await assert.rejects(q.get(), /comparator broke/);
  assert.equal(q.qsize(), 5);
  broken = false;
  const out = [];
  while (!q.empty()) out.push(q.getNowait());
  assert.deepEqual(out, [1, 2, 3, 4, 5]);
});

Deno.test("PriorityQueue: a blocked putter's item competes when a slot frees", async () => {
  const q = new PriorityQueue<number>(2);
  q.putNowait(5);
  q.putNowait(7);
  const put = q.put(1);
  assert.equal(await q.get(), 1, "the putter's item enters before the take");
  await put;
  assert.deepEqual([q.getNowait(), q.getNowait()], [5, 7]);
});

Deno.test("LifoQueue: returns the most recent item first", async () => {
  const q = new LifoQueue<number>(3);
  for (const n of [1, 2, 3]) await q.put(n);
  assert.equal(q.full(), true);
  const put = q.put(4);
  assert.equal(await q.get(), 4, "as in Tornado the blocked item enters first");
  await put;
  assert.deepEqual([q.getNowait(), q.getNowait(), q.getNowait()], [3, 2, 1]);
  const g = q.get();
  q.putNowait(9);
  assert.equal(await g, 9);
});

Deno.test("no promise from queues/ causes an unhandled rejection when ignored", async () => {
  const unhandled = await countUnhandledRejections(() => {
    const q = new Queue<number>(1);
    q.putNowait(0);
    const pq = new PriorityQueue<number>(0, () => {
      throw new Error("bad compare");
    });
    pq.putNowait(1);
    const ctl = new AbortController();
    for (
      const start of [
        () => q.put(1, { timeout: 1 }),
        () => q.put(1, { timeout: 0 }),
        () => q.put(1, { signal: ctl.signal }),
        () => q.join({ timeout: 1 }),
        () => q.join({ signal: ctl.signal }),
        () => q.get({ signal: AbortSignal.abort() }),
        () => new Queue().get({ timeout: 1 }),
        () => new Queue().get({ signal: ctl.signal }),
        () => pq.put(2),
        // deno-lint-ignore no-explicit-any
        () => q.get({ signal: "no" as any }),
      ]
    ) {
      start(); // ignored on purpose
    }
    ctl.abort();
  }, { settleMs: 10 });
  assert.equal(unhandled, 0);
});

Deno.test("Queue: an options getter that throws makes put, get and join reject, not throw", async () => {
  const boom = new Error("getter");
  const options = {
    get signal(): AbortSignal {
      throw boom;
    },
  };
  const queue = new Queue<number>(1);
  const calls: Array<[string, () => Promise<unknown>]> = [
    ["get", () => queue.get(options)],
    ["put", () => queue.put(1, options)],
    ["join", () => queue.join(options)],
  ];
  for (const [name, call] of calls) {
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => p = call(), name);
    await assert.rejects(p!, (err) => err === boom, name);
  }
  assert.equal(queue.qsize(), 0);
});

Deno.test("Queue: put, get and join read each option once and wait on the values they read", async (t) => {
  const rejectsAfter5ms = (what: string) => (waiting: Promise<unknown>) =>
    assert.rejects(waiting, {
      name: "TimeoutError",
      message: `${what} timed out after 5 ms`,
    });
  // Each wait times out or is aborted, so these stay as they are.
  const empty = new Queue<number>();
  const full = new Queue<number>(1);
  full.putNowait(1);
  const cases: Array<[string, (options: WaitOptions) => Promise<unknown>]> = [
    ["get", (o) => empty.get(o)],
    ["put", (o) => full.put(2, o)],
    ["join", (o) => full.join(o)],
  ];
  for (const [name, start] of cases) {
    await t.step(
      name,
      () =>
        assertWaitReadsOptionsOnce(start, rejectsAfter5ms(`Queue.${name}()`)),
    );
  }
  assert.deepEqual([full.qsize(), full.getNowait()], [1, 1]);
});
