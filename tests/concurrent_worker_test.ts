// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import {
  Future,
  sleep,
  withTimeout,
  WorkerExecutor,
} from "@squall/io/concurrent";
import { setErrorRouter } from "../ioloop/_report.ts";
import { countUnhandledRejections } from "./_capture.ts";
import { until } from "./_wait_helpers.ts";

function countPrimes(limit: number): number {
  let count = 0;
  for (let n = 2; n <= limit; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

/** Counts the tasks this worker ran, in the worker's own global scope. */
function runCount(): number {
  const g = globalThis as { squallRuns?: number };
  g.squallRuns = (g.squallRuns ?? 0) + 1;
  return g.squallRuns;
}

/** Marks task `i` started, then blocks until the main thread releases it. */
function gated(shared: SharedArrayBuffer, i: number): number {
  const cells = new Int32Array(shared);
  const n = cells.length / 2;
  Atomics.store(cells, i, 1);
  while (Atomics.load(cells, n + i) === 0) Atomics.wait(cells, n + i, 0, 1000);
  return i;
}

Deno.test("WorkerExecutor construction", async (t) => {
  await t.step("validates size and idleTimeout", () => {
    for (const size of [0, -1, 1.5, NaN, Infinity]) {
      assert.throws(() => new WorkerExecutor({ size }), {
        name: "RangeError",
        message: new RegExp(`size must be a positive integer, got ${size}`),
      });
    }
    for (const idleTimeout of [-1, NaN]) {
      assert.throws(() => new WorkerExecutor({ idleTimeout }), RangeError);
    }
  });

  await t.step("refuses a size or idleTimeout that is not a number", () => {
    for (const bad of ["2", 2n, true, {}]) {
      assert.throws(() => new WorkerExecutor({ size: bad as number }), {
        name: "TypeError",
        message: /size must be a number, got /,
      });
      assert.throws(() => new WorkerExecutor({ idleTimeout: bad as number }), {
        name: "TypeError",
        message: /idleTimeout must be a number, got /,
      });
    }
  });

  await t.step("defaults its size to navigator.hardwareConcurrency", () => {
    using pool = new WorkerExecutor();
    assert.equal(pool.size, navigator.hardwareConcurrency);
    assert.equal(pool.workers, 0);
  });

  await t.step(
    "throws a clear Error where there is no Worker (Node.js)",
    () => {
      const saved = globalThis.Worker;
      // deno-lint-ignore no-explicit-any
      delete (globalThis as any).Worker;
      try {
        assert.throws(() => new WorkerExecutor(), {
          name: "Error",
          message: /no Web Worker API/,
        });
      } finally {
        globalThis.Worker = saved;
      }
    },
  );
});

Deno.test("WorkerExecutor runs functions in workers", async (t) => {
  using pool = new WorkerExecutor({ size: 2 });

  await t.step(
    "a CPU-bound function gives the same answer as locally",
    async () => {
      assert.equal(await pool.submit(countPrimes, 20_000), countPrimes(20_000));
    },
  );

  await t.step("arguments and results are structured clones", async () => {
    const input = {
      when: new Date(0),
      bytes: new Uint8Array([1, 2, 3]),
      map: new Map([["a", 1]]),
      list: [1, 2],
    };
    const out = await pool.submit((x: typeof input) => {
      x.list.push(3); // mutates the worker's copy only
      return {
        year: x.when.getUTCFullYear(),
        sum: x.bytes.reduce((a, b) => a + b, 0),
        map: new Map([...x.map, ["b", 2]]),
        list: x.list,
      };
    }, input);
    assert.deepEqual(out, {
      year: 1970,
      sum: 6,
      map: new Map([["a", 1], ["b", 2]]),
      list: [1, 2, 3],
    });
    assert.deepEqual(input.list, [1, 2]);
  });

  await t.step("async functions are awaited in the worker", async () => {
    const f = pool.submit(async (ms: number) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return "slept";
    }, 1);
    assert.ok(f instanceof Future);
    assert.equal(await f, "slept");
  });

  await t.step("methods that do not use this run too", async () => {
    const obj = {
      double(x: number) {
        return x * 2;
      },
      async triple(x: number) {
        return await Promise.resolve(x * 3);
      },
    };
    class Maths {
      square(x: number): number {
        return x * x;
      }
    }
    assert.equal(await pool.submit(obj.double, 4), 8);
    assert.equal(await pool.submit(obj.triple, 4), 12);
    assert.equal(await pool.submit(Maths.prototype.square, 5), 25);
  });
});

Deno.test("WorkerExecutor reports failures clearly", async (t) => {
  using pool = new WorkerExecutor({ size: 1 });

  await t.step(
    "an error thrown in the worker keeps its class and message",
    async () => {
      await assert.rejects(
        pool.submit(() => {
          throw new Error("plain failure");
        }),
        (e) => e instanceof Error && e.message === "plain failure",
      );
      await assert.rejects(
        pool.submit((n: number) => {
          throw new RangeError(`bad ${n}`);
        }, 3),
        (e) => e instanceof RangeError && e.message === "bad 3",
      );
    },
  );

  await t.step("a custom error keeps its name and own properties", async () => {
    const f = pool.submit(() => {
      class HttpError extends Error {
        code = 418;
        constructor(message: string) {
          super(message);
          this.name = "HttpError";
        }
      }
      throw new HttpError("teapot");
    });
    await assert.rejects(f, (e) => {
      assert.ok(e instanceof Error);
      assert.equal(e.name, "HttpError");
      assert.equal(e.message, "teapot");
      assert.equal((e as Error & { code: number }).code, 418);
      return true;
    });
  });

  await t.step("a thrown non-Error value arrives as is", async () => {
    await assert.rejects(
      pool.submit(() => {
        throw { reason: "plain object" };
      }),
      (e) => {
        assert.deepEqual(e, { reason: "plain object" });
        return true;
      },
    );
  });

  await t.step(
    "a captured variable gives a ReferenceError that explains",
    async () => {
      const outer = 2;
      await assert.rejects(pool.submit((x: number) => x * outer, 1), {
        name: "ReferenceError",
        message: /outer is not defined \(in function .* must be self-contained/,
      });
    },
  );

  await t.step(
    "a method using this gives a TypeError that explains",
    async () => {
      class Counter {
        step = 2;
        next(x: number): number {
          return x + this.step;
        }
      }
      await assert.rejects(pool.submit(Counter.prototype.next, 1), {
        name: "TypeError",
        message: /uses `this`, which is undefined in a worker/,
      });
    },
  );

  await t.step("native and bound functions are refused at submit", () => {
    assert.throws(() => pool.submit(Math.max, 1, 2), {
      name: "TypeError",
      message: /Cannot run function max in a worker: it is a native or bound/,
    });
    const bound = ((x: number) => x).bind(null);
    assert.throws(() => pool.submit(bound, 1), /native or bound/);
    assert.throws(
      () => pool.submit("x => x" as unknown as () => void),
      /expected a function, got string/,
    );
  });

  await t.step("a private method's source cannot be rebuilt", async () => {
    class Secret {
      static get(): () => number {
        return Secret.#hidden;
      }
      static #hidden(): number {
        return 1;
      }
    }
    await assert.rejects(pool.submit(Secret.get()), {
      name: "SyntaxError",
      message: /Cannot rebuild the function from its source text/,
    });
  });

  await t.step(
    "arguments that cannot be cloned fail the task, not the pool",
    async () => {
      const f = pool.submit((g: () => void) => typeof g, () => {});
      await assert.rejects(f, {
        name: "DataCloneError",
        message: /Cannot send the arguments of function .* to a worker/,
      });
      assert.equal(await pool.submit(() => "still fine"), "still fine");
    },
  );

  await t.step(
    "a result that cannot be cloned fails the task, not the pool",
    async () => {
      await assert.rejects(pool.submit(() => () => 1), {
        name: "DataCloneError",
        message: /Cannot send the result back from the worker/,
      });
      assert.equal(await pool.submit(() => "still fine"), "still fine");
    },
  );

  await t.step("a function cannot close its worker", async () => {
    await assert.rejects(
      pool.submit(() => (globalThis as unknown as { close(): void }).close()),
      { message: "A function run by WorkerExecutor cannot close its worker" },
    );
    assert.equal(await pool.submit(() => "still open"), "still open");
  });

  await t.step(
    "an error nobody awaited in the worker is reported",
    async () => {
      const reports: [unknown, string][] = [];
      setErrorRouter((err, where) => void reports.push([err, where]));
      try {
        assert.equal(
          await pool.submit(() => {
            Promise.reject(new Error("stray rejection"));
            setTimeout(() => {
              throw new TypeError("stray throw");
            }, 0);
            return "returned";
          }),
          "returned",
        );
        await until(() => reports.length >= 2, "both reports", NO_HANG_MS);
      } finally {
        setErrorRouter(null);
      }
      assert.deepEqual(
        reports.map(([e]) => [(e as Error).name, (e as Error).message]),
        [["Error", "stray rejection"], ["TypeError", "stray throw"]],
      );
      assert.match(reports[0]![1], /WorkerExecutor worker/);
      assert.equal(await pool.submit(() => "alive"), "alive");
    },
  );
});

Deno.test("WorkerExecutor queues excess tasks in order", async (t) => {
  await t.step(
    "never runs more than size workers; starts tasks in FIFO order",
    async () => {
      using pool = new WorkerExecutor({ size: 2 });
      const n = 6;
      // cells[i]: task i started; cells[n + i]: task i may finish.
      const cells = new Int32Array(new SharedArrayBuffer(8 * n));
      const futures = Array.from(
        { length: n },
        (_, i) => pool.submit(gated, cells.buffer as SharedArrayBuffer, i),
      );
      assert.equal(pool.workers, 2);
      assert.equal(pool.pending, 4);
      const started = () =>
        Array.from({ length: n }, (_, i) => i).filter((i) => cells[i] === 1);
      async function waitStarted(count: number): Promise<void> {
        await until(
          () => started().length >= count,
          `${count} tasks started`,
          NO_HANG_MS,
        );
        await sleep(5); // room for a wrong extra start to show up
      }
      const release = (i: number) => {
        Atomics.store(cells, n + i, 1);
        Atomics.notify(cells, n + i);
      };
      await waitStarted(2);
      assert.deepEqual(started(), [0, 1]);
      // Whichever worker frees up takes the oldest waiting task.
      release(1);
      await waitStarted(3);
      assert.deepEqual(started(), [0, 1, 2]);
      release(0);
      await waitStarted(4);
      assert.deepEqual(started(), [0, 1, 2, 3]);
      assert.equal(pool.pending, 2);
      for (const i of [3, 2, 4, 5]) release(i);
      assert.deepEqual(await Promise.all(futures), [0, 1, 2, 3, 4, 5]);
      assert.equal(pool.workers, 2);
      assert.equal(pool.pending, 0);
    },
  );

  await t.step("one worker runs tasks strictly one after another", async () => {
    using pool = new WorkerExecutor({ size: 1 });
    const order: number[] = [];
    const futures = [3, 1, 2].map((ms, i) => {
      const f = pool.submit(
        (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
        ms,
      );
      f.addDoneCallback(() => order.push(i));
      return f;
    });
    await Promise.all(futures);
    assert.deepEqual(order, [0, 1, 2]);
  });

  await t.step("a task cancelled while waiting never runs", async () => {
    using pool = new WorkerExecutor({ size: 1 });
    const first = pool.submit(runCount);
    const cancelled = pool.submit(runCount);
    const third = pool.submit(runCount);
    assert.equal(cancelled.cancel(), true);
    assert.equal(await first, 1);
    assert.equal(await third, 2); // the cancelled task did not run
    assert.equal(cancelled.cancelled(), true);
  });

  await t.step(
    "pending counts only live waiting tasks: a cancelled one drops at once",
    async () => {
      using pool = new WorkerExecutor({ size: 1 });
      const first = pool.submit(runCount);
      const waiting = [1, 2, 3, 4].map(() => pool.submit(runCount));
      assert.equal(pool.pending, 4);
      waiting[1]!.cancel(); // not the head
      assert.equal(pool.pending, 3);
      waiting[0]!.setException(new Error("settled from outside"));
      assert.equal(pool.pending, 2);
      waiting[1]!.cancel(); // already done: nothing changes
      assert.equal(pool.pending, 2);
      assert.equal(await first, 1);
      assert.equal(await waiting[2], 2);
      assert.equal(await waiting[3], 3);
      assert.equal(pool.pending, 0);
      await assert.rejects(waiting[0]!, /settled from outside/);
    },
  );

  await t.step(
    "a running task cancelled is discarded; the pool goes on",
    async () => {
      using pool = new WorkerExecutor({ size: 1 });
      const running = pool.submit(
        () => new Promise((resolve) => setTimeout(() => resolve("late"), 5)),
      );
      const next = pool.submit(runCount);
      running.cancel();
      assert.equal(await next, 1);
      assert.equal(running.cancelled(), true);
    },
  );
});

Deno.test("WorkerExecutor.shutdown()", async (t) => {
  await t.step(
    "fails running and waiting tasks, then refuses new ones",
    async () => {
      const pool = new WorkerExecutor({ size: 1 });
      const running = pool.submit(() => new Promise(() => {}));
      const waiting = pool.submit(() => 1);
      pool.shutdown();
      assert.equal(pool.workers, 0);
      assert.equal(pool.pending, 0);
      await assert.rejects(running, {
        name: "Error",
        message: /shut down while the task was running \(function/,
      });
      await assert.rejects(waiting, {
        name: "Error",
        message: /shut down before the task started/,
      });
      assert.throws(() => pool.submit(() => 1), {
        name: "Error",
        message: "Cannot submit to a WorkerExecutor that was shut down",
      });
      pool.shutdown(); // idempotent
    },
  );

  await t.step(
    "unawaited failures and shutdowns never cause unhandled rejections",
    async () => {
      const count = await countUnhandledRejections(async () => {
        const pool = new WorkerExecutor({ size: 1 });
        const done = pool.submit(() => {
          throw new Error("ignored");
        });
        pool.submit(() => new Promise(() => {}));
        pool.submit(() => 1);
        await done.catch(() => {});
        pool.shutdown();
      });
      assert.equal(count, 0);
    },
  );

  await t.step("a cancelled task is not touched by shutdown", () => {
    const pool = new WorkerExecutor({ size: 1 });
    const running = pool.submit(() => new Promise(() => {}));
    running.cancel();
    pool.shutdown();
    assert.equal(running.cancelled(), true);
  });
});

type FakeEvent = { message: string; preventDefault(): void };

/** A stand-in Worker that answers every task with `event`. */
function fakeWorker(event: "error" | "messageerror", log: string[]) {
  return class FakeWorker {
    onmessage: unknown = null;
    onmessageerror: ((event: MessageEvent) => void) | null = null;
    onerror: ((event: FakeEvent) => void) | null = null;
    constructor(_url: string, options: { name: string }) {
      log.push(`spawn ${options.name}`);
    }
    postMessage(): void {
      queueMicrotask(() => {
        if (event === "error") {
          this.onerror?.({ message: "crashed", preventDefault() {} });
        } else this.onmessageerror?.(new MessageEvent("messageerror"));
      });
    }
    terminate(): void {
      log.push("terminate");
    }
  } as unknown as typeof Worker;
}

async function withFakeWorker(
  FakeWorker: typeof Worker,
  fn: () => Promise<void>,
): Promise<void> {
  const saved = globalThis.Worker;
  globalThis.Worker = FakeWorker;
  try {
    await fn();
  } finally {
    globalThis.Worker = saved;
  }
}

Deno.test("WorkerExecutor replaces a worker that crashed", async () => {
  const log: string[] = [];
  await withFakeWorker(fakeWorker("error", log), async () => {
    using pool = new WorkerExecutor({ size: 1 });
    const first = pool.submit(function first() {});
    const second = pool.submit(function second() {});
    await assert.rejects(first, {
      name: "Error",
      message: "The worker running function first failed: crashed",
    });
    await assert.rejects(second, {
      message: "The worker running function second failed: crashed",
    });
    assert.equal(pool.workers, 0);
  });
  assert.deepEqual(log, [
    "spawn squall WorkerExecutor 1",
    "terminate",
    "spawn squall WorkerExecutor 1",
    "terminate",
  ]);
});

Deno.test("WorkerExecutor fails a task whose reply cannot be read", async () => {
  const log: string[] = [];
  await withFakeWorker(fakeWorker("messageerror", log), async () => {
    using pool = new WorkerExecutor({ size: 1 });
    const first = pool.submit(() => 1);
    const second = pool.submit(() => 2);
    for (const f of [first, second]) {
      await assert.rejects(f, {
        name: "DataCloneError",
        message: /Cannot receive the worker's reply/,
      });
    }
    assert.equal(pool.workers, 1); // the worker itself is fine
  });
  assert.deepEqual(log, ["spawn squall WorkerExecutor 1", "terminate"]);
});

// Bounds each wait below, so that a task left pending fails the test instead
// of hanging it.
const NO_HANG_MS = 10_000;

Deno.test("WorkerExecutor survives a task that calls exit()", async (t) => {
  const exitMessage =
    /^The worker running function \w+ exited: a task run by WorkerExecutor called exit\(\)/;

  await t.step(
    "the task fails; the task queued behind it runs on a new worker",
    async () => {
      using pool = new WorkerExecutor({ size: 1 });
      const exiting = pool.submit(function exiting() {
        Deno.exit(3);
      });
      const next = pool.submit(runCount);
      await assert.rejects(withTimeout(NO_HANG_MS, exiting), {
        name: "Error",
        message: exitMessage,
      });
      assert.equal(await withTimeout(NO_HANG_MS, next), 1);
      assert.equal(pool.workers, 1);
      assert.equal(await pool.submit(runCount), 2);
    },
  );

  await t.step("so does node:process's exit(), after an await", async () => {
    using pool = new WorkerExecutor({ size: 1 });
    const exiting = pool.submit(async function exiting() {
      const { default: process } = await import("node:process");
      process.exit(4);
    });
    await assert.rejects(withTimeout(NO_HANG_MS, exiting), {
      message: exitMessage,
    });
    assert.equal(await withTimeout(NO_HANG_MS, pool.submit(runCount)), 1);
  });

  await t.step(
    "an exit between tasks is reported; the task sent meanwhile moves on",
    async () => {
      const reports: [unknown, string][] = [];
      setErrorRouter((err, where) => void reports.push([err, where]));
      try {
        using pool = new WorkerExecutor({ size: 1 });
        const gate = new Int32Array(new SharedArrayBuffer(4));
        const first = pool.submit((shared: SharedArrayBuffer) => {
          // Microtasks outlast the reply: block the worker right after it,
          // before it can take another task, and exit once released.
          let later = Promise.resolve();
          for (let i = 0; i < 10; i++) later = later.then(() => {});
          void later.then(() => {
            Atomics.wait(new Int32Array(shared), 0, 0, 10_000);
            Deno.exit(5);
          });
          return "first";
        }, gate.buffer as SharedArrayBuffer);
        assert.equal(await withTimeout(NO_HANG_MS, first), "first");
        // Goes to the blocked worker, which exits without starting it.
        const second = pool.submit(runCount);
        Atomics.store(gate, 0, 1);
        Atomics.notify(gate, 0);
        assert.equal(await withTimeout(NO_HANG_MS, second), 1);
        assert.equal(pool.workers, 1);
      } finally {
        setErrorRouter(null);
      }
      assert.equal(reports.length, 1);
      assert.match(
        (reports[0]![0] as Error).message,
        /^A WorkerExecutor worker exited between tasks/,
      );
    },
  );
});

Deno.test("WorkerExecutor retires idle workers after idleTimeout", async () => {
  using pool = new WorkerExecutor({ size: 2, idleTimeout: 10 });
  assert.deepEqual(
    await Promise.all([pool.submit(runCount), pool.submit(runCount)]),
    [1, 1],
  );
  assert.equal(pool.workers, 2);
  await until(
    () => pool.workers === 0,
    "the idle workers' retirement",
    NO_HANG_MS,
  );
  // A fresh worker starts on demand (its run count starts over).
  assert.equal(await pool.submit(runCount), 1);
  assert.equal(pool.workers, 1);
});

Deno.test("WorkerExecutor retires the idle workers left after one exits", async () => {
  using pool = new WorkerExecutor({ size: 2, idleTimeout: 10 });
  const gate = new Int32Array(new SharedArrayBuffer(4));
  // Held until the other task is done, so the other worker is idle when
  // this one exits: the exit is the last event that could arm the timer.
  const exiting = pool.submit((shared: SharedArrayBuffer) => {
    Atomics.wait(new Int32Array(shared), 0, 0, 10_000);
    Deno.exit(1);
  }, gate.buffer as SharedArrayBuffer);
  assert.equal(await withTimeout(NO_HANG_MS, pool.submit(runCount)), 1);
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  await assert.rejects(withTimeout(NO_HANG_MS, exiting), /called exit\(\)/);
  assert.equal(pool.workers, 1);
  await until(
    () => pool.workers === 0,
    "the idle workers' retirement",
    NO_HANG_MS,
  );
});

Deno.test("WorkerExecutor with idleTimeout Infinity keeps its workers", async () => {
  using pool = new WorkerExecutor({ size: 1, idleTimeout: Infinity });
  assert.equal(await pool.submit(runCount), 1);
  await sleep(20);
  assert.equal(pool.workers, 1);
  assert.equal(await pool.submit(runCount), 2);
});
