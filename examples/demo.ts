// deno run examples/demo.ts   (or: deno task demo)
//
// A quick tour of squall's portable parts, with no permissions: a
// bounded Queue between a producer and two consumers, a Semaphore, a Lock,
// a Condition, an Event, a PriorityQueue, and withTimeout/sleep. Every time
// is in milliseconds. For the network side run `deno task serve`.
import { sleep, TimeoutError, withTimeout } from "../concurrent/mod.ts";
import { Condition, Event, Lock, Semaphore } from "../locks/mod.ts";
import { PriorityQueue, Queue } from "../queues/mod.ts";

// 1. Producer / consumers over a bounded queue (Tornado's queues example).
//    put() waits while the queue is full, so the producer never runs ahead
//    by more than 2 items.
const jobs = new Queue<number>(2);
const done: string[] = [];
async function consumer(name: string): Promise<void> {
  for await (const job of jobs) {
    await sleep(10);
    done.push(`${name}:${job}`);
    jobs.taskDone();
  }
}
consumer("a");
consumer("b");
for (let job = 1; job <= 6; job++) await jobs.put(job);
await jobs.join({ timeout: 1000 });
console.log(`queue: 6 jobs done by two consumers -> ${done.join(" ")}`);

// 2. A semaphore lets at most 2 of 5 tasks run at once.
const slots = new Semaphore(2);
let running = 0;
let peak = 0;
await Promise.all([1, 2, 3, 4, 5].map(async () => {
  using _slot = await slots.acquire();
  peak = Math.max(peak, ++running);
  await sleep(5);
  running--;
}));
console.log(`semaphore: 5 tasks, at most ${peak} at a time`);

// 3. A lock keeps a read-modify-write with an await inside consistent.
const lock = new Lock();
let balance = 0;
await Promise.all(Array.from({ length: 10 }, async () => {
  using _held = await lock.acquire();
  const read = balance;
  await sleep(1);
  balance = read + 10;
}));
console.log(`lock: 10 deposits of 10 -> balance ${balance}`);

// 4. A condition wakes waiters; an event stays set.
const condition = new Condition();
const ready = new Event();
const woken = Promise.all([condition.wait(), condition.wait()]);
condition.notifyAll();
console.log(`condition: notifyAll woke ${(await woken).length} waiters`);
setTimeout(() => ready.set(), 5);
console.log(`event: wait() -> ${await ready.wait({ timeout: 1000 })}`);
console.log(
  `event: wait({ timeout: 0 }) after clear() -> ${(ready.clear(),
    await ready.wait({ timeout: 0 }))}`,
);

// 5. Smallest first: [priority, item] tuples, as in Tornado.
const tasks = new PriorityQueue<[number, string]>();
tasks.putNowait([3, "low"]);
tasks.putNowait([1, "urgent"]);
tasks.putNowait([2, "normal"]);
const order = [];
while (!tasks.empty()) order.push(tasks.getNowait()[1]);
console.log(`priority queue: ${order.join(" < ")}`);

// 6. Bound any promise in time.
try {
  await withTimeout(20, sleep(1000));
} catch (err) {
  console.log(
    `withTimeout: ${err instanceof TimeoutError ? "TimeoutError" : err}`,
  );
}
console.log("done");
// The sleep(1000) above is still pending: exit instead of waiting for it.
Deno.exit(0);
