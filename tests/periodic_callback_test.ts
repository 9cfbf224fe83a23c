// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { CancelledError } from "../concurrent/errors.ts";
import { IOLoop, PeriodicCallback, type TimeoutHandle } from "../ioloop/mod.ts";

/**
 * A current loop on a fake clock. `skew` moves the loop's clock without
 * firing timers, to simulate a callback that takes a while.
 */
function fakeLoop() {
  const clock = FakeTimers.install({
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"],
  });
  const errors: { err: unknown; where: string }[] = [];
  const state = {
    clock,
    errors,
    skew: 0,
    loop: null as unknown as IOLoop,
    /** The loop's clock relative to the start. */
    now: 0,
    [Symbol.dispose]() {
      state.loop.close();
      clock.uninstall();
    },
  };
  const start = clock.now;
  state.loop = new IOLoop({
    time: () => clock.now + state.skew,
    onError: (err, where) => errors.push({ err, where }),
  });
  Object.defineProperty(state, "now", {
    get: () => clock.now + state.skew - start,
  });
  return state;
}

Deno.test("PeriodicCallback beats once per period, first after one period", async () => {
  using t = fakeLoop();
  const times: number[] = [];
  const pc = new PeriodicCallback(() => {
    times.push(t.now);
  }, 100);
  pc.start();
  assert.equal(pc.isRunning(), true);
  await t.clock.tickAsync(99);
  assert.deepEqual(times, []);
  await t.clock.tickAsync(1);
  assert.deepEqual(times, [100]);
  await t.clock.tickAsync(300);
  assert.deepEqual(times, [100, 200, 300, 400]);
  pc.stop();
});

Deno.test("PeriodicCallback skips missed beats after a slow synchronous call", async () => {
  using t = fakeLoop();
  const times: number[] = [];
  const pc = new PeriodicCallback(() => {
    times.push(t.now);
    if (times.length === 1) t.skew += 250; // this call takes 250 ms
  }, 100);
  pc.start();
  await t.clock.tickAsync(450); // the loop's clock reads 700 after it
  // 100 ran until 350: the beats at 200 and 300 are skipped, the schedule
  // stays on multiples of the period.
  assert.deepEqual(times, [100, 400, 500, 600, 700]);
  pc.stop();
});

