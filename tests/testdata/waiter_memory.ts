// Run by tests/_waiters_test.ts with --v8-flags=--expose-gc: 100,000
// waiters of every kind time out, and the heap after a full GC is
// compared with the heap before. Prints one JSON line.
import { Condition, Event, Lock, Semaphore } from "../../locks/mod.ts";
import { Queue } from "../../queues/mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

const N = Number(Deno.args[0] ?? 100_000);
const lock = new Lock();
const held = await lock.acquire();
const semaphore = new Semaphore(0);
const event = new Event();
const condition = new Condition();
const getters = new Queue<number>();
const putters = new Queue<number>(1);
putters.putNowait(0);

function ignore(): void {}

async function round(n: number): Promise<void> {
  const pending: Promise<unknown>[] = [];
  // Seven kinds of waiter, in turn, `n` in all.
  for (let i = 0; i < n; i++) {
    const signal = new AbortController().signal; // never aborted
    switch (i % 7) {
      case 0:
        pending.push(lock.acquire({ timeout: 1 }).catch(ignore));
        break;
      case 1:
        pending.push(semaphore.acquire({ timeout: 1, signal }).catch(ignore));
        break;
      case 2:
        pending.push(event.wait({ timeout: 1 }));
        break;
      case 3:
        pending.push(condition.wait({ timeout: 1, signal }));
        break;
      case 4:
        pending.push(getters.get({ timeout: 1 }).catch(ignore));
        break;
      case 5:
        pending.push(putters.put(i, { timeout: 1 }).catch(ignore));
        break;
      default:
        pending.push(putters.join({ timeout: 1 }).catch(ignore));
    }
  }
  await Promise.all(pending);
}

function heap(): number {
  for (let i = 0; i < 3; i++) gc!();
  return Deno.memoryUsage().heapUsed;
}

await round(1000); // warm up code and lazily created structures
const before = heap();
await round(N);
const after = heap();
console.log(JSON.stringify({
  n: N,
  before,
  after,
  waiters: lock.waiters + semaphore.waiters + event.waiters +
    condition.waiters + getters.waiters + putters.waiters,
  qsize: getters.qsize() + putters.qsize(),
}));
held.release();
