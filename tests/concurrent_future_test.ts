// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import {
  CancelledError,
  chainFuture,
  Future,
  futureSetExceptionUnlessCancelled,
  futureSetResultUnlessCancelled,
  InvalidStateError,
  isFuture,
} from "@squall/io/concurrent";
import { setErrorRouter } from "../ioloop/_report.ts";
import {
  captureConsoleError,
  countUnhandledRejections,
  macrotask,
} from "./_capture.ts";

Deno.test("Future results and exceptions", async (t) => {
  await t.step("a pending future is not done and has no result yet", () => {
    const f = new Future<number>();
    assert.equal(f.done(), false);
    assert.equal(f.cancelled(), false);
    assert.throws(() => f.result(), InvalidStateError);
    assert.throws(() => f.exception(), InvalidStateError);
  });

  await t.step(
    "setResult() makes it done; await gives the result",
    async () => {
      const f = new Future<number>();
      f.setResult(3);
      assert.equal(f.done(), true);
      assert.equal(f.result(), 3);
      assert.equal(f.exception(), undefined);
      assert.equal(await f, 3);
      assert.equal(await f, 3);
    },
  );

  await t.step(
    "setResult() and futureSetResultUnlessCancelled() refuse a thenable with TypeError",
    async () => {
      const rejected = Promise.reject(new Error("inner"));
      rejected.catch(() => {});
      const thenables: unknown[] = [
        rejected,
        new Promise(() => {}),
        new Future<number>(),
        { then() {} },
        Object.assign(() => {}, { then() {} }),
      ];
      for (const value of thenables) {
        const f = new Future<unknown>();
        assert.throws(() => f.setResult(value), {
          name: "TypeError",
          message: /Cannot setResult with a thenable.*chainFuture/,
        });
        assert.equal(f.done(), false); // still pending, still settleable
        assert.throws(() => futureSetResultUnlessCancelled(f, value), {
          name: "TypeError",
          message: /futureSetResultUnlessCancelled with a thenable/,
        });
        f.cancel(); // a cancelled future refuses it too: it is misuse
        assert.throws(
          () => futureSetResultUnlessCancelled(f, value),
          TypeError,
        );
      }
      const f = new Future<unknown>();
      f.setResult({ then: "not a function" });
      assert.deepEqual(await f, { then: "not a function" });
    },
  );

  await t.step("await before settling resolves when it settles", async () => {
    const f = new Future<string>();
    setTimeout(() => f.setResult("later"), 1);
    assert.equal(await f, "later");
  });

  await t.step(
    "setException() makes result() throw the same error",
    async () => {
      const f = new Future<number>();
      const err = new RangeError("nope");
      f.setException(err);
      assert.equal(f.done(), true);
      assert.equal(f.exception(), err);
      assert.throws(() => f.result(), (e) => e === err);
      await assert.rejects(f, (e) => e === err);
    },
  );

  await t.step("a non-Error exception is kept as is", async () => {
    const f = new Future<number>();
    f.setException("a string");
    assert.equal(f.exception(), "a string");
    await assert.rejects(f.then(), (e) => e === "a string");
  });

  await t.step("a pending then() rejects when the future fails", async () => {
    const f = new Future<number>();
    const waiting = f.then((n) => n * 2);
    const err = new Error("late failure");
    f.setException(err);
    await assert.rejects(waiting, (e) => e === err);
  });

  await t.step("settling twice throws InvalidStateError", () => {
    const ok = new Future<number>();
    ok.setResult(1);
    assert.throws(() => ok.setResult(2), InvalidStateError);
    assert.throws(() => ok.setException(new Error()), InvalidStateError);
    assert.equal(ok.result(), 1);
    const failed = new Future<number>();
    const err = new Error("first");
    failed.setException(err);
    assert.throws(() => failed.setResult(2), {
      name: "InvalidStateError",
      message: "Cannot setResult: the future is already done",
    });
    assert.equal(failed.exception(), err);
  });

  await t.step("then, catch and finally behave like a promise's", async () => {
    const f = new Future<number>();
    f.setResult(2);
    assert.equal(await f.then((n) => n + 1), 3);
    assert.equal(await f.catch(() => 0), 2);
    let ran = 0;
    assert.equal(await f.finally(() => void ran++), 2);
    const g = new Future<number>();
    g.setException(new Error("x"));
    assert.equal(await g.catch((e) => (e as Error).message), "x");
    assert.equal(await g.then(() => "no", () => "handled"), "handled");
    await assert.rejects(g.finally(() => void ran++), { message: "x" });
    assert.equal(ran, 2);
  });

  await t.step(
    "works with Promise.all, Promise.race and Promise.resolve",
    async () => {
      const a = new Future<number>();
      const b = new Future<string>();
      const all = Promise.all([a, b, 3]);
      b.setResult("b");
      a.setResult(1);
      assert.deepEqual(await all, [1, "b", 3]);
      const c = new Future<number>();
      const race = Promise.race([c, new Promise(() => {})]);
      c.setResult(9);
      assert.equal(await race, 9);
      assert.equal(await Promise.resolve(c), 9);
    },
  );

  await t.step("has a Future toStringTag", () => {
    assert.equal(
      Object.prototype.toString.call(new Future()),
      "[object Future]",
    );
  });
});

