// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import {
  CancelledError,
  Future,
  sleep,
  TimeoutError,
  withTimeout,
  type WithTimeoutOptions,
} from "@squall/io/concurrent";
import {
  captureConsoleError,
  countUnhandledRejections,
  macrotask,
} from "./_capture.ts";

type Clock = ReturnType<typeof FakeTimers.install>;

// Only timers are faked: microtasks must stay real.
async function withFakeClock(fn: (clock: Clock) => Promise<void>) {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    await fn(clock);
  } finally {
    clock.uninstall();
  }
}

class QuietError extends Error {}

/** Options bags that are not objects, with how error messages name them. */
const BAD_OPTIONS = [[null, "null"], [5, "number"], ["x", "string"]] as const;

Deno.test("withTimeout()", async (t) => {
  await t.step("settles like p when p settles in time", async () => {
    assert.equal(await withTimeout(1000, Promise.resolve(1)), 1);
    const f = new Future<string>();
    setTimeout(() => f.setResult("f"), 1);
    assert.equal(await withTimeout(1000, f), "f");
    const err = new Error("inner");
    await assert.rejects(
      withTimeout(1000, Promise.reject(err)),
      (e) => e === err,
    );
  });

  await t.step(
    "rejects with TimeoutError after the timeout and clears nothing twice",
    async () => {
      await withFakeClock(async (clock) => {
        const f = new Future<number>();
        const p = withTimeout(50, f);
        let outcome: unknown = "pending";
        p.then((v) => (outcome = v), (e) => (outcome = e));
        clock.tick(49);
        await macrotask();
        assert.equal(outcome, "pending");
        clock.tick(1);
        await Promise.resolve();
        assert.ok((outcome as unknown) instanceof TimeoutError);
        assert.equal(
          (outcome as unknown as Error).message,
          "Timed out after 50 ms",
        );
        assert.equal(clock.countTimers(), 0);
        // The timeout does not cancel the underlying future.
        assert.equal(f.done(), false);
        f.setResult(1);
      });
    },
  );

  await t.step("clears its timer when p settles first", async () => {
    await withFakeClock(async (clock) => {
      const f = new Future<number>();
      const ok = withTimeout(1000, f);
      const g = new Future<number>();
      const failed = withTimeout(1000, g);
      assert.equal(clock.countTimers(), 2);
      f.setResult(1);
      g.setException(new Error("g"));
      assert.equal(await ok, 1);
      await assert.rejects(failed, { message: "g" });
      assert.equal(clock.countTimers(), 0);
    });
  });

  await t.step(
    "timeout 0 never waits but keeps an already settled outcome",
    async () => {
      await withFakeClock(async (clock) => {
        await assert.rejects(withTimeout(0, new Future()), TimeoutError);
        await assert.rejects(
          withTimeout(-5, new Promise(() => {})),
          TimeoutError,
        );
        const done = new Future<number>();
        done.setResult(3);
        assert.equal(await withTimeout(0, done), 3);
        assert.equal(await withTimeout(0, Promise.resolve(4)), 4);
        const failed = new Future<number>();
        failed.setException(new RangeError("already failed"));
        await assert.rejects(withTimeout(0, failed), RangeError);
        assert.equal(clock.countTimers(), 0);
      });
    },
  );

  await t.step("Infinity waits for p without a timer", async () => {
    await withFakeClock(async (clock) => {
      const f = new Future<number>();
      const p = withTimeout(Infinity, f);
      assert.equal(clock.countTimers(), 0);
      f.setResult(8);
      assert.equal(await p, 8);
    });
  });

  await t.step("timeouts beyond 2^31-1 ms do not fire early", async () => {
    await withFakeClock(async (clock) => {
      const day = 24 * 3600 * 1000;
      const p = withTimeout(30 * day, new Future());
      let outcome: unknown = "pending";
      p.catch((e) => (outcome = e));
      clock.tick(29 * day);
      await macrotask();
      assert.equal(outcome, "pending");
      clock.tick(day);
      await Promise.resolve();
      assert.ok((outcome as unknown) instanceof TimeoutError);
      assert.equal(clock.countTimers(), 0);
    });
  });

  await t.step(
    "a late rejection is logged unless its class is quiet",
    async () => {
      const loud = new Future<void>();
      const quiet = new Future<void>();
      const quietSub = new Future<void>();
      const late = new Future<void>();
      let logged: unknown[][] = [];
      const unhandled = await countUnhandledRejections(async () => {
        logged = await captureConsoleError(async () => {
          await assert.rejects(withTimeout(0, loud), TimeoutError);
          await assert.rejects(
            withTimeout(0, quiet, { quietExceptions: [QuietError] }),
            TimeoutError,
          );
          await assert.rejects(
            withTimeout(0, quietSub, { quietExceptions: [TypeError, Error] }),
            TimeoutError,
          );
          await assert.rejects(withTimeout(0, late), TimeoutError);
          loud.setException(new Error("loud"));
          quiet.setException(new QuietError("quiet"));
          quietSub.setException(new RangeError("a subclass of a quiet class"));
          late.setResult(); // a late success is simply dropped
          await macrotask();
        });
      });
      assert.equal(unhandled, 0);
      assert.equal(logged.length, 1);
      assert.match(String(logged[0]![0]), /rejected after the timeout/);
      assert.equal((logged[0]![1] as Error).message, "loud");
    },
  );

  await t.step(
    "a cancellation settles it, and a late one is not logged",
    async () => {
      const f = new Future<void>();
      const p = withTimeout(1000, f);
      f.cancel();
      await assert.rejects(p, CancelledError);
      const late = new Future<void>();
      const logged = await captureConsoleError(async () => {
        await assert.rejects(withTimeout(0, late), TimeoutError);
        late.cancel();
        await macrotask();
      });
      assert.equal(logged.length, 0);
    },
  );

  await t.step(
    "a late rejection of a native promise never crashes",
    async () => {
      let logged: unknown[][] = [];
      const unhandled = await countUnhandledRejections(async () => {
        logged = await captureConsoleError(async () => {
          const { promise, reject } = Promise.withResolvers<void>();
          await assert.rejects(withTimeout(1, promise), TimeoutError);
          reject(new Error("native late"));
          await macrotask();
        });
      });
      assert.equal(unhandled, 0);
      assert.equal(logged.length, 1);
      assert.equal((logged[0]![1] as Error).message, "native late");
    },
  );

  await t.step(
    "bad arguments reject and still absorb p's failure",
    async () => {
      await assert.rejects(
        withTimeout("10" as unknown as number, Promise.resolve()),
        TypeError,
      );
      const f = new Future<void>();
      const logged = await captureConsoleError(async () => {
        await assert.rejects(withTimeout(NaN, f), RangeError);
        f.setException(new Error("after misuse"));
        await macrotask();
      });
      assert.equal(logged.length, 1);
      await assert.rejects(
        withTimeout(10, 42 as unknown as Promise<number>),
        /expected a promise or a Future/,
      );
      const broken = {
        then() {
          throw new Error("broken then");
        },
      } as unknown as PromiseLike<void>;
      await assert.rejects(withTimeout(10, broken), /broken then/);
    },
  );

  await t.step(
    "options that are not an object reject with TypeError, never throw",
    async () => {
      for (const [bad, said] of BAD_OPTIONS) {
        const f = new Future<void>();
        let settled: Promise<void>;
        const logged = await captureConsoleError(async () => {
          assert.doesNotThrow(() => {
            settled = withTimeout(10, f, bad as never);
          }, `withTimeout(10, f, ${said}) threw instead of rejecting`);
          await assert.rejects(settled!, {
            name: "TypeError",
            message:
              `Cannot use withTimeout: options must be an object, got ${said}`,
          });
          f.setException(new Error("after misuse"));
          await macrotask();
        });
        assert.equal(logged.length, 1); // p's failure is still absorbed
      }
      assert.equal(await withTimeout(10, Promise.resolve(1), undefined), 1);
    },
  );

  await t.step(
    "a quietExceptions getter that throws rejects; p's failure is still absorbed",
    async () => {
      const boom = new Error("getter");
      const f = new Future<void>();
      let settled: Promise<void>;
      const logged = await captureConsoleError(async () => {
        assert.doesNotThrow(() => {
          settled = withTimeout(10, f, {
            get quietExceptions(): never {
              throw boom;
            },
          });
        });
        await assert.rejects(settled!, (e) => e === boom);
        f.setException(new Error("after misuse"));
        await macrotask();
      });
      assert.equal(logged.length, 1);
    },
  );

  await t.step(
    "quietExceptions that are not error classes reject, naming the entry",
    async () => {
      const bad: [unknown, string][] = [
        [
          [undefined],
          "quietExceptions[0] must be an error class, got undefined",
        ],
        [
          [QuietError, 5],
          "quietExceptions[1] must be an error class, got number",
        ],
        [
          [QuietError, , TypeError],
          "quietExceptions[1] must be an error class, got undefined",
        ],
        [
          [() => {}],
          "quietExceptions[0] must be an error class, got function (anonymous), which is not a class",
        ],
        [
          null,
          "quietExceptions must be an error class or an array of them, got null",
        ],
        [
          "Error",
          "quietExceptions must be an error class or an array of them, got string",
        ],
      ];
      for (const [quietExceptions, said] of bad) {
        const { promise, reject } = Promise.withResolvers<void>();
        let settled: Promise<void>;
        const unhandled = await countUnhandledRejections(async () => {
          const logged = await captureConsoleError(async () => {
            assert.doesNotThrow(() => {
              settled = withTimeout(10, promise, { quietExceptions } as never);
            });
            await assert.rejects(settled!, {
              name: "TypeError",
              message: `Cannot use withTimeout: ${said}`,
            });
            reject(new Error("late"));
            await macrotask();
          });
          assert.equal(logged.length, 1); // p's failure is still absorbed
        });
        assert.equal(unhandled, 0);
      }
    },
  );

  await t.step(
    "quietExceptions may be a single class or list a bound class, and each entry is read once",
    async () => {
      // An entry that is a class when checked and a number when read again:
      // the class checked is the one kept.
      let reads = 0;
      const fickle: ErrorConstructor[] = [];
      Object.defineProperty(fickle, 0, {
        enumerable: true,
        get: () => ++reads === 1 ? QuietError : 5,
      });
      const cases: Array<
        [NonNullable<WithTimeoutOptions["quietExceptions"]>, Error]
      > = [
        [QuietError, new QuietError("quiet")],
        // A bound native class has no prototype property of its own.
        [[DOMException.bind(null)], new DOMException("quiet")],
        [fickle, new QuietError("quiet")],
      ];
      for (const [quietExceptions, late] of cases) {
        const f = new Future<void>();
        let logged: unknown[][] = [];
        const unhandled = await countUnhandledRejections(async () => {
          logged = await captureConsoleError(async () => {
            await assert.rejects(
              withTimeout(0, f, { quietExceptions }),
              TimeoutError,
            );
            f.setException(late);
            await macrotask();
          });
        });
        assert.equal(unhandled, 0);
        assert.equal(logged.length, 0);
      }
      assert.equal(reads, 1);
    },
  );

  await t.step(
    "a quiet class whose instanceof check throws never crashes",
    async () => {
      class Touchy {
        static [Symbol.hasInstance](): boolean {
          throw new Error("instanceof Touchy failed");
        }
      }
      const f = new Future<void>();
      let logged: unknown[][] = [];
      const unhandled = await countUnhandledRejections(async () => {
        logged = await captureConsoleError(async () => {
          await assert.rejects(
            withTimeout(0, f, { quietExceptions: [Touchy] }),
            TimeoutError,
          );
          f.setException(new Error("touchy late"));
          await macrotask();
        });
      });
      assert.equal(unhandled, 0);
      assert.equal(logged.length, 1);
      assert.equal((logged[0]![1] as Error).message, "touchy late");
    },
  );
});

