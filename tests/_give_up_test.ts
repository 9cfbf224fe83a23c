// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import { giveUpOnMaking, giveUpWaiting } from "../iostream/_give_up.ts";
import { assertWaitReadsOptionsOnce } from "./_fickle_options.ts";
import { countingSignal } from "./_wait_helpers.ts";

class Thing {
  closed = 0;
  close(): void {
    this.closed++;
  }
}

Deno.test("giveUpOnMaking(): what the attempt makes after giving up is closed on arrival", async () => {
  const late = Promise.withResolvers<Thing>();
  const controller = new AbortController();
  let seen: AbortSignal | undefined;
  const making = giveUpOnMaking(
    { signal: controller.signal },
    "a make",
    "make()",
    (s) => {
      seen = s;
      return late.promise;
    },
  );
  const reason = new Error("stop");
  controller.abort(reason);
  await assert.rejects(making, (err) => err === reason);
  assert.equal(seen?.aborted, true, "the attempt's signal is aborted");
  assert.equal(seen?.reason, reason);
  const thing = new Thing();
  late.resolve(thing);
  await late.promise;
  await Promise.resolve();
  assert.equal(thing.closed, 1);
});

Deno.test("giveUpOnMaking(): a failure after giving up is dropped, not unhandled", async () => {
  const late = Promise.withResolvers<Thing>();
  const making = giveUpOnMaking(
    { timeout: 1 },
    "a make",
    "make()",
    () => late.promise,
  );
  await assert.rejects(making, {
    name: "TimeoutError",
    message: "make() timed out after 1 ms",
  });
  late.reject(new Error("too late to matter"));
  // An unhandled rejection would fail this test.
  await new Promise((resolve) => setTimeout(resolve, 5));
});

Deno.test("giveUpOnMaking(): success and failure in time pass through untouched", async () => {
  const thing = new Thing();
  assert.equal(
    await giveUpOnMaking(
      { timeout: 1000 },
      "a make",
      "make()",
      () => Promise.resolve(thing),
    ),
    thing,
  );
  assert.equal(thing.closed, 0);
  const err = new Error("refused");
  await assert.rejects(
    giveUpOnMaking(
      { timeout: 1000 },
      "a make",
      "make()",
      () => Promise.reject(err),
    ),
    (e) => e === err,
  );
  // A synchronous throw from the attempt rejects too.
  await assert.rejects(
    giveUpOnMaking({ timeout: 1000 }, "a make", "make()", () => {
      throw err;
    }),
    (e) => e === err,
  );
});

Deno.test("giveUpOnMaking(): giving up at once starts nothing", async () => {
  let started = false;
  const attempt = () => {
    started = true;
    return Promise.resolve(new Thing());
  };
  await assert.rejects(
    giveUpOnMaking({ timeout: 0 }, "a make", "make()", attempt),
    {
      name: "TimeoutError",
    },
  );
  const reason = new Error("gone");
  await assert.rejects(
    giveUpOnMaking(
      { signal: AbortSignal.abort(reason) },
      "a make",
      "make()",
      attempt,
    ),
    (e) => e === reason,
  );
  assert.equal(started, false);
});

Deno.test("giveUpOnMaking(): without a timeout or signal it runs the attempt with no signal", async () => {
  const thing = new Thing();
  let seen: AbortSignal | undefined | null = null;
  const made = await giveUpOnMaking({}, "a make", "make()", (signal) => {
    seen = signal;
    return Promise.resolve(thing);
  });
  assert.equal(made, thing);
  assert.equal(seen, undefined);
  await assert.rejects(
    giveUpOnMaking({ timeout: NaN }, "a make", "make()", () => {
      throw new Error("must not start");
    }),
    { name: "RangeError", message: /a make timeout/ },
  );
});

Deno.test("giveUpOnMaking(): reads the timeout and signal once and gives up on the values read", async () => {
  const seen: Array<AbortSignal | undefined> = [];
  await assertWaitReadsOptionsOnce(
    (options) =>
      giveUpOnMaking(options, "a make", "make()", (signal) => {
        seen.push(signal);
        return new Promise<Thing>(() => {}); // never made
      }),
    (making) =>
      assert.rejects(making, {
        name: "TimeoutError",
        message: "make() timed out after 5 ms",
      }),
  );
  assert.equal(seen.length, 3);
  assert.ok(seen.every((signal) => signal?.aborted), "each attempt was told");
});

Deno.test("giveUpWaiting(): waits sharing one signal add one abort listener to it", async () => {
  const { controller, signal, listeners, added, peak } = countingSignal();
  const reads = Array.from(
    { length: 20 },
    () => Promise.withResolvers<number>(),
  );
  const waits = reads.map((r, i) =>
    giveUpWaiting(r.promise, { signal, timeout: undefined }, `read ${i}`)
  );
  assert.deepEqual([listeners(), added()], [1, 1]);
  reads.forEach((r, i) => r.resolve(i));
  assert.deepEqual(await Promise.all(waits), [...Array(20).keys()]);
  assert.equal(listeners(), 0, "the last to settle removed it");
  // Followed again, then aborted: each wait rejects, in the order begun.
  const pending = reads.map(() => Promise.withResolvers<number>());
  const order: number[] = [];
  const reason = new Error("shutting down");
  const aborted = pending.map((r, i) =>
    giveUpWaiting(
      r.promise,
      { signal, timeout: undefined },
      "read",
      () => order.push(i),
    )
  );
  controller.abort(reason);
  assert.deepEqual(order, [...Array(20).keys()]);
  for (const p of aborted) await assert.rejects(p, (e) => e === reason);
  assert.deepEqual([listeners(), added(), peak()], [0, 2, 1]);
});
