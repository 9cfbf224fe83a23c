// deno bench bench/locks_bench.ts
//
// Each group runs squall beside a raw-promise baseline (bench/_raw.ts) in
// the same process, so the report shows squall's speed as a ratio. The
// operation counts per iteration are in each group's name; ops/s =
// count / time per iteration.
//
// The two sides of a group are mirrored code on purpose. A shared generic
// driver would see both shapes at its call sites, and that polymorphism
// slows the tiny raw baseline more than squall (measured: it lifts the
// uncontended ratio from ~0.6 to ~0.8), flattering squall.
//
// Both sides release in try/finally, so the ratio compares the primitives.
// One extra row shows the idiomatic `using` form: in Deno 2.9 a `using`
// scope inside an async function costs about as much as the whole
// acquire/release (~0.1 µs per scope), whichever lock is used.
//
// The bench functions are `async` on purpose: deno bench awaits only a
// function that is itself async.
import { Condition, Event, Lock, Semaphore } from "../locks/mod.ts";
import {
  RawCondition,
  RawEvent,
  RawMutex,
  RawReleaserMutex,
  RawSemaphore,
} from "./_raw.ts";

const CONTENDERS = 100;
const ROUNDS = 100; // per contender: 10,000 handoffs per iteration
const UNCONTENDED = 10_000;
const WAITERS = 100;
const CYCLES = 100; // 10,000 wake-ups per iteration

const LOCK = "Lock, 100 contenders x 100 rounds, yield once inside";
Deno.bench({
  name: "raw promise mutex",
  group: LOCK,
  baseline: true,
  fn: async () => {
    const m = new RawMutex();
    let inside = 0;
    await Promise.all(Array.from({ length: CONTENDERS }, async () => {
      for (let r = 0; r < ROUNDS; r++) {
        await m.acquire();
        try {
          if (inside++ !== 0) throw new Error("not exclusive");
          await null;
          inside--;
        } finally {
          m.release();
        }
      }
    }));
  },
});
Deno.bench({
  name: "squall Lock",
  group: LOCK,
  fn: async () => {
    const lock = new Lock();
    let inside = 0;
    await Promise.all(Array.from({ length: CONTENDERS }, async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const held = await lock.acquire();
        try {
          if (inside++ !== 0) throw new Error("not exclusive");
          await null;
          inside--;
        } finally {
          held.release();
        }
      }
    }));
  },
});
Deno.bench({
  name: "squall Lock, released by `using`",
  group: LOCK,
  fn: async () => {
    const lock = new Lock();
    let inside = 0;
    await Promise.all(Array.from({ length: CONTENDERS }, async () => {
      for (let r = 0; r < ROUNDS; r++) {
        using _held = await lock.acquire();
        if (inside++ !== 0) throw new Error("not exclusive");
        await null;
        inside--;
      }
    }));
  },
});

const FREE = "uncontended Lock, 10,000 acquire/release";
Deno.bench({
  name: "raw promise mutex",
  group: FREE,
  baseline: true,
  fn: async () => {
    const m = new RawMutex();
    for (let i = 0; i < UNCONTENDED; i++) {
      await m.acquire();
      m.release();
    }
  },
});
Deno.bench({
  name: "raw mutex resolving a releaser object",
  group: FREE,
  fn: async () => {
    const m = new RawReleaserMutex();
    for (let i = 0; i < UNCONTENDED; i++) {
      const held = await m.acquire();
      held.release();
    }
  },
});
Deno.bench({
  name: "squall Lock",
  group: FREE,
  fn: async () => {
    const lock = new Lock();
    for (let i = 0; i < UNCONTENDED; i++) {
      const held = await lock.acquire();
      held.release();
    }
  },
});

const SEM = "Semaphore(4), 100 contenders x 100 rounds, yield once inside";
Deno.bench({
  name: "raw promise semaphore",
  group: SEM,
  baseline: true,
  fn: async () => {
    const s = new RawSemaphore(4);
    await Promise.all(Array.from({ length: CONTENDERS }, async () => {
      for (let r = 0; r < ROUNDS; r++) {
        await s.acquire();
        try {
          await null;
        } finally {
          s.release();
        }
      }
    }));
  },
});
Deno.bench({
  name: "squall Semaphore",
  group: SEM,
  fn: async () => {
    const s = new Semaphore(4);
    await Promise.all(Array.from({ length: CONTENDERS }, async () => {
      for (let r = 0; r < ROUNDS; r++) {
        const permit = await s.acquire();
        try {
          await null;
        } finally {
          permit.release();
        }
      }
    }));
  },
});

const EVENT = "Event, 100 waiters x 100 wait/set cycles";
Deno.bench({
  name: "raw promise event",
  group: EVENT,
  baseline: true,
  fn: async () => {
    const event = new RawEvent();
    for (let c = 0; c < CYCLES; c++) {
      const waits = [];
      for (let w = 0; w < WAITERS; w++) waits.push(event.wait());
      event.set();
      await Promise.all(waits);
      event.clear();
    }
  },
});
Deno.bench({
  name: "squall Event",
  group: EVENT,
  fn: async () => {
    const event = new Event();
    for (let c = 0; c < CYCLES; c++) {
      const waits = [];
      for (let w = 0; w < WAITERS; w++) waits.push(event.wait());
      event.set();
      await Promise.all(waits);
      event.clear();
    }
  },
});

const COND = "Condition, 100 waiters x 100 cycles, notify one at a time";
Deno.bench({
  name: "raw promise condition",
  group: COND,
  baseline: true,
  fn: async () => {
    const cond = new RawCondition();
    for (let c = 0; c < CYCLES; c++) {
      const waits = [];
      for (let w = 0; w < WAITERS; w++) waits.push(cond.wait());
      for (let w = 0; w < WAITERS; w++) cond.notify();
      await Promise.all(waits);
    }
  },
});
Deno.bench({
  name: "squall Condition",
  group: COND,
  fn: async () => {
    const cond = new Condition();
    for (let c = 0; c < CYCLES; c++) {
      const waits = [];
      for (let w = 0; w < WAITERS; w++) waits.push(cond.wait());
      for (let w = 0; w < WAITERS; w++) cond.notify();
      await Promise.all(waits);
    }
  },
});

// One app-wide shutdown signal passed to every wait is a common pattern.
// Waits that each add their own abort listener cost O(N) apiece there
// (addEventListener scans the signal's listeners), O(N²) in all; the ratio
// of the two rows shows whether a shared signal still costs what separate
// ones do.
const SHARED_WAITS = 5_000;
const SHARED = "Lock, 5,000 waits with an abort signal, then released in turn";
Deno.bench({
  name: "a signal per wait",
  group: SHARED,
  baseline: true,
  fn: async () => {
    const lock = new Lock();
    const held = await lock.acquire();
    const waits = [];
    for (let i = 0; i < SHARED_WAITS; i++) {
      const signal = new AbortController().signal;
      waits.push(lock.acquire({ signal }).then(release));
    }
    held.release();
    await Promise.all(waits);
  },
});
Deno.bench({
  name: "one signal shared by every wait",
  group: SHARED,
  fn: async () => {
    const lock = new Lock();
    const held = await lock.acquire();
    const signal = new AbortController().signal;
    const waits = [];
    for (let i = 0; i < SHARED_WAITS; i++) {
      waits.push(lock.acquire({ signal }).then(release));
    }
    held.release();
    await Promise.all(waits);
  },
});

function release(held: { release(): void }): void {
  held.release();
}
