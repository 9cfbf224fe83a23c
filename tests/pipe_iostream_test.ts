// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import { PipeIOStream, StreamClosedError } from "../iostream/mod.ts";
import { type PairFactory, streamSuite } from "./_stream_suite.ts";
import { flush, isPending } from "./_wait_helpers.ts";

// One direction of an in-memory pipe: a byte ReadableStream (so the reader
// side can use BYOB reads) fed by a WritableStream with backpressure.
// Cancelling the readable makes later writes fail, like EPIPE.
function bytePipe(highWaterMark = 65536): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
} {
  let controller!: ReadableByteStreamController;
  let room: PromiseWithResolvers<void> | null = null;
  let cancelled = false;
  const wake = () => {
    room?.resolve();
    room = null;
  };
  const readable = new ReadableStream({
    type: "bytes",
    start(c) {
      controller = c;
    },
    pull: wake,
    cancel() {
      cancelled = true;
      wake();
    },
  }, { highWaterMark });
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (cancelled) throw new Deno.errors.BrokenPipe("reader cancelled");
      controller.enqueue(chunk.slice()); // enqueue transfers: keep ours
      while (!cancelled && (controller.desiredSize ?? 0) <= 0) {
        room ??= Promise.withResolvers();
        await room.promise;
      }
    },
    close() {
      if (cancelled) return;
      controller.close();
      // A byte source must release a pending BYOB read itself.
      controller.byobRequest?.respond(0);
    },
  });
  return { readable, writable };
}

const pipePair: PairFactory = (options = {}) => {
  const ab = bytePipe();
  const ba = bytePipe();
  const a = new PipeIOStream(
    { readable: ba.readable, writable: ab.writable },
    options.a,
  );
  const b = new PipeIOStream(
    { readable: ab.readable, writable: ba.writable },
    options.b,
  );
  return Promise.resolve({
    a,
    b,
    close: () => {
      a.close();
      b.close();
      return Promise.resolve();
    },
  });
};

streamSuite("PipeIOStream", pipePair);

Deno.test("PipeIOStream reads a child's stdout with BYOB and close() ends its stdin", async () => {
  const child = new Deno.Command("cat", { stdin: "piped", stdout: "piped" })
    .spawn();
  const pipe = new PipeIOStream({
    readable: child.stdout,
    writable: child.stdin,
  });
  const payload = new Uint8Array(1 << 20).map((_, i) => i * 7);
  const writing = pipe.write(payload);
  const back = await pipe.readBytes(payload.length);
  await writing;
  assert.deepEqual(back, payload);
  await pipe.write("last line\n");
  assert.equal(
    new TextDecoder().decode(await pipe.readUntil("\n")),
    "last line\n",
  );
  pipe.close();
  const status = await child.status;
  assert.equal(status.success, true);
});

Deno.test("PipeIOStream over a child's stdout alone reads until the child exits", async () => {
  const child = new Deno.Command("printf", {
    args: ["a\\nb\\nc"],
    stdout: "piped",
  }).spawn();
  const pipe = new PipeIOStream(child.stdout);
  assert.equal(new TextDecoder().decode(await pipe.readUntil("\n")), "a\n");
  assert.equal(new TextDecoder().decode(await pipe.readUntilClose()), "b\nc");
  await assert.rejects(pipe.write("x"), StreamClosedError);
  assert.equal((await child.status).success, true);
});

Deno.test("PipeIOStream over a default (non-byte) readable and a write-only end", async () => {
  const chunks = ["he", "llo\n", "world"].map((s) =>
    new TextEncoder().encode(s)
  );
  const readable = new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks.shift();
      if (next === undefined) c.close();
      else c.enqueue(next);
    },
  });
  const reader = new PipeIOStream(readable);
  assert.equal(
    new TextDecoder().decode(await reader.readUntil("\n")),
    "hello\n",
  );
  assert.equal(
    new TextDecoder().decode(await reader.readUntilClose()),
    "world",
  );

  const got: string[] = [];
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      got.push(new TextDecoder().decode(chunk));
    },
  });
  const writer = new PipeIOStream(writable);
  await writer.write("one");
  await writer.write("two");
  assert.deepEqual(got, ["one", "two"]);
  // No readable end: as with a peer that never sends, reads wait until
  // the writable end is done, then see end of stream.
  const rest = writer.readUntilClose();
  assert.equal(await isPending(rest), true);
  writer.close();
  assert.equal((await rest).length, 0);
  assert.equal(writer.closed(), true);
});

