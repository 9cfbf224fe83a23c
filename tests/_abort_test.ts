import assert from "node:assert/strict";
import { AbortFollower, type AbortTarget } from "../locks/_abort.ts";
import { countingSignal } from "./_wait_helpers.ts";
import { seededRandom } from "./_rng.ts";

/** A target that logs its abort and may unfollow others when it fires. */
class Probe implements AbortTarget {
  readonly id: number;
  readonly log: number[];
  readonly follower: AbortFollower;
  /** Probes this one unfollows when its signal aborts. */
  unfollowOnAbort: Probe[] = [];

  constructor(signal: AbortSignal, id: number, log: number[]) {
    this.id = id;
    this.log = log;
    this.follower = new AbortFollower(signal, this);
  }

  unfollow(): void {
    this.follower.unfollow();
  }

  onAbort(): void {
    this.log.push(this.id);
    for (const other of this.unfollowOnAbort) other.unfollow();
  }
}

Deno.test("AbortFollower: randomized follows, unfollows and aborts match a model", () => {
  const random = seededRandom(20261122);
  const log: number[] = [];
  let signals = Array.from({ length: 4 }, countingSignal);
  /** The model: each live signal's followers, in follow order. */
  const model = new Map<AbortSignal, Probe[]>(
    signals.map((s) => [s.signal, []]),
  );
  let nextId = 0;
  let aborts = 0;
  let unfollowsInDispatch = 0;
  for (let step = 0; step < 5000; step++) {
    const r = random();
    const s = signals[Math.floor(random() * signals.length)]!;
    const followers = model.get(s.signal)!;
    if (r < 0.5) {
      followers.push(new Probe(s.signal, nextId++, log));
    } else if (r < 0.85) {
      const victim = followers[Math.floor(random() * followers.length)];
      if (victim) {
        victim.unfollow();
        victim.unfollow(); // a second time does nothing
        followers.splice(followers.indexOf(victim), 1);
      }
    } else if (r < 0.9) {
      // Abort: every follower in follow order, except those unfollowed by
      // an earlier one's onAbort.
      const expected: number[] = [];
      const gone = new Set<Probe>();
      for (const f of followers) {
        if (random() < 0.3) {
          const others = followers.filter((o) => o !== f);
          const other = others[Math.floor(random() * others.length)];
          if (other) f.unfollowOnAbort.push(other);
        }
      }
      for (const f of followers) {
        if (gone.has(f)) continue;
        expected.push(f.id);
        gone.add(f);
        for (const o of f.unfollowOnAbort) {
          if (!gone.has(o)) unfollowsInDispatch++;
          gone.add(o);
        }
      }
      log.length = 0;
      s.controller.abort();
      aborts++;
      assert.deepEqual(log, expected);
      // Unfollowing after the abort does nothing.
      for (const f of followers) f.unfollow();
      model.delete(s.signal);
      const fresh = countingSignal();
      model.set(fresh.signal, []);
      signals = signals.map((x) => x === s ? fresh : x);
      continue;
    }
    for (const x of signals) {
      const n = model.get(x.signal)!.length;
      assert.equal(x.listeners(), n > 0 ? 1 : 0, "one listener while followed");
      assert.ok(x.peak() <= 1);
    }
  }
  assert.ok(aborts > 100 && unfollowsInDispatch > 10, "every path was taken");
  for (const x of signals) {
    for (const f of model.get(x.signal)!) f.unfollow();
    assert.equal(x.listeners(), 0, "no listener once nobody follows");
  }
});

Deno.test("AbortFollower: a follower that throws is reported and the others still run", async () => {
  const log: number[] = [];
  const boom = new Error("boom");
  const { controller, signal } = countingSignal();
  new Probe(signal, 1, log);
  new AbortFollower(signal, {
    onAbort() {
      throw boom;
    },
  });
  new Probe(signal, 2, log);
  const reported: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    reported.push(e.error);
    e.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  try {
    controller.abort();
    assert.deepEqual(log, [1, 2]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(reported, [boom]);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});
