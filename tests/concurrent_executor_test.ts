// Copyright the squall authors. MIT license.

// Methods decorated with runOnExecutor are declared async so that their
// declared type accepts the Future the decorator returns; most have nothing
// to await.
// deno-lint-ignore-file require-await

import assert from "node:assert/strict";
import {
  DummyExecutor,
  type Executor,
  Future,
  runOnExecutor,
  WorkerExecutor,
} from "@squall/io/concurrent";
import { countUnhandledRejections } from "./_capture.ts";

Deno.test("DummyExecutor.submit()", async (t) => {
  const executor = new DummyExecutor();

  await t.step("runs the function inline with its arguments", async () => {
    const calls: unknown[][] = [];
    const f = executor.submit(
      (a: number, b: string) => {
        calls.push([a, b]);
        return `${b}${a}`;
      },
      1,
      "x",
    );
    assert.deepEqual(calls, [[1, "x"]]);
    assert.equal(f.done(), true);
    assert.equal(f.result(), "x1");
    assert.equal(await f, "x1");
  });

  await t.step(
    "puts a thrown error in the future instead of throwing",
    async () => {
      const err = new Error("thrown");
      const f = executor.submit(() => {
        throw err;
      });
      assert.equal(f.exception(), err);
      await assert.rejects(f, (e) => e === err);
    },
  );

  await t.step("follows a returned promise", async () => {
    const { promise, resolve } = Promise.withResolvers<number>();
    const f = executor.submit(() => promise);
    assert.equal(f.done(), false);
    resolve(5);
    assert.equal(await f, 5);
    const err = new Error("async failure");
    const g = executor.submit(async () => {
      await Promise.resolve();
      throw err;
    });
    await assert.rejects(g, (e) => e === err);
  });

  await t.step("refuses what is not a function", () => {
    assert.throws(
      () => executor.submit(42 as unknown as () => void),
      /expected a function, got number/,
    );
  });

  await t.step(
    "ignored failures never become unhandled rejections",
    async () => {
      const count = await countUnhandledRejections(() => {
        executor.submit(() => {
          throw new Error("ignored sync");
        });
        executor.submit(() => Promise.reject(new Error("ignored async")));
      });
      assert.equal(count, 0);
    },
  );
});

/** An executor that records what it was asked to run. */
class RecordingExecutor implements Executor {
  readonly calls: { fn: unknown; args: unknown[] }[] = [];
  readonly inner: DummyExecutor = new DummyExecutor();
  submit<A extends unknown[], R>(
    fn: (...args: A) => R | PromiseLike<R>,
    ...args: A
  ): Future<Awaited<R>> {
    this.calls.push({ fn, args });
    return this.inner.submit(fn, ...args);
  }
}

const POOL_KEY = Symbol("pool");

class Account {
  executor: Executor | undefined = new RecordingExecutor();
  other: Executor = new DummyExecutor();
  [POOL_KEY]: Executor = new DummyExecutor();
  balance = 10;
  static executor: Executor = new DummyExecutor();
  static rate = 2;

  @runOnExecutor()
  async deposit(amount: number, note: string): Promise<string> {
    this.balance += amount;
    return `${note}:${this.balance}`;
  }

  @runOnExecutor()
  async fail(): Promise<never> {
    throw new RangeError(`cannot, balance ${this.balance}`);
  }

  @runOnExecutor({ executor: "other" })
  async viaOther(): Promise<number> {
    return this.balance;
  }

  @runOnExecutor({ executor: POOL_KEY })
  async viaSymbol(): Promise<number> {
    return this.balance * 10;
  }

  @runOnExecutor()
  static async scaled(n: number): Promise<number> {
    return n * this.rate;
  }
}

Deno.test("runOnExecutor()", async (t) => {
  await t.step(
    "submits the bound method and its arguments, returns a Future",
    async () => {
      const account = new Account();
      const call = account.deposit(5, "dep");
      assert.ok(call instanceof Future);
      assert.equal(await call, "dep:15");
      assert.equal(account.balance, 15);
      const recorder = account.executor as RecordingExecutor;
      assert.equal(recorder.calls.length, 1);
      assert.deepEqual(recorder.calls[0]!.args, [5, "dep"]);
      assert.match(String((recorder.calls[0]!.fn as () => void).name), /bound/);
    },
  );

  await t.step("an error in the method lands in the Future", async () => {
    const account = new Account();
    const call = account.fail();
    assert.ok(call instanceof Future);
    await assert.rejects(call, {
      name: "RangeError",
      message: "cannot, balance 10",
    });
  });

  await t.step("uses the named property, string or symbol", async () => {
    const account = new Account();
    assert.equal(await account.viaOther(), 10);
    assert.equal(await account.viaSymbol(), 100);
    assert.equal((account.executor as RecordingExecutor).calls.length, 0);
  });

  await t.step("looks the executor up at call time", async () => {
    const account = new Account();
    const replacement = new RecordingExecutor();
    account.executor = replacement;
    assert.equal(await account.deposit(1, "x"), "x:11");
    assert.equal(replacement.calls.length, 1);
  });

  await t.step("works on static methods", async () => {
    assert.equal(await Account.scaled(4), 8);
  });

  await t.step("a missing executor throws a TypeError that names it", () => {
    const account = new Account();
    account.executor = undefined;
    assert.throws(() => account.deposit(1, "x"), {
      name: "TypeError",
      message:
        "Cannot run deposit on an executor: this.executor is not an Executor (got undefined)",
    });
    assert.equal(account.balance, 10);
  });

  await t.step("refuses to decorate something that is not a method", () => {
    const decorate = runOnExecutor();
    const context = { kind: "field", name: "x" } as unknown as Parameters<
      typeof decorate
    >[1];
    assert.throws(
      () => decorate(() => 1, context),
      /it is a field, not a method/,
    );
    assert.throws(
      () => runOnExecutor({ executor: 5 as unknown as string }),
      TypeError,
    );
  });

  await t.step("a WorkerExecutor refuses the bound method clearly", () => {
    using pool = new WorkerExecutor({ size: 1 });
    class Offloaded {
      executor = pool;
      @runOnExecutor()
      async work(): Promise<number> {
        return 1;
      }
    }
    assert.throws(() => new Offloaded().work(), {
      name: "TypeError",
      message: /native or bound function/,
    });
  });
});