Deno.test("Future.cancel()", async (t) => {
  await t.step("cancels a pending future once", async () => {
    const f = new Future<number>();
    assert.equal(f.cancel(), true);
    assert.equal(f.cancelled(), true);
    assert.equal(f.done(), true);
    assert.equal(f.cancel(), false);
    assert.throws(() => f.result(), CancelledError);
    assert.throws(() => f.exception(), CancelledError);
    await assert.rejects(f, CancelledError);
  });

  await t.step("rejects a then() that was waiting", async () => {
    const f = new Future<number>();
    const waiting = f.then((n) => n);
    f.cancel();
    await assert.rejects(waiting, CancelledError);
  });

  await t.step("returns false once done and changes nothing", async () => {
    const f = new Future<number>();
    f.setResult(1);
    assert.equal(f.cancel(), false);
    assert.equal(f.cancelled(), false);
    assert.equal(await f, 1);
    const g = new Future<number>();
    g.setException(new Error("x"));
    assert.equal(g.cancel(), false);
    assert.equal(g.cancelled(), false);
  });

  await t.step("settling a cancelled future throws InvalidStateError", () => {
    const f = new Future<number>();
    f.cancel();
    assert.throws(() => f.setResult(1), {
      name: "InvalidStateError",
      message: "Cannot setResult: the future is already cancelled",
    });
    assert.throws(() => f.setException(new Error()), InvalidStateError);
    assert.equal(f.cancelled(), true);
  });

  await t.step(
    "the *UnlessCancelled helpers race safely with cancel()",
    async () => {
      const f = new Future<number>();
      f.cancel();
      futureSetResultUnlessCancelled(f, 1);
      const err = new Error("lost cause");
      const reports: unknown[][] = [];
      setErrorRouter((e, where) => void reports.push([e, where]));
      try {
        futureSetExceptionUnlessCancelled(f, err);
      } finally {
        setErrorRouter(null);
      }
      assert.equal(f.cancelled(), true);
      assert.equal(reports.length, 1);
      assert.equal(reports[0]![0], err);
      assert.match(String(reports[0]![1]), /already cancelled/);

      const g = new Future<number>();
      futureSetResultUnlessCancelled(g, 5);
      assert.equal(await g, 5);
      assert.throws(
        () => futureSetResultUnlessCancelled(g, 6),
        InvalidStateError,
      );
      const h = new Future<number>();
      futureSetExceptionUnlessCancelled(h, err);
      assert.equal(h.exception(), err);
      assert.throws(
        () => futureSetExceptionUnlessCancelled(h, err),
        InvalidStateError,
      );
    },
  );

  await t.step(
    "a cancelled future's error defaults go to console.error",
    async () => {
      const f = new Future<void>();
      f.cancel();
      const err = new Error("reported");
      const calls = await captureConsoleError(() =>
        futureSetExceptionUnlessCancelled(f, err)
      );
      assert.equal(calls.length, 1);
      assert.ok(calls[0]!.includes(err));
    },
  );
});

