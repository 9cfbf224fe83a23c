// deno bench bench/queues_bench.ts
//
// Each group runs squall beside a raw-promise baseline (bench/_raw.ts) in
// the same process, so the report shows squall's speed as a ratio. Every
// case moves ITEMS items; items/s = ITEMS / time per iteration.
//
// The bench functions are `async` on purpose: deno bench awaits only a
// function that is itself async, and loops on a plain arrow that merely
// returns a promise without waiting for it.
import { Queue } from "../queues/mod.ts";
import { RawQueue } from "./_raw.ts";

const ITEMS = 10_000;

// One driver per implementation, mirrored on purpose as in locks_bench.ts:
// a driver shared by both would be polymorphic and slow the raw baseline
// more than squall. Each driver still serves the bounded and unbounded
// cases, since those use one class.
const EXPECTED = (ITEMS * (ITEMS - 1)) / 2;

async function rawProducerConsumer(q: RawQueue<number>): Promise<void> {
  const producer = (async () => {
    for (let i = 0; i < ITEMS; i++) await q.put(i);
  })();
  let sum = 0;
  for (let i = 0; i < ITEMS; i++) sum += await q.get();
  await producer;
  if (sum !== EXPECTED) throw new Error("lost items");
}

async function squallProducerConsumer(q: Queue<number>): Promise<void> {
  const producer = (async () => {
    for (let i = 0; i < ITEMS; i++) await q.put(i);
  })();
  let sum = 0;
  for (let i = 0; i < ITEMS; i++) sum += await q.get();
  await producer;
  if (sum !== EXPECTED) throw new Error("lost items");
}

const BOUNDED = "Queue(100), 1 producer / 1 consumer";
Deno.bench({
  name: "raw promise queue(100)",
  group: BOUNDED,
  baseline: true,
  fn: async () => await rawProducerConsumer(new RawQueue<number>(100)),
});
Deno.bench({
  name: "squall Queue(100)",
  group: BOUNDED,
  fn: async () => await squallProducerConsumer(new Queue<number>(100)),
});

const UNBOUNDED = "unbounded Queue, 1 producer / 1 consumer";
Deno.bench({
  name: "raw promise queue, unbounded",
  group: UNBOUNDED,
  baseline: true,
  fn: async () => await rawProducerConsumer(new RawQueue<number>()),
});
Deno.bench({
  name: "squall Queue, unbounded",
  group: UNBOUNDED,
  fn: async () => await squallProducerConsumer(new Queue<number>()),
});