Deno.test("PipeIOStream without a writable end refuses writes and loses nothing", async () => {
  const { readable, writable } = bytePipe();
  const feeder = writable.getWriter();
  const pipe = new PipeIOStream(readable);
  const reading = pipe.readUntil("\n");
  await assert.rejects(pipe.write("x"), {
    name: "Error",
    message: "Cannot write: this PipeIOStream has no writable end",
  });
  pipe.write(new Uint8Array([1])); // ignored: must not end the process
  assert.equal(pipe.closed(), false);
  assert.equal(pipe.error, null);
  assert.equal(await isPending(reading), true, "the read went on");
  await feeder.write(new TextEncoder().encode("line\n"));
  assert.equal(new TextDecoder().decode(await reading), "line\n");
  pipe.close();
  await assert.rejects(pipe.write("late"), StreamClosedError);
  await feeder.close().catch(() => {});
  await flush();
});

Deno.test("PipeIOStream: BYOB reads that come back full grow to readChunkSize", async () => {
  const asked: number[] = [];
  class Counting extends PipeIOStream {
    protected override readFromFd(buf: Uint8Array) {
      asked.push(buf.length);
      return super.readFromFd(buf);
    }
  }
  const { readable, writable } = bytePipe();
  const pipe = new Counting(readable);
  const feeding = (async () => {
    const feeder = writable.getWriter();
    for (let i = 0; i < 16; i++) await feeder.write(new Uint8Array(65536));
    await feeder.close();
  })();
  let total = 0;
  await pipe.readUntilClose({
    streamingCallback: (c) => void (total += c.length),
  });
  await feeding;
  assert.equal(total, 16 * 65536);
  // A BYOB read detaches the buffer it was given: growth must not depend
  // on that buffer's length afterwards.
  assert.deepEqual(asked.slice(0, 4), [1024, 4096, 16384, 65536]);
  assert.ok(asked.length < 40, `${asked.length} reads for 1 MiB`);
  pipe.close();
});

Deno.test("PipeIOStream hands the writable end chunks it owns: queued writes and reused buffers never change them", async () => {
  const kept: Uint8Array[] = [];
  const pipe = new PipeIOStream(
    new WritableStream<Uint8Array>({ write: (chunk) => void kept.push(chunk) }),
  );
  const expected: string[] = [];
  const reused = new Uint8Array(3);
  for (let round = 0; round < 3; round++) {
    // The second write queues behind the first, in the stream's buffer.
    expected.push(`A${round};`, `B${round};`);
    await Promise.all([pipe.write(`A${round};`), pipe.write(`B${round};`)]);
    // The fast path writes the caller's bytes, which it may then reuse.
    reused.set(new TextEncoder().encode(`C${round};`));
    await pipe.write(reused);
    expected.push(`C${round};`);
  }
  reused.fill(0);
  assert.equal(
    kept.map((chunk) => new TextDecoder().decode(chunk)).join(""),
    expected.join(""),
  );
  pipe.close();
  await flush();
});

Deno.test("PipeIOStream pair joined by an identity TransformStream delivers every line intact", async () => {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(
    undefined,
    { highWaterMark: 16 },
    { highWaterMark: 16 },
  );
  const writer = new PipeIOStream(writable);
  const reader = new PipeIOStream(readable);
  const lines: string[] = [];
  for (let i = 0; i < 5; i++) {
    lines.push(`line ${i}a\n`, `line ${i}b\n`);
    await Promise.all([
      writer.write(`line ${i}a\n`),
      writer.write(`line ${i}b\n`),
    ]);
  }
  const got: string[] = [];
  for (const _ of lines) {
    got.push(new TextDecoder().decode(await reader.readUntil("\n")));
  }
  assert.deepEqual(got, lines);
  writer.close();
  reader.close();
  await flush();
});

Deno.test("PipeIOStream over a child's stdin alone: a close callback does not close it", async () => {
  const child = new Deno.Command("cat", { stdin: "piped", stdout: "piped" })
    .spawn();
  const stdin = new PipeIOStream(child.stdin);
  const stdout = new PipeIOStream(child.stdout);
  let closes = 0;
  stdin.setCloseCallback(() => closes++);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(stdin.closed(), false);
  await stdin.write("still open\n");
  assert.equal(
    new TextDecoder().decode(await stdout.readUntil("\n")),
    "still open\n",
  );
  assert.equal(closes, 0);
  stdin.close();
  assert.equal((await stdout.readUntilClose()).length, 0);
  assert.equal((await child.status).success, true);
  // The close callback runs on an immediate queued by close(): this one
  // comes after it.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closes, 1);
});

Deno.test("PipeIOStream without a readable end closes when its writable fails", async () => {
  let controller!: WritableStreamDefaultController;
  const writable = new WritableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  const pipe = new PipeIOStream(writable);
  const closed = Promise.withResolvers<void>();
  pipe.setCloseCallback(() => closed.resolve());
  const gone = new Error("sink gone");
  controller.error(gone);
  await closed.promise;
  assert.equal(pipe.closed(), true);
  assert.equal(pipe.error, gone);
});

