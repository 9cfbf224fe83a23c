// Copyright the squall authors. MIT license.

// Each group puts a squall primitive beside the raw-promise code it replaces,
// so `deno bench` prints the ratio. Every case does N operations per
// iteration to keep timer overhead out of the figures.

import { DummyExecutor, Future } from "@squall/io/concurrent";

const N = 1000;
// Settled objects escape here, so the engine cannot optimise them away.
const sink: unknown[] = new Array(16);

Deno.bench({
  name: "Promise.withResolvers + resolve + await",
  group: "settle and await",
  baseline: true,
  async fn() {
    for (let i = 0; i < N; i++) {
      const { promise, resolve } = Promise.withResolvers<number>();
      resolve(i);
      await promise;
    }
  },
});

Deno.bench({
  name: "new Future + setResult + await",
  group: "settle and await",
  async fn() {
    for (let i = 0; i < N; i++) {
      const f = new Future<number>();
      f.setResult(i);
      await f;
    }
  },
});

Deno.bench({
  name: "Promise.withResolvers, awaited before resolve",
  group: "await then settle",
  baseline: true,
  async fn() {
    for (let i = 0; i < N; i++) {
      const { promise, resolve } = Promise.withResolvers<number>();
      queueMicrotask(() => resolve(i));
      await promise;
    }
  },
});

Deno.bench({
  name: "Future, awaited before setResult",
  group: "await then settle",
  async fn() {
    for (let i = 0; i < N; i++) {
      const f = new Future<number>();
      queueMicrotask(() => f.setResult(i));
      await f;
    }
  },
});

Deno.bench({
  name: "Promise.withResolvers + resolve, never awaited",
  group: "settle only",
  baseline: true,
  fn() {
    for (let i = 0; i < N; i++) {
      const { promise, resolve } = Promise.withResolvers<number>();
      resolve(i);
      sink[i & 15] = promise;
    }
  },
});

Deno.bench({
  name: "new Future + setResult, never awaited",
  group: "settle only",
  fn() {
    for (let i = 0; i < N; i++) {
      const f = new Future<number>();
      f.setResult(i);
      sink[i & 15] = f;
    }
  },
});

let callbacksRun = 0;
function onDone(): void {
  callbacksRun++;
}

Deno.bench({
  name: "Promise.withResolvers + then + resolve",
  group: "callback on settle",
  baseline: true,
  async fn() {
    for (let i = 0; i < N; i++) {
      const { promise, resolve } = Promise.withResolvers<number>();
      promise.then(onDone);
      resolve(i);
    }
    await new Promise((resolve) => setImmediate(resolve));
  },
});

Deno.bench({
  name: "new Future + addDoneCallback + setResult",
  group: "callback on settle",
  async fn() {
    for (let i = 0; i < N; i++) {
      const f = new Future<number>();
      f.addDoneCallback(onDone);
      f.setResult(i);
    }
    await new Promise((resolve) => setImmediate(resolve));
  },
});

function work(x: number): number {
  return x + 1;
}
const executor = new DummyExecutor();

Deno.bench({
  name: "direct call",
  group: "executor submit",
  baseline: true,
  fn() {
    let sum = 0;
    for (let i = 0; i < N; i++) sum += work(i);
    if (sum < 0) throw new Error("unreachable");
  },
});

Deno.bench({
  name: "DummyExecutor.submit + result()",
  group: "executor submit",
  fn() {
    let sum = 0;
    for (let i = 0; i < N; i++) sum += executor.submit(work, i).result();
    if (sum < 0) throw new Error("unreachable");
  },
});

Deno.bench({
  name: "await of a direct call",
  group: "executor submit + await",
  baseline: true,
  async fn() {
    let sum = 0;
    for (let i = 0; i < N; i++) sum += await work(i);
    if (sum < 0) throw new Error("unreachable");
  },
});

Deno.bench({
  name: "await DummyExecutor.submit",
  group: "executor submit + await",
  async fn() {
    let sum = 0;
    for (let i = 0; i < N; i++) sum += await executor.submit(work, i);
    if (sum < 0) throw new Error("unreachable");
  },
});
