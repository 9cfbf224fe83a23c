// Copyright the squall authors. MIT license.

// deno bench -A bench/ioloop_bench.ts
//
// IOLoop timers and callbacks beside raw baselines in the same run:
// - timers: 100,000 callLater with pseudo-random delays in 0-100 ms until
//   all fire (and the same with 90% removed), against a plain binary heap
//   behind one setTimeout (the baseline) and plain setTimeout per timer;
// - callbacks: 1,000,000 chained addCallback and 1,000,000 queued at once,
//   against a raw per-turn batch queue on setImmediate.
// Timer runs wait ~100 ms of real time each, so n/warmup are kept low.

import { IOLoop } from "../ioloop/mod.ts";
import { seededRandom } from "../tests/_rng.ts";

const TIMERS = 100_000;
const CALLBACKS = 1_000_000;

const random = seededRandom(42);
const DELAYS = Float64Array.from({ length: TIMERS }, () => random() * 100);

// --- Baseline: a plain binary heap of deadlines behind one setTimeout. ---

interface RawTimer {
  deadline: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

function earlier(a: RawTimer, b: RawTimer): boolean {
  return a.deadline < b.deadline ||
    (a.deadline === b.deadline && a.seq < b.seq);
}

class RawTimerHeap {
  #items: RawTimer[] = [];
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #armedAt = Infinity;

  add(delay: number, fn: () => void): RawTimer {
    const t: RawTimer = {
      deadline: performance.now() + delay,
      seq: this.#seq++,
      fn,
      cancelled: false,
    };
    const items = this.#items;
    let i = items.push(t) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (earlier(parent, t)) break;
      items[i] = parent;
      i = p;
    }
    items[i] = t;
    if (t.deadline < this.#armedAt) this.#arm(t.deadline);
    return t;
  }

  cancel(t: RawTimer): void {
    t.cancelled = true;
  }

  #arm(deadline: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#armedAt = deadline;
    this.#timer = setTimeout(
      this.#fire,
      Math.max(0, Math.ceil(deadline - performance.now())),
    );
  }

  #pop(): void {
    const items = this.#items;
    const last = items.pop()!;
    const n = items.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = items[c + 1];
      if (r !== undefined && earlier(r, items[c]!)) c++;
      const child = items[c]!;
      if (earlier(last, child)) break;
      items[i] = child;
      i = c;
    }
    items[i] = last;
  }

  #fire = (): void => {
    this.#timer = null;
    this.#armedAt = Infinity;
    const now = performance.now();
    const items = this.#items;
    while (items.length > 0 && items[0]!.deadline <= now) {
      const t = items[0]!;
      this.#pop();
      if (!t.cancelled) t.fn();
    }
    while (items.length > 0 && items[0]!.cancelled) this.#pop();
    if (items.length > 0) this.#arm(items[0]!.deadline);
  };
}

// --- Baseline: a raw per-turn batch queue on setImmediate. ---

class RawBatchQueue {
  #queue: (() => void)[] = [];
  #scheduled = false;

  add(fn: () => void): void {
    this.#queue.push(fn);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
  }

  #run = (): void => {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    for (let i = 0; i < batch.length; i++) batch[i]!();
  };
}

// --- Timers ---

function countdown(n: number): { tick: () => void; done: Promise<void> } {
  const { promise, resolve } = Promise.withResolvers<void>();
  let left = n;
  return {
    tick() {
      if (--left === 0) resolve();
    },
    done: promise,
  };
}

const TIMER_OPTS = { n: 5, warmup: 1 };

Deno.bench({
  name: "raw heap + one setTimeout: 100k timers",
  group: "timers 100k",
  baseline: true,
  ...TIMER_OPTS,
  async fn() {
    const heap = new RawTimerHeap();
    const { tick, done } = countdown(TIMERS);
    for (let i = 0; i < TIMERS; i++) heap.add(DELAYS[i]!, tick);
    await done;
  },
});

Deno.bench({
  name: "IOLoop.callLater: 100k timers",
  group: "timers 100k",
  ...TIMER_OPTS,
  async fn() {
    const loop = new IOLoop({ makeCurrent: false });
    const { tick, done } = countdown(TIMERS);
    for (let i = 0; i < TIMERS; i++) loop.callLater(DELAYS[i]!, tick);
    await done;
    loop.close();
  },
});