Deno.test("Future.addDoneCallback()", async (t) => {
  await t.step(
    "runs each callback in the async context of whoever added it, not of the settler",
    async () => {
      const store = new AsyncLocalStorage<string>();
      const seen: Array<[string, string | undefined]> = [];
      const pending = new Future<void>();
      store.run("adder 1", () => {
        pending.addDoneCallback(() => seen.push(["1", store.getStore()]));
      });
      store.run("adder 2", () => {
        pending.addDoneCallback(() => seen.push(["2", store.getStore()]));
      });
      pending.addDoneCallback(() => seen.push(["3", store.getStore()]));
      store.run("settler", () => pending.setResult());
      const done = new Future<void>();
      done.setResult();
      store.run("late adder", () => {
        done.addDoneCallback(() => seen.push(["4", store.getStore()]));
      });
      await macrotask();
      assert.deepEqual(seen, [
        ["1", "adder 1"],
        ["2", "adder 2"],
        ["3", undefined],
        ["4", "late adder"],
      ]);
    },
  );

  await t.step(
    "runs each callback once, after settling, not inline",
    async () => {
      const f = new Future<number>();
      const seen: string[] = [];
      f.addDoneCallback((done) => {
        assert.equal(done, f);
        seen.push(`a${done.result()}`);
      });
      f.addDoneCallback(() => seen.push("b"));
      f.setResult(1);
      assert.deepEqual(seen, []);
      await macrotask();
      assert.deepEqual(seen, ["a1", "b"]);
      await macrotask();
      assert.deepEqual(seen, ["a1", "b"]);
    },
  );

  await t.step(
    "on a done future runs soon, not inline, in order added",
    async () => {
      const f = new Future<number>();
      f.setResult(1);
      const seen: number[] = [];
      f.addDoneCallback(() => seen.push(1));
      f.addDoneCallback(() => seen.push(2));
      assert.deepEqual(seen, []);
      await Promise.resolve();
      assert.deepEqual(seen, [1, 2]);
    },
  );

  await t.step(
    "callbacks added before and after settling keep their order",
    async () => {
      const f = new Future<void>();
      const seen: string[] = [];
      f.addDoneCallback(() => {
        seen.push("first");
        f.addDoneCallback(() => seen.push("added by first"));
      });
      f.addDoneCallback(() => seen.push("second"));
      f.setResult();
      f.addDoneCallback(() => seen.push("after settle"));
      await macrotask();
      assert.deepEqual(seen, [
        "first",
        "second",
        "after settle",
        "added by first",
      ]);
    },
  );

  await t.step("runs for failed and cancelled futures too", async () => {
    const failed = new Future<void>();
    const cancelled = new Future<void>();
    const seen: string[] = [];
    failed.addDoneCallback((f) =>
      seen.push(String((f.exception() as Error).message))
    );
    cancelled.addDoneCallback((f) => seen.push(`cancelled=${f.cancelled()}`));
    failed.setException(new Error("bad"));
    cancelled.cancel();
    await macrotask();
    assert.deepEqual(seen, ["bad", "cancelled=true"]);
  });

  await t.step(
    "a throwing callback is reported and the others still run",
    async () => {
      const f = new Future<void>();
      const seen: string[] = [];
      const boom = new Error("callback boom");
      f.addDoneCallback(function throwsBoom() {
        throw boom;
      });
      f.addDoneCallback(() => seen.push("after"));
      f.addDoneCallback(() => Promise.reject(new Error("async boom")));
      const calls = await captureConsoleError(async () => {
        f.setResult();
        await macrotask();
      });
      assert.deepEqual(seen, ["after"]);
      assert.equal(calls.length, 2);
      assert.match(String(calls[0]![0]), /Future done callback throwsBoom/);
      assert.equal(calls[0]![1], boom);
      assert.equal((calls[1]![1] as Error).message, "async boom");
    },
  );

  await t.step(
    "a throwing callback on a done future is reported too",
    async () => {
      const f = new Future<void>();
      f.setResult();
      const calls = await captureConsoleError(async () => {
        f.addDoneCallback(() => {
          throw new Error("late boom");
        });
        await macrotask();
      });
      assert.equal(calls.length, 1);
      assert.equal((calls[0]![1] as Error).message, "late boom");
    },
  );

  await t.step("rejects a callback that is not a function", () => {
    const f = new Future<void>();
    assert.throws(
      () => f.addDoneCallback("nope" as unknown as () => void),
      TypeError,
    );
  });
});