Deno.test("PeriodicCallback does not start a call while an async one is pending", async () => {
  using t = fakeLoop();
  const starts: number[] = [];
  const ends: number[] = [];
  const pc = new PeriodicCallback(async () => {
    starts.push(t.now);
    if (starts.length === 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    ends.push(t.now);
  }, 100);
  pc.start();
  await t.clock.tickAsync(300);
  assert.deepEqual(starts, [100]);
  await t.clock.tickAsync(200);
  assert.deepEqual(ends, [350, 400, 500]);
  assert.deepEqual(starts, [100, 400, 500]);
  pc.stop();
});

Deno.test("PeriodicCallback reports errors to the loop current at start() and keeps beating", async () => {
  using t = fakeLoop();
  const other = new IOLoop({ onError: () => assert.fail("wrong loop") });
  t.loop.makeCurrent();
  let calls = 0;
  const pc = new PeriodicCallback(function flaky() {
    calls++;
    if (calls === 1) throw new Error("sync failure");
    if (calls === 2) return Promise.reject(new Error("async failure"));
    if (calls === 3) {
      return {
        then() {
          throw new Error("broken thenable");
        },
      };
    }
    return undefined;
  }, 10);
  pc.start();
  other.makeCurrent();
  await t.clock.tickAsync(40);
  assert.equal(calls, 4);
  assert.equal(pc.isRunning(), true);
  assert.deepEqual(
    t.errors.map((e) => [(e.err as Error).message, e.where]),
    [
      ["sync failure", "periodic callback flaky"],
      ["async failure", "periodic callback flaky"],
      ["broken thenable", "periodic callback flaky"],
    ],
  );
  pc.stop();
  other.close();
});

Deno.test("PeriodicCallback does not report a CancelledError (Tornado 6) and keeps beating", async () => {
  using t = fakeLoop();
  let calls = 0;
  const pc = new PeriodicCallback(() => {
    calls++;
    if (calls === 1) throw new CancelledError();
    if (calls === 2) return Promise.reject(new CancelledError());
    return undefined;
  }, 10);
  pc.start();
  await t.clock.tickAsync(30);
  assert.equal(calls, 3);
  assert.deepEqual(t.errors, []);
  pc.stop();
});

Deno.test("PeriodicCallback applies jitter as Tornado does: period * (1 + jitter * (random - 0.5))", async () => {
  using t = fakeLoop();
  const random = Math.random;
  const draws = [0, 1, 0.5];
  let i = 0;
  Math.random = () => draws[i++ % draws.length]!;
  try {
    const times: number[] = [];
    const pc = new PeriodicCallback(
      () => {
        times.push(t.now);
      },
      100,
      0.5,
    );
    pc.start();
    await t.clock.tickAsync(500);
    pc.stop();
    // Periods 75, 125, 100, 75, 125, ...
    assert.deepEqual(times, [75, 200, 300, 375, 500]);
  } finally {
    Math.random = random;
  }
});

Deno.test("PeriodicCallback jitter keeps every period within its bounds", async (t) => {
  for (const jitter of [0.4, 1.9]) {
    await t.step(`jitter ${jitter}`, async () => {
      using fake = fakeLoop();
      const times: number[] = [];
      const pc = new PeriodicCallback(
        () => {
          times.push(fake.now);
        },
        100,
        jitter,
      );
      pc.start();
      await fake.clock.tickAsync(20_000);
      pc.stop();
      assert.ok(times.length > 100);
      const gaps = times.slice(1).map((time, k) => time - times[k]!);
      const low = 100 * (1 - jitter / 2);
      const high = 100 * (1 + jitter / 2);
      // ceil() in the host timer's delay may add under 1 ms.
      for (const gap of gaps) {
        assert.ok(gap >= low - 1e-9 && gap <= high + 1, `${gap}`);
      }
      const spread = 100 * jitter / 4;
      assert.ok(Math.min(...gaps) < 100 - spread);
      assert.ok(Math.max(...gaps) > 100 + spread);
    });
  }
});

Deno.test("PeriodicCallback.stop() ends the beats, also from inside the callback", async () => {
  using t = fakeLoop();
  let calls = 0;
  const pc = new PeriodicCallback(() => {
    if (++calls === 2) pc.stop();
  }, 10);
  pc.start();
  pc.start(); // already running: no second schedule
  await t.clock.tickAsync(100);
  assert.equal(calls, 2);
  assert.equal(pc.isRunning(), false);
  pc.stop(); // idempotent
  // It can be started again, on a fresh schedule.
  pc.start();
  await t.clock.tickAsync(10);
  assert.equal(calls, 3);
  pc.stop();
  assert.equal(t.clock.countTimers(), 0);
});

Deno.test("PeriodicCallback restarted during a pending async call does not double its beats", async () => {
  using t = fakeLoop();
  const starts: number[] = [];
  const pc = new PeriodicCallback(async () => {
    starts.push(t.now);
    if (starts.length === 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }, 100);
  pc.start();
  await t.clock.tickAsync(110); // call 1 pending until 150
  pc.stop();
  pc.start(); // next beat at 210
  await t.clock.tickAsync(300);
  assert.deepEqual(starts, [100, 210, 310, 410]);
  pc.stop();
});

Deno.test("PeriodicCallback stops quietly when its loop is closed", async () => {
  using t = fakeLoop();
  let calls = 0;
  const pc = new PeriodicCallback(async () => {
    calls++;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }, 10);
  pc.start();
  await t.clock.tickAsync(12);
  t.loop.close();
  await t.clock.tickAsync(100);
  assert.equal(calls, 1);
  assert.equal(pc.isRunning(), false);
  assert.deepEqual(t.errors, []);
});

Deno.test("PeriodicCallback is stopped by its loop's close() between beats; start() then beats on the new current loop", async () => {
  using t = fakeLoop();
  let calls = 0;
  const pc = new PeriodicCallback(() => calls++, 10);
  pc.start();
  await t.clock.tickAsync(35);
  assert.equal(calls, 3);
  t.loop.close();
  assert.equal(pc.isRunning(), false); // at once, not at the next beat
  const next = new IOLoop({ time: () => t.clock.now });
  try {
    pc.start();
    assert.equal(pc.isRunning(), true);
    await t.clock.tickAsync(50);
    assert.equal(calls, 8);
    pc.stop();
    assert.equal(pc.isRunning(), false);
  } finally {
    next.close();
  }
  assert.deepEqual(t.errors, []);
});

Deno.test("PeriodicCallback stops quietly when its callback closes the loop", async () => {
  using t = fakeLoop();
  let calls = 0;
  const pc = new PeriodicCallback(() => {
    calls++;
    t.loop.close();
  }, 10);
  pc.start();
  await t.clock.tickAsync(100);
  assert.equal(calls, 1);
  assert.equal(pc.isRunning(), false);
  assert.deepEqual(t.errors, []);
});

Deno.test("PeriodicCallback.start() never runs on a closed loop", async () => {
  // stop() hands "current" back to the loop current before start(): here
  // one closed meanwhile.
  const closed = new IOLoop();
  const inner = new IOLoop({ makeCurrent: false });
  const running = inner.start();
  closed.close();
  inner.stop();
  await running;
  inner.close();
  const pc = new PeriodicCallback(() => {}, 1_000);
  pc.start();
  assert.equal(pc.isRunning(), true);
  const fresh = IOLoop.current(false);
  assert.ok(fresh !== null && fresh !== closed);
  pc.stop();
  fresh.close();
});

Deno.test("PeriodicCallback.start() throws, and stays stopped, when the loop refuses the first beat", () => {
  class RefusingLoop extends IOLoop {
    override addTimeout(): TimeoutHandle {
      throw new Error("Cannot schedule a timeout: refused");
    }
  }
  const loop = new RefusingLoop();
  const pc = new PeriodicCallback(() => {}, 10);
  assert.throws(() => pc.start(), { message: /refused/ });
  assert.equal(pc.isRunning(), false);
  loop.close();
});

Deno.test("PeriodicCallback rejects a bad callback, period or jitter", () => {
  const cb = () => {};
  assert.throws(
    () => new PeriodicCallback(1 as unknown as () => void, 10),
    TypeError,
  );
  for (const bad of [0, -1, NaN, Infinity]) {
    assert.throws(() => new PeriodicCallback(cb, bad), RangeError, `${bad}`);
  }
  assert.throws(
    () => new PeriodicCallback(cb, "10" as unknown as number),
    TypeError,
  );
  for (const bad of [-0.1, 2, 3, Infinity, NaN]) {
    assert.throws(() => new PeriodicCallback(cb, 10, bad), RangeError);
  }
  assert.throws(
    () => new PeriodicCallback(cb, 10, "0.1" as unknown as number),
    TypeError,
  );
  // Tornado takes any jitter; below 2 every period stays positive.
  assert.equal(new PeriodicCallback(cb, 0.5, 1).isRunning(), false);
  assert.equal(new PeriodicCallback(cb, 0.5, 1.99).isRunning(), false);
});