Deno.test("PipeIOStream rejects a readable that yields non-bytes", async () => {
  const readable = new ReadableStream({
    start(c) {
      c.enqueue("text, not bytes");
    },
  }) as unknown as ReadableStream<Uint8Array>;
  const pipe = new PipeIOStream(readable);
  const err = await pipe.readBytes(1).then(() => null, (e) => e);
  assert.ok(err instanceof StreamClosedError);
  assert.ok(err.realError instanceof TypeError);
  assert.ok(pipe.error instanceof TypeError);
});

Deno.test("new PipeIOStream() throws TypeError for anything but streams", () => {
  assert.throws(() => new PipeIOStream({}), TypeError);
  assert.throws(
    () => new PipeIOStream(42 as unknown as ReadableStream<Uint8Array>),
    TypeError,
  );
  assert.throws(
    () =>
      new PipeIOStream({
        readable: "x" as unknown as ReadableStream<Uint8Array>,
      }),
    {
      name: "TypeError",
      message:
        'PipeIOStream: readable must be a ReadableStream, got string "x"',
    },
  );
});

Deno.test("new PipeIOStream() with a locked end throws and takes neither end", () => {
  const readable = new ReadableStream<Uint8Array>();
  const writable = new WritableStream<Uint8Array>();
  const writer = writable.getWriter();
  assert.throws(() => new PipeIOStream({ readable, writable }), {
    name: "TypeError",
    message:
      "PipeIOStream: the writable end is locked (another reader or writer has it)",
  });
  assert.equal(readable.locked, false);
  writer.releaseLock();
  const reader = readable.getReader();
  assert.throws(() => new PipeIOStream({ readable, writable }), {
    name: "TypeError",
    message:
      "PipeIOStream: the readable end is locked (another reader or writer has it)",
  });
  assert.equal(writable.locked, false);
  reader.releaseLock();
});

Deno.test("PipeIOStream over a default readable takes a chunk bigger than maxBufferSize in parts", async () => {
  const big = new Uint8Array(100_000).fill(65);
  const chunks = [big, new TextEncoder().encode("tail")];
  const readable = new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks.shift();
      if (next === undefined) c.close();
      else c.enqueue(next);
    },
  });
  const pipe = new PipeIOStream(readable, { maxBufferSize: 65536 });
  // A read that one chunk satisfies leaves the stream open and the rest
  // readable: no StreamBufferFullError for bytes nobody asked to hold.
  assert.equal((await pipe.readBytes(10)).length, 10);
  assert.equal(pipe.closed(), false);
  assert.equal(pipe.error, null);
  let rest = 0;
  let last: Uint8Array = new Uint8Array();
  for await (const chunk of pipe) {
    rest += chunk.length;
    last = chunk;
  }
  assert.equal(rest, 100_000 - 10 + 4);
  assert.equal(new TextDecoder().decode(last.subarray(-4)), "tail");
  assert.equal(pipe.error, null);
});

Deno.test("PipeIOStream keeps its own copy of a default reader's chunks: a producer reusing its array changes nothing read", async () => {
  // The generator refills one array for each chunk it yields, once the
  // stream asks for the next chunk (ReadableStream.from pulls lazily).
  const shared = new Uint8Array(40000);
  async function* refilled() {
    for (const byte of [65, 66]) {
      shared.fill(byte);
      yield shared;
    }
  }
  const pipe = new PipeIOStream(ReadableStream.from(refilled()));
  const all = await pipe.readUntilClose();
  assert.equal(all.length, 80000);
  assert.ok(all.subarray(0, 40000).every((b) => b === 65), "first chunk");
  assert.ok(all.subarray(40000).every((b) => b === 66), "second chunk");
});

Deno.test("PipeIOStream.close() fails a write its stalled writable end never takes, one turn later", async () => {
  // An identity TransformStream nobody reads: the sink takes nothing.
  const stalled = new TransformStream<Uint8Array, Uint8Array>();
  const pipe = new PipeIOStream(stalled.writable);
  const handed = pipe.write("first"); // given to the writable end, waiting
  const queued = pipe.write("second"); // still in the stream's queue
  await flush();
  assert.equal(await isPending(handed), true);
  const closed = Promise.withResolvers<void>();
  pipe.setCloseCallback(() => closed.resolve());
  pipe.close();
  await assert.rejects(queued, StreamClosedError);
  await assert.rejects(handed, StreamClosedError);
  await closed.promise;
  assert.equal(pipe.writing(), false);
});