Deno.test("Futures never cause unhandled rejections", async () => {
  const count = await countUnhandledRejections(async () => {
    const never = new Future<void>();
    never.setException(new Error("never awaited"));
    const cancelled = new Future<void>();
    cancelled.cancel();
    // Whoever called then() and dropped it gets nothing unhandled from the
    // future itself: only the derived promise matters, and here it handles.
    const watched = new Future<void>();
    watched.then(undefined, () => {});
    watched.setException(new Error("handled by then"));
    const awaitedLater = new Future<void>();
    awaitedLater.setException(new Error("awaited later"));
    await macrotask();
    await assert.rejects(awaitedLater, { message: "awaited later" });
    // Chaining from failed and cancelled sources into futures nobody awaits.
    chainFuture(Promise.reject(new Error("chained")), new Future());
    chainFuture(never, new Future());
    chainFuture(cancelled, new Future());
  });
  assert.equal(count, 0);
});

Deno.test("isFuture() accepts Futures and native promises only", () => {
  assert.equal(isFuture(new Future()), true);
  assert.equal(isFuture(Promise.resolve()), true);
  class MyPromise<T> extends Promise<T> {}
  assert.equal(isFuture(MyPromise.resolve(1)), true);
  assert.equal(isFuture({ then: () => {} }), false);
  assert.equal(isFuture(null), false);
  assert.equal(isFuture(undefined), false);
  assert.equal(isFuture(() => {}), false);
});

Deno.test("chainFuture()", async (t) => {
  await t.step(
    "copies a Future's result, exception or cancellation",
    async () => {
      const a = new Future<number>();
      const b = new Future<number>();
      chainFuture(a, b);
      a.setResult(4);
      assert.equal(await b, 4);

      const c = new Future<number>();
      const d = new Future<number>();
      chainFuture(c, d);
      const err = new Error("c failed");
      c.setException(err);
      await assert.rejects(d, (e) => e === err);

      const e = new Future<number>();
      const f = new Future<number>();
      chainFuture(e, f);
      e.cancel();
      await assert.rejects(f, CancelledError);
      assert.equal(f.cancelled(), true);
    },
  );

  await t.step("copies from a promise or a thenable", async () => {
    const b = new Future<string>();
    chainFuture(Promise.resolve("p"), b);
    assert.equal(await b, "p");
    const c = new Future<string>();
    const err = new Error("rejected");
    chainFuture(Promise.reject(err), c);
    await assert.rejects(c, (e) => e === err);
    const d = new Future<string>();
    const thenable = {
      then(ok: (v: string) => void) {
        ok("thenable");
      },
    } as unknown as PromiseLike<string>;
    chainFuture(thenable, d);
    assert.equal(await d, "thenable");
    // A thenable that fulfils with another thenable is followed, as a
    // promise would be.
    const e = new Future<string>();
    const nested = {
      then(ok: (v: unknown) => void) {
        ok(Promise.resolve("nested"));
      },
    } as unknown as PromiseLike<string>;
    chainFuture(nested, e);
    assert.equal(await e, "nested");
  });

  await t.step("a thenable whose then() throws fails the target", async () => {
    const b = new Future<string>();
    const err = new Error("broken then");
    const broken = {
      then() {
        throw err;
      },
    } as unknown as PromiseLike<string>;
    chainFuture(broken, b);
    assert.equal(b.exception(), err);
    await assert.rejects(b, (e) => e === err);
  });

  await t.step("leaves a target that is already done alone", async () => {
    const a = new Future<number>();
    const b = new Future<number>();
    chainFuture(a, b);
    b.setResult(1);
    a.setResult(2);
    const c = new Future<number>();
    chainFuture(Promise.reject(new Error("ignored")), c);
    c.cancel();
    await macrotask();
    assert.equal(b.result(), 1);
    assert.equal(c.cancelled(), true);
  });

  await t.step("rejects bad arguments with TypeError", () => {
    assert.throws(
      () => chainFuture(Promise.resolve(1), {} as Future<number>),
      /the target is not a Future/,
    );
    assert.throws(
      () => chainFuture(42 as unknown as Promise<number>, new Future()),
      /the source is not a Future or a thenable/,
    );
  });
});
