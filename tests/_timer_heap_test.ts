// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import { type TimerEntry, TimerHeap } from "../ioloop/_timer_heap.ts";
import { seededRandom } from "./_rng.ts";

const noop = () => {};

/** Pops every entry due at `now` and returns their tags. */
function drain(heap: TimerHeap, now: number): number[] {
  const out: number[] = [];
  const limit = heap.nextSeq;
  for (let e = heap.popDue(now, limit); e; e = heap.popDue(now, limit)) {
    assert.equal(e.pending, false);
    out.push(e.args![0] as number);
  }
  return out;
}

Deno.test("TimerHeap pops entries in deadline order, ties in push order", () => {
  const heap = new TimerHeap();
  heap.push(5, noop, [0]);
  heap.push(1, noop, [1]);
  heap.push(5, noop, [2]);
  heap.push(3, noop, [3]);
  heap.push(1, noop, [4]);
  assert.equal(heap.peek()?.deadline, 1);
  assert.deepEqual(drain(heap, 2), [1, 4]);
  assert.deepEqual(drain(heap, 10), [3, 0, 2]);
  assert.equal(heap.peek(), undefined);
  assert.equal(heap.size, 0);
});

Deno.test("TimerHeap.cancel() is idempotent and ignores foreign or run entries", () => {
  const a = new TimerHeap();
  const b = new TimerHeap();
  const e = a.push(1, noop, [1]);
  assert.equal(b.cancel(e), false);
  assert.equal(a.cancel(e), true);
  assert.equal(a.cancel(e), false);
  assert.equal(a.live, 0);
  const f = a.push(1, noop, [2]);
  assert.deepEqual(drain(a, 1), [2]);
  assert.equal(a.cancel(f), false);
  assert.equal(f.pending, false);
});

Deno.test("TimerHeap.popDue() leaves entries pushed after the limit in place", () => {
  const heap = new TimerHeap();
  heap.push(5, noop, [1]);
  const limit = heap.nextSeq;
  heap.push(1, noop, [2]); // earlier deadline, pushed during the round
  heap.push(5, noop, [3]);
  assert.equal(heap.popDue(10, limit), undefined);
  assert.equal(heap.live, 3);
  assert.deepEqual(drain(heap, 10), [2, 1, 3]);
});

Deno.test("TimerHeap: an entry cancelled before its turn in a round is skipped", () => {
  const heap = new TimerHeap();
  heap.push(1, noop, [1]);
  const second = heap.push(1, noop, [2]);
  heap.push(1, noop, [3]);
  const limit = heap.nextSeq;
  assert.equal(heap.popDue(1, limit)?.args?.[0], 1);
  assert.equal(heap.cancel(second), true);
  assert.equal(heap.popDue(1, limit)?.args?.[0], 3);
  assert.equal(heap.popDue(1, limit), undefined);
  assert.equal(heap.live, 0);
});

Deno.test("TimerHeap compacts when most entries are cancelled", () => {
  const heap = new TimerHeap();
  const entries: TimerEntry[] = [];
  for (let i = 0; i < 10_000; i++) entries.push(heap.push(i, noop, [i]));
  for (let i = 0; i < 10_000; i++) if (i % 10 !== 0) heap.cancel(entries[i]!);
  assert.equal(heap.live, 1_000);
  // Without compaction the array would still hold all 10,000 entries.
  assert.ok(heap.size < 2_100, `size ${heap.size} after 90% cancelled`);
  const order = drain(heap, Infinity);
  assert.deepEqual(
    order,
    entries.filter((_, i) => i % 10 === 0).map((e) => e.deadline),
  );
});

Deno.test("TimerHeap.clear() makes every handle inert", () => {
  const heap = new TimerHeap();
  const e = heap.push(1, noop, [1]);
  heap.clear();
  assert.equal(heap.size, 0);
  assert.equal(heap.cancel(e), false);
  assert.equal(e.pending, false);
});

Deno.test("TimerHeap matches a sorted model under random pushes, cancels and pops (seed 1234)", () => {
  const random = seededRandom(1234);
  const heap = new TimerHeap();
  // The model: live entries, sorted on demand by (deadline, seq).
  const model = new Map<number, { deadline: number; seq: number }>();
  const handles: TimerEntry[] = [];
  let seq = 0;
  let now = 0;
  for (let step = 0; step < 20_000; step++) {
    const r = random();
    if (r < 0.55) {
      // Coarse deadlines so ties are frequent.
      const deadline = now + Math.floor(random() * 50);
      const id = seq++;
      handles.push(heap.push(deadline, noop, [id]));
      model.set(id, { deadline, seq: id });
    } else if (r < 0.85) {
      if (handles.length === 0) continue;
      const i = Math.floor(random() * handles.length);
      const h = handles[i]!;
      const id = h.args![0] as number;
      assert.equal(heap.cancel(h), model.delete(id));
    } else {
      now += Math.floor(random() * 20);
      const expected = [...model.values()]
        .filter((e) => e.deadline <= now)
        .sort((a, b) => a.deadline - b.deadline || a.seq - b.seq)
        .map((e) => e.seq);
      const got = drain(heap, now);
      assert.deepEqual(got, expected, `step ${step}`);
      for (const id of got) model.delete(id);
    }
    assert.equal(heap.live, model.size);
    // Lazy deletion never lets cancelled entries dominate a big heap.
    if (heap.size > 1100) assert.ok(heap.size - heap.live <= heap.size / 2 + 1);
  }
});
