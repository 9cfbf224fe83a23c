// Run by tests/base_iostream_test.ts with --v8-flags=--expose-gc: N writes,
// each made before the one ahead of it resolved (so the stream's queue of
// waiting writes never empties), then N writes queued at once, and the heap
// after a full GC compared with the heap before. Prints one JSON line.
import { BaseIOStream } from "../../iostream/mod.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

const N = Number(Deno.args[0] ?? 300_000);

// A transport that takes every write whole, on a later turn.
class Later extends BaseIOStream {
  protected override readFromFd(): Promise<null> {
    return new Promise(() => {});
  }
  protected override writeToFd(data: Uint8Array): Promise<number> {
    return new Promise((resolve) => setImmediate(() => resolve(data.length)));
  }
  protected override closeFd(): void {}
}

const stream = new Later();
const message = new Uint8Array(16);

async function writeAhead(n: number): Promise<void> {
  let previous: Promise<void> = Promise.resolve();
  for (let i = 0; i < n; i++) {
    const next = stream.write(message);
    await previous;
    previous = next;
  }
  await previous;
}

function heap(): number {
  for (let i = 0; i < 3; i++) gc!();
  return Deno.memoryUsage().heapUsed;
}

// Then a burst: N writes queued at once, all awaited; the idle stream must
// not keep what the burst needed.
async function burst(n: number): Promise<void> {
  const writes: Promise<void>[] = [];
  for (let i = 0; i < n; i++) writes.push(stream.write(message));
  await Promise.all(writes);
}

await writeAhead(1000); // warm up
await burst(1000);
const before = heap();
await writeAhead(N);
const after = heap();
await burst(N);
const afterBurst = heap();
stream.close();
console.log(JSON.stringify({ n: N, before, after, afterBurst }));