Deno.test("sleep()", async (t) => {
  await t.step("resolves after the delay", async () => {
    await withFakeClock(async (clock) => {
      let done = false;
      const p = sleep(100).then(() => (done = true));
      clock.tick(99);
      await macrotask();
      assert.equal(done, false);
      clock.tick(1);
      await p;
      assert.equal(done, true);
      assert.equal(clock.countTimers(), 0);
    });
  });

  await t.step("really sleeps (a short real timer)", async () => {
    const start = performance.now();
    await sleep(5);
    assert.ok(performance.now() - start >= 4);
  });

  await t.step(
    "abort rejects with signal.reason exactly and clears the timer",
    async () => {
      await withFakeClock(async (clock) => {
        const controller = new AbortController();
        const other = new AbortController();
        const a = sleep(1000, { signal: controller.signal });
        const b = sleep(1000, { signal: controller.signal });
        const c = sleep(1000, { signal: other.signal });
        assert.equal(clock.countTimers(), 3);
        const reason = { why: "not an Error" };
        controller.abort(reason);
        await assert.rejects(a, (e) => e === reason);
        await assert.rejects(b, (e) => e === reason);
        assert.equal(clock.countTimers(), 1);
        clock.tick(1000);
        await c;
        assert.equal(clock.countTimers(), 0);
      });
    },
  );

  await t.step(
    "an already aborted signal rejects at once without a timer",
    async () => {
      await withFakeClock(async (clock) => {
        const reason = new Error("already");
        const p = sleep(1000, { signal: AbortSignal.abort(reason) });
        assert.equal(clock.countTimers(), 0);
        await assert.rejects(p, (e) => e === reason);
        // The default reason is a DOMException named AbortError.
        await assert.rejects(sleep(1, { signal: AbortSignal.abort() }), {
          name: "AbortError",
        });
      });
    },
  );

  await t.step("removes its abort listener when the time passes", async () => {
    await withFakeClock(async (clock) => {
      const controller = new AbortController();
      let added = 0;
      let removed = 0;
      const signal = controller.signal;
      const add = signal.addEventListener.bind(signal);
      const remove = signal.removeEventListener.bind(signal);
      signal.addEventListener = (...a: Parameters<typeof add>) => {
        added++;
        add(...a);
      };
      signal.removeEventListener = (...a: Parameters<typeof remove>) => {
        removed++;
        remove(...a);
      };
      const p = sleep(10, { signal });
      clock.tick(10);
      await p;
      assert.equal(added, 1);
      assert.equal(removed, 1);
      controller.abort(); // nothing left to reject
      await macrotask();
    });
  });

  await t.step("Infinity sleeps until aborted, without a timer", async () => {
    await withFakeClock(async (clock) => {
      const controller = new AbortController();
      const p = sleep(Infinity, { signal: controller.signal });
      assert.equal(clock.countTimers(), 0);
      controller.abort("stop");
      await assert.rejects(p, (e) => e === "stop");
    });
  });

  await t.step(
    "bad options or signals reject with TypeError, never throw",
    async () => {
      const bad: (readonly [unknown, string])[] = [
        ...BAD_OPTIONS.map(([options, said]) =>
          [options, `options must be an object, got ${said}`] as const
        ),
        [{ signal: null }, "signal must be an AbortSignal, got null"],
        [{ signal: {} }, "signal must be an AbortSignal, got object"],
      ];
      for (const [options, said] of bad) {
        let settled: Promise<void>;
        assert.doesNotThrow(() => {
          settled = sleep(0, options as never);
        }, `sleep(0, ${JSON.stringify(options)}) threw instead of rejecting`);
        await assert.rejects(settled!, {
          name: "TypeError",
          message: `Cannot use sleep: ${said}`,
        });
      }
      await sleep(0, undefined);
    },
  );

  await t.step(
    "a signal getter that throws rejects, never throws",
    async () => {
      const boom = new Error("getter");
      let settled: Promise<void>;
      assert.doesNotThrow(() => {
        settled = sleep(0, {
          get signal(): AbortSignal {
            throw boom;
          },
        });
      });
      await assert.rejects(settled!, (e) => e === boom);
    },
  );

  await t.step("bad delays reject with TypeError or RangeError", async () => {
    await assert.rejects(sleep("1" as unknown as number), TypeError);
    await assert.rejects(sleep(NaN), RangeError);
    await withFakeClock(async (clock) => {
      const p = sleep(-10);
      clock.tick(0);
      await p;
    });
  });
});

// Deno 2.9's op sanitizer flags a timer cleared by a microtask queued before
// the timer was created; withTimeout arms its timer first to stay clean.
Deno.test("withTimeout() on a settled promise leaves no timer behind", async () => {
  assert.equal(await withTimeout(1000, Promise.resolve("fast")), "fast");
  const f = new Future<string>();
  f.setResult("done");
  assert.equal(await withTimeout(1000, f), "done");
});