Deno.bench({
  name: "setTimeout per timer: 100k timers",
  group: "timers 100k",
  ...TIMER_OPTS,
  async fn() {
    const { tick, done } = countdown(TIMERS);
    for (let i = 0; i < TIMERS; i++) setTimeout(tick, DELAYS[i]!);
    await done;
  },
});

const KEPT = TIMERS / 10;

Deno.bench({
  name: "raw heap + one setTimeout: 100k timers, 90% removed",
  group: "timers 100k, 90% removed",
  baseline: true,
  ...TIMER_OPTS,
  async fn() {
    const heap = new RawTimerHeap();
    const { tick, done } = countdown(KEPT);
    const handles = [];
    for (let i = 0; i < TIMERS; i++) handles.push(heap.add(DELAYS[i]!, tick));
    for (let i = 0; i < TIMERS; i++) if (i % 10 !== 0) heap.cancel(handles[i]!);
    await done;
  },
});

Deno.bench({
  name: "IOLoop.callLater + removeTimeout: 100k timers, 90% removed",
  group: "timers 100k, 90% removed",
  ...TIMER_OPTS,
  async fn() {
    const loop = new IOLoop({ makeCurrent: false });
    const { tick, done } = countdown(KEPT);
    const handles = [];
    for (let i = 0; i < TIMERS; i++) {
      handles.push(loop.callLater(DELAYS[i]!, tick));
    }
    for (let i = 0; i < TIMERS; i++) {
      if (i % 10 !== 0) loop.removeTimeout(handles[i]!);
    }
    await done;
    loop.close();
  },
});

Deno.bench({
  name: "setTimeout + clearTimeout: 100k timers, 90% removed",
  group: "timers 100k, 90% removed",
  ...TIMER_OPTS,
  async fn() {
    const { tick, done } = countdown(KEPT);
    const handles = [];
    for (let i = 0; i < TIMERS; i++) handles.push(setTimeout(tick, DELAYS[i]!));
    for (let i = 0; i < TIMERS; i++) if (i % 10 !== 0) clearTimeout(handles[i]);
    await done;
  },
});

// --- Callbacks ---

const CALLBACK_OPTS = { n: 5, warmup: 1 };

Deno.bench({
  name: "raw setImmediate batch queue: 1M chained",
  group: "callbacks 1M chained",
  baseline: true,
  ...CALLBACK_OPTS,
  async fn() {
    const queue = new RawBatchQueue();
    const { promise, resolve } = Promise.withResolvers<void>();
    let left = CALLBACKS;
    const hop = () => {
      if (--left === 0) resolve();
      else queue.add(hop);
    };
    queue.add(hop);
    await promise;
  },
});

Deno.bench({
  name: "IOLoop.addCallback: 1M chained",
  group: "callbacks 1M chained",
  ...CALLBACK_OPTS,
  async fn() {
    const loop = new IOLoop({ makeCurrent: false });
    const { promise, resolve } = Promise.withResolvers<void>();
    let left = CALLBACKS;
    const hop = () => {
      if (--left === 0) resolve();
      else loop.addCallback(hop);
    };
    loop.addCallback(hop);
    await promise;
    loop.close();
  },
});

Deno.bench({
  name: "raw setImmediate batch queue: 1M queued at once",
  group: "callbacks 1M batched",
  baseline: true,
  ...CALLBACK_OPTS,
  async fn() {
    const queue = new RawBatchQueue();
    const { tick, done } = countdown(CALLBACKS);
    for (let i = 0; i < CALLBACKS; i++) queue.add(tick);
    await done;
  },
});

Deno.bench({
  name: "IOLoop.addCallback: 1M queued at once",
  group: "callbacks 1M batched",
  ...CALLBACK_OPTS,
  async fn() {
    const loop = new IOLoop({ makeCurrent: false });
    const { tick, done } = countdown(CALLBACKS);
    for (let i = 0; i < CALLBACKS; i++) loop.addCallback(tick);
    await done;
    loop.close();
  },
});
