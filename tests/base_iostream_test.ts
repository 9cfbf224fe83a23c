// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import {
  BaseIOStream,
  type ReadBytesOptions,
  type ReadUntilOptions,
  StreamClosedError,
  type StreamOptions,
  UnsatisfiableReadError,
} from "../iostream/mod.ts";
import { StreamBuffer } from "../iostream/_stream_buffer.ts";
import {
  countUnhandledRejections,
  macrotask,
  runGcScript,
} from "./_capture.ts";
import {
  assertWaitReadsOptionsOnce,
  fickleOptions,
} from "./_fickle_options.ts";

// A stream fed from a script of chunks, one chunk per transport read.
class Scripted extends BaseIOStream {
  #parts: Uint8Array[];
  constructor(parts: Uint8Array[], options?: StreamOptions) {
    super(options);
    this.#parts = parts;
  }
  protected override readFromFd(buf: Uint8Array): Promise<number | null> {
    // A read into no space could only return 0, again and again.
    if (buf.length === 0) throw new Error("readFromFd() got an empty buffer");
    const part = this.#parts.shift();
    if (part === undefined) return Promise.resolve(null);
    // Like a socket: what does not fit stays for the next read.
    if (part.length > buf.length) {
      this.#parts.unshift(part.subarray(buf.length));
    }
    buf.set(part.subarray(0, buf.length));
    return Promise.resolve(Math.min(part.length, buf.length));
  }
  protected override writeToFd(data: Uint8Array): Promise<number> {
    return Promise.resolve(data.length);
  }
  protected override closeFd(): void {}
}

Deno.test("readUntil() scans each byte a bounded number of times when the line dribbles in", async () => {
  const n = 20000;
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) parts.push(new Uint8Array([120]));
  parts.push(new Uint8Array([13]), new Uint8Array([10]));
  const stream = new Scripted(parts);
  const original = StreamBuffer.prototype.indexOf;
  let scanned = 0;
  let calls = 0;
  StreamBuffer.prototype.indexOf = function (
    this: StreamBuffer,
    delim: Uint8Array,
    from = 0,
  ): number {
    calls++;
    scanned += Math.max(0, this.size - from);
    return original.call(this, delim, from);
  };
  try {
    const line = await stream.readUntil("\r\n");
    assert.equal(line.length, n + 2);
  } finally {
    StreamBuffer.prototype.indexOf = original;
    stream.close();
  }
  assert.ok(calls > n / 2, `only ${calls} searches`);
  // O(n): every search starts where the previous one could no longer
  // match, so the bytes looked at add up to about n, not n²/2.
  assert.ok(scanned <= 3 * n, `scanned ${scanned} bytes for a ${n}-byte line`);
});

Deno.test("a streaming callback that throws rejects the read and closes the stream", async () => {
  const stream = new Scripted([new Uint8Array([1, 2, 3])]);
  const boom = new Error("callback failed");
  await assert.rejects(
    stream.readBytes(3, {
      streamingCallback: () => {
        throw boom;
      },
    }),
    (err) => err === boom,
  );
  assert.equal(stream.closed(), true);
  assert.equal(stream.error, boom);
});

Deno.test("reads of one-byte chunks are coalesced and served in order", async () => {
  const text = "alpha\nbeta\ngamma";
  const parts = [...new TextEncoder().encode(text)].map((b) =>
    new Uint8Array([b])
  );
  const stream = new Scripted(parts);
  const dec = new TextDecoder();
  assert.equal(dec.decode(await stream.readUntil("\n")), "alpha\n");
  assert.equal(dec.decode(await stream.readBytes(5)), "beta\n");
  assert.equal(dec.decode(await stream.readUntilClose()), "gamma");
});

Deno.test("readUntil() of a buffered line keeps every check of the slow path", async () => {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const stream = new Scripted([
    enc.encode("one\ntwo\nthree\na long line here\n"),
    enc.encode("tail\r\n"),
  ]);
  try {
    assert.equal(dec.decode(await stream.readUntil("\n")), "one\n");
    assert.equal(dec.decode(await stream.readUntil("\n")), "two\n"); // fast
    const pending = stream.readBytes(1000);
    await assert.rejects(stream.readUntil("\n"), /another read is pending/);
    stream.close();
    await assert.rejects(pending);
  } finally {
    stream.close();
  }
  const limited = new Scripted([enc.encode("ab\na long line here\n")]);
  assert.equal(dec.decode(await limited.readUntil("\n")), "ab\n");
  // Buffered, but longer than maxBytes: the limit still applies.
  await assert.rejects(
    limited.readUntil("\n", { maxBytes: 4 }),
    UnsatisfiableReadError,
  );
  assert.equal(limited.closed(), true);
  // Another delimiter after the fast one is not confused with it.
  const mixed = new Scripted([enc.encode("a\nb\r\nc\n")]);
  assert.equal(dec.decode(await mixed.readUntil("\n")), "a\n");
  assert.equal(dec.decode(await mixed.readUntil("\r\n")), "b\r\n");
  assert.equal(dec.decode(await mixed.readUntil(new Uint8Array([10]))), "c\n");
  mixed.close();
});

Deno.test("every read rejects options that are not an object, on the fast path too, and consumes nothing", async () => {
  const enc = new TextEncoder();
  const stream = new Scripted([enc.encode("a\nb\nc\n")]);
  assert.deepEqual([...await stream.readUntil("\n")], [97, 10]);
  // The next line is buffered: readUntil("\n") would take its fast path.
  const reads: [string, (o: never) => Promise<unknown>][] = [
    ["readUntil", (o) => stream.readUntil("\n", o)],
    ["readUntilRegex", (o) => stream.readUntilRegex(/\n/, o)],
    ["readBytes", (o) => stream.readBytes(1, o)],
    ["readInto", (o) => stream.readInto(new Uint8Array(1), o)],
    ["readUntilClose", (o) => stream.readUntilClose(o)],
  ];
  for (const [name, read] of reads) {
    for (const [bad, said] of [[null, "null"], [5, "number 5"]] as const) {
      let settled: Promise<unknown>;
      assert.doesNotThrow(() => {
        settled = read(bad as never);
      }, `${name} threw instead of rejecting`);
      await assert.rejects(settled!, {
        name: "TypeError",
        message: `Options must be an object, got ${said}`,
      });
    }
  }
  assert.equal(stream.closed(), false);
  assert.deepEqual([...await stream.readUntil("\n")], [98, 10]);
  stream.close();
});

Deno.test("a tiny readChunkSize keeps reading after its block fills up", async () => {
  // readChunkSize 1: every transport read asks for one byte. Once the first
  // 1024-byte block was filled and handed out, reads used to be lent zero
  // bytes, which a real socket answers with 0 at once: a busy loop.
  const data = new Uint8Array(3000);
  for (let i = 0; i < data.length; i++) data[i] = i % 251;
  const stream = new Scripted([data], { readChunkSize: 1 });
  try {
    for (let i = 0; i < data.length; i++) {
      assert.equal((await stream.readBytes(1))[0], i % 251, `byte ${i}`);
    }
  } finally {
    stream.close();
  }
  assert.equal(stream.error, null);
});

Deno.test("close() from a streaming callback given the last bytes still resolves the read", async () => {
  const stream = new Scripted([new Uint8Array([1, 2]), new Uint8Array([3, 4])]);
  const seen: number[] = [];
  const done = await stream.readBytes(4, {
    streamingCallback: (chunk) => {
      seen.push(...chunk);
      if (seen.length === 4) stream.close(); // got everything: hang up
    },
  });
  assert.equal(done.length, 0);
  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.equal(stream.closed(), true);
  // Closing before the last byte still fails the read.
  const short = new Scripted([new Uint8Array([1, 2]), new Uint8Array([3, 4])]);
  await assert.rejects(
    short.readBytes(4, { streamingCallback: () => short.close() }),
    StreamClosedError,
  );
});

Deno.test("a streaming callback that aborts the read's signal as the read starts makes it give up", async () => {
  const text = (s: string) => new TextEncoder().encode(s);
  const stream = new Scripted([text("ab\ncdefg"), text("hij")]);
  assert.deepEqual(await stream.readUntil("\n"), text("ab\n"));
  const seen: number[] = [];
  const abortingWith = (reason: Error) => {
    const controller = new AbortController();
    return {
      signal: controller.signal,
      streamingCallback: (chunk: Uint8Array) => {
        seen.push(...chunk);
        controller.abort(reason);
      },
    };
  };
  // The buffered bytes would serve the read at once.
  const first = new Error("first");
  await assert.rejects(
    stream.readBytes(2, abortingWith(first)),
    (err) => err === first,
  );
  // They would not: the read waits for more, but gave up already.
  const second = new Error("second");
  await assert.rejects(
    stream.readBytes(5, abortingWith(second)),
    (err) => err === second,
  );
  assert.deepEqual(seen, [...text("cdefg")]);
  assert.equal(stream.reading(), false);
  assert.equal(stream.closed(), false);
  // What arrives afterwards stays for the next read.
  assert.deepEqual(await stream.readBytes(3), text("hij"));
  // On a closed stream, readUntilClose() would resolve with the rest.
  stream.close();
  const closed = new Scripted([text("x\nyz")]);
  await closed.readUntil("\n");
  closed.close();
  const third = new Error("third");
  await assert.rejects(
    closed.readUntilClose(abortingWith(third)),
    (err) => err === third,
  );
  assert.deepEqual(seen, [...text("cdefgyz")]);
});

Deno.test("a close callback still notices the end after a streaming readBytes() took all that was buffered", async () => {
  const stream = new Scripted([new Uint8Array([1, 2, 3])]);
  const closed = Promise.withResolvers<void>();
  stream.setCloseCallback(() => closed.resolve());
  await macrotask(); // the close callback's read-ahead buffered the bytes
  assert.equal(stream.readBufferSize, 3);
  const seen: number[] = [];
  const done = await stream.readBytes(3, {
    streamingCallback: (chunk) => seen.push(...chunk),
  });
  assert.equal(done.length, 0);
  assert.deepEqual(seen, [1, 2, 3]);
  // Nothing is buffered any more: the stream reads again, and sees the end.
  await macrotask();
  assert.equal(stream.closed(), true);
  await closed.promise;
});

Deno.test("errors for bad arguments and clashing reads say what was given", async () => {
  const stream = new Scripted([]);
  await assert.rejects(stream.readInto(new Uint16Array(2) as never), {
    name: "TypeError",
    message: "Buffer must be a Uint8Array, got Uint16Array",
  });
  await assert.rejects(stream.write(new ArrayBuffer(2) as never), {
    name: "TypeError",
    message: "Data must be a Uint8Array or a string, got ArrayBuffer",
  });
  await assert.rejects(stream.readBytes("3" as never), {
    name: "TypeError",
    message: 'n must be a number, got string "3"',
  });
  await assert.rejects(stream.readUntil(null as never), {
    name: "TypeError",
    message: "Delimiter must be a Uint8Array or a string, got null",
  });
  const pending = stream.readUntil("\n");
  await assert.rejects(stream.readBytes(1), {
    name: "Error",
    message: "Cannot start a read while another read is pending: readUntil()",
  });
  stream.close();
  await assert.rejects(pending, StreamClosedError);
});

Deno.test("StreamBufferFullError says the limit and how much was buffered", async () => {
  // Transport reads of 32 bytes (readChunkSize is capped at half the max).
  const parts = [new Uint8Array(32), new Uint8Array(32), new Uint8Array(32)];
  const stream = new Scripted(parts, { maxBufferSize: 64 });
  await assert.rejects(stream.readUntil("\n"), {
    name: "StreamBufferFullError",
    message:
      "Reached maxBufferSize (64 bytes) while reading: 96 bytes buffered",
  });
});

Deno.test("readBytes() of more than maxBufferSize fails at once, consumes nothing and leaves the stream open", async () => {
  const data = new Uint8Array(100).map((_, i) => i);
  const stream = new Scripted([data.subarray(0, 30), data.subarray(30)], {
    maxBufferSize: 64,
  });
  await assert.rejects(stream.readBytes(65), {
    name: "UnsatisfiableReadError",
    message: "Cannot read 65 bytes whole: maxBufferSize is 64; read them " +
      "with partial or a streamingCallback, or raise maxBufferSize",
  });
  assert.equal(stream.closed(), false);
  assert.equal(stream.reading(), false);
  assert.equal(stream.error, null);
  // Nothing was lost: the same bytes can be read within the limit...
  assert.deepEqual(await stream.readBytes(64), data.subarray(0, 64));
  // ...and a read of more than the limit works when it need not hold it all.
  const first = await stream.readBytes(65, { partial: true });
  assert.deepEqual(first, data.subarray(64, 64 + first.length));
  const seen: number[] = [];
  const streamed = new Scripted([data], { maxBufferSize: 64 });
  const got = await streamed.readBytes(100, {
    streamingCallback: (chunk) => seen.push(...chunk),
  });
  assert.equal(got.length, 0);
  assert.deepEqual(seen, [...data]);
  stream.close();
  streamed.close();
});

Deno.test("reads nobody awaits do not crash the process when the stream closes or fails", async () => {
  const unhandled = await countUnhandledRejections(async () => {
    const closed = new Scripted([new Uint8Array([1])]);
    closed.readBytes(10); // parked, then rejected by close()
    await new Promise((resolve) => setTimeout(resolve, 1));
    closed.close();
    const full = new Scripted([new Uint8Array(40), new Uint8Array(40)], {
      maxBufferSize: 64,
    });
    full.readUntilClose(); // parked, then StreamBufferFullError
    await new Promise((resolve) => setTimeout(resolve, 1));
    assert.ok(full.error?.name === "StreamBufferFullError");
  });
  assert.equal(unhandled, 0);
});

// A stream whose transport writes wait until the test settles them.
class HeldWrites extends BaseIOStream {
  readonly held: PromiseWithResolvers<number>[] = [];
  readonly #eof = Promise.withResolvers<null>();
  protected override readFromFd(): Promise<null> {
    return this.#eof.promise;
  }
  protected override writeToFd(): Promise<number> {
    const write = Promise.withResolvers<number>();
    this.held.push(write);
    return write.promise;
  }
  protected override closeFd(): void {
    this.#eof.resolve(null);
  }
}

Deno.test("close() with a transport write in progress: that write decides the writes it carries", async (t) => {
  // Each case: "first" goes straight to the transport, which holds it;
  // "second" waits in the queue behind it. close(), then the transport
  // settles its write as `settle` says.
  async function run(
    settle: (held: PromiseWithResolvers<number>) => void,
  ): Promise<string[]> {
    const stream = new HeldWrites();
    const log: string[] = [];
    const closed = Promise.withResolvers<void>();
    stream.setCloseCallback(() => {
      log.push("close callback");
      closed.resolve();
    });
    const outcome = (name: string) =>
      [
        () => log.push(`${name} resolved`),
        (err: Error) => log.push(`${name} rejected: ${err.name}`),
      ] as const;
    const first = stream.write("hello").then(...outcome("first"));
    const second = stream.write("world").then(...outcome("second"));
    stream.close();
    assert.equal(stream.writing(), false);
    await closed.promise;
    assert.equal(stream.held.length, 1, "nothing more goes to the transport");
    settle(stream.held[0]!);
    await Promise.all([first, second]);
    return log;
  }

  await t.step("taken whole (it reached the OS): it resolves", async () => {
    assert.deepEqual(await run((held) => held.resolve(5)), [
      "second rejected: StreamClosedError",
      "close callback",
      "first resolved",
    ]);
  });
  await t.step("taken in part: it rejects", async () => {
    assert.deepEqual(await run((held) => held.resolve(3)), [
      "second rejected: StreamClosedError",
      "close callback",
      "first rejected: StreamClosedError",
    ]);
  });
  await t.step("cancelled by the close: it rejects", async () => {
    const cancelled = new Deno.errors.Interrupted("operation canceled");
    assert.deepEqual(await run((held) => held.reject(cancelled)), [
      "second rejected: StreamClosedError",
      "close callback",
      "first rejected: StreamClosedError",
    ]);
  });
});

Deno.test("close() fails a write nothing was handed to at once, before the close callback", async () => {
  const stream = new HeldWrites();
  const log: string[] = [];
  stream.setCloseCallback(() => log.push("close callback"));
  stream.write("hello"); // held by the transport
  stream.held[0]!.resolve(5);
  const queued = stream.write("world"); // queued: the transport saw nothing
  stream.close();
  await queued.then(
    () => log.push("queued write resolved"),
    (err) => log.push(`queued write rejected: ${err.name}`),
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(log, [
    "queued write rejected: StreamClosedError",
    "close callback",
  ]);
  assert.equal(stream.held.length, 1);
});

Deno.test("writes kept one ahead of their flushes, or queued in a burst, leave no memory behind", async () => {
  // A subprocess, so a full GC can be forced before each measurement.
  const result = await runGcScript("write_waiter_memory.ts", "300000");
  assert.equal(result.n, 300_000);
  // Keeping a slot per write ever made grew the heap by ~3.2 MB here (and
  // by far more when the slots kept their promises), and so did keeping
  // the slots of a burst once idle; a clean run grows by ~0.2 MB. 1 MB is
  // a generous but real bound (about 3 B per write).
  const before = result.before as number;
  const growth = (result.after as number) - before;
  assert.ok(growth < 1_000_000, `heap grew by ${growth} bytes (write ahead)`);
  const kept = (result.afterBurst as number) - before;
  assert.ok(kept < 1_000_000, `heap grew by ${kept} bytes (after a burst)`);
});

Deno.test("a transport that breaks the readFromFd()/writeToFd() contract closes the stream with a TypeError", async (t) => {
  // deno-lint-ignore no-explicit-any
  type Any = any;
  class Broken extends BaseIOStream {
    constructor(readResult: Any, writeResult: Any) {
      super();
      this.readResult = readResult;
      this.writeResult = writeResult;
    }
    readResult: Any;
    writeResult: Any;
    protected override readFromFd(): Promise<Any> {
      return Promise.resolve(this.readResult);
    }
    protected override writeToFd(): Promise<number> {
      return Promise.resolve(this.writeResult);
    }
    protected override closeFd(): void {}
  }
  const reads: Array<[string, unknown, RegExp]> = [
    ["undefined", undefined, /got undefined/],
    [
      "a negative count",
      -1,
      /count from 0 to \d+, a Uint8Array or null, got -1/,
    ],
    ["a count past the buffer", 1e9, /got 1000000000/],
    ["a fraction", 0.5, /got 0\.5/],
    ["an ArrayBuffer", new ArrayBuffer(4), /got ArrayBuffer/],
    ["a Uint16Array", new Uint16Array(2), /got Uint16Array/],
    ["a string", "a\n", /got string/],
  ];
  for (const [name, result, message] of reads) {
    await t.step(`readFromFd() resolving ${name}`, async () => {
      const stream = new Broken(result, 1);
      const err = await stream.readUntil("\n").then(
        () => assert.fail("the read resolved"),
        (e) => e,
      );
      assert.ok(err instanceof StreamClosedError);
      assert.ok(err.realError instanceof TypeError);
      assert.match(err.realError.message, message);
      assert.equal(stream.closed(), true);
    });
  }
  await t.step("plain values instead of promises", async () => {
    class Plain extends BaseIOStream {
      sent = 0;
      constructor(readonly broken = false) {
        super();
      }
      protected override readFromFd(buf: Uint8Array): Any {
        buf.set([104, 105, 10]);
        return 3; // a count, not a promise of one
      }
      protected override writeToFd(data: Uint8Array): Any {
        if (this.broken) return undefined;
        this.sent += Math.min(data.length, 2);
        return Math.min(data.length, 2); // two bytes at a time
      }
      protected override closeFd(): void {}
    }
    const plain = new Plain();
    const line = await plain.readUntil("\n");
    assert.equal(new TextDecoder().decode(line), "hi\n");
    await plain.write("hello");
    assert.equal(plain.sent, 5);
    plain.close();
    // undefined, returned at once: a TypeError closes the stream.
    const broken = new Plain(true);
    const err = await broken.write("x").then(() => null, (e) => e);
    assert.ok(err instanceof StreamClosedError);
    assert.ok(err.realError instanceof TypeError);
    assert.equal(broken.writing(), false);
  });
  const writes: Array<[string, unknown, RegExp]> = [
    ["0 (it would spin)", 0, /count from 1 to 5, got 0/],
    ["more than it was given", 6, /got 6/],
    ["undefined", undefined, /got undefined/],
  ];
  for (const [name, result, message] of writes) {
    await t.step(`writeToFd() resolving ${name}`, async () => {
      const stream = new Broken(null, result);
      const first = stream.write("hello");
      const queued = stream.write("world");
      for (const write of [first, queued]) {
        const err = await write.then(
          () => assert.fail("the write resolved"),
          (e) => e,
        );
        assert.ok(err instanceof StreamClosedError);
        assert.ok(err.realError instanceof TypeError);
        assert.match(err.realError.message, message);
      }
      assert.equal(stream.closed(), true);
    });
  }
});

Deno.test("write promises resolve in call order, a zero-length write included", async () => {
  const stream = new HeldWrites();
  const order: string[] = [];
  const done = [
    stream.write("abc").then(() => order.push("abc")),
    stream.write(new Uint8Array(0)).then(() => order.push("empty")),
  ];
  stream.held[0]!.resolve(3);
  await Promise.all(done);
  assert.deepEqual(order, ["abc", "empty"]);
  stream.close();
});

Deno.test("writing() is false once the stream is closed, even with a transport write pending", async () => {
  const stream = new HeldWrites();
  const write = stream.write("hello");
  assert.equal(stream.writing(), true);
  stream.close();
  assert.equal(stream.writing(), false);
  stream.held[0]!.resolve(5);
  await write; // the transport took it all
  assert.equal(stream.writing(), false);
});

/** A transport the test feeds: each read waits for the next push(). */
class Fed extends BaseIOStream {
  #parts: Uint8Array[] = [];
  #waiting: (() => void) | null = null;
  push(part: Uint8Array): void {
    this.#parts.push(part);
    this.#waiting?.();
  }
  protected override async readFromFd(buf: Uint8Array): Promise<number | null> {
    while (this.#parts.length === 0) {
      if (this.closed()) return null;
      await new Promise<void>((resolve) => this.#waiting = resolve);
    }
    this.#waiting = null;
    const part = this.#parts.shift()!;
    if (part.length > buf.length) {
      this.#parts.unshift(part.subarray(buf.length));
    }
    buf.set(part.subarray(0, buf.length));
    return Math.min(part.length, buf.length);
  }
  protected override writeToFd(data: Uint8Array): Promise<number> {
    return Promise.resolve(data.length);
  }
  protected override closeFd(): void {
    this.#waiting?.();
  }
}

Deno.test("readBytes(n) over maxBufferSize is served when n bytes are already buffered", async () => {
  const stream = new Fed({ maxBufferSize: 16 });
  const data = new Uint8Array(35).map((_, i) => i);
  // readInto() may fill a buffer larger than maxBufferSize; giving up puts
  // all of it back.
  const ac = new AbortController();
  const into = stream.readInto(new Uint8Array(64), { signal: ac.signal });
  for (let off = 0; off < 35; off += 7) {
    stream.push(data.slice(off, off + 7));
    await macrotask();
  }
  ac.abort(new Error("enough"));
  await assert.rejects(into, /enough/);
  assert.equal(stream.readBufferSize, 35);
  assert.deepEqual(await stream.readBytes(35), data);
  stream.close();
});

Deno.test("an ignored async iterator next() refused while a read is pending does not crash the process", async () => {
  const stream = new Fed();
  const unhandled = await countUnhandledRejections(async () => {
    const reading = stream.readBytes(1);
    const refused = stream[Symbol.asyncIterator]().next(); // ignored
    await macrotask();
    stream.push(new Uint8Array([7]));
    assert.deepEqual([...await reading], [7]);
    assert.equal(
      await refused.then(() => "resolved", () => "rejected"),
      "rejected",
    );
  });
  assert.equal(unhandled, 0);
  stream.close();
});

Deno.test("maxWriteBufferSize does not count the bytes a transport write has in hand", async () => {
  const stream = new HeldWrites({ maxWriteBufferSize: 1024 });
  const first = stream.write(new Uint8Array(600)); // handed over at once
  const second = stream.write(new Uint8Array(600)); // queued: 600 of 1024
  await assert.rejects(stream.write(new Uint8Array(600)), {
    name: "StreamBufferFullError",
    message:
      "Cannot queue 600 bytes: maxWriteBufferSize is 1024 and 600 bytes are queued",
  });
  assert.equal(stream.held.length, 1);
  stream.held[0]!.resolve(600);
  await first;
  await macrotask();
  // The second is in hand now: the queue is empty again.
  assert.equal(stream.held.length, 2);
  const third = stream.write(new Uint8Array(1024));
  stream.held[1]!.resolve(600);
  await second;
  await macrotask();
  stream.held[2]!.resolve(1024);
  await third;
  stream.close();
});

Deno.test("every read reads each option once and waits on the values it read", async (t) => {
  const stream = new Fed();
  const rejectsAfter5ms = (what: string) => (waiting: Promise<unknown>) =>
    assert.rejects(waiting, {
      name: "TimeoutError",
      message: `${what} timed out after 5 ms`,
    });
  const badLater = {
    partial: () => "not a boolean",
    streamingCallback: () => "not a function",
    maxBytes: () => -1,
  };
  const reads: Array<
    [string, (options: ReadBytesOptions & ReadUntilOptions) => Promise<unknown>]
  > = [
    ["readBytes()", (o) => stream.readBytes(3, o)],
    ["readUntil()", (o) => stream.readUntil("\n", o)],
    ["readUntilRegex()", (o) => stream.readUntilRegex(/\n/, o)],
    ["readInto()", (o) => stream.readInto(new Uint8Array(3), o)],
    ["readUntilClose()", (o) => stream.readUntilClose(o)],
  ];
  for (const [name, read] of reads) {
    await t.step(name, async () => {
      await assertWaitReadsOptionsOnce(read, rejectsAfter5ms(name), {
        first: {},
        later: badLater,
      });
      assert.equal(stream.reading(), false);
    });
  }
  // Nothing was consumed, and the stream still reads.
  stream.push(new TextEncoder().encode("ab\n"));
  assert.deepEqual([...await stream.readUntil("\n")], [97, 98, 10]);
  stream.close();
});

Deno.test("readUntil() reads each option once on its fast path too", async () => {
  const stream = new Fed();
  stream.push(new TextEncoder().encode("a\nb\nc\n"));
  await stream.readUntil("\n"); // the next line is buffered: the fast path
  // Limits the fast path cannot serve, first read as absent.
  const limited = fickleOptions<ReadUntilOptions>({}, {
    maxBytes: () => 0,
    timeout: () => 0,
    signal: () => AbortSignal.abort(),
  });
  assert.deepEqual([...await stream.readUntil("\n", limited.options)], [
    98,
    10,
  ]);
  assert.deepEqual(limited.overRead(), []);
  // A getter that throws makes it reject, not throw.
  const boom = new Error("getter");
  const throwing = {
    get maxBytes(): number {
      throw boom;
    },
  };
  let settled: Promise<unknown>;
  assert.doesNotThrow(() => settled = stream.readUntil("\n", throwing));
  await assert.rejects(settled!, (err) => err === boom);
  assert.deepEqual([...await stream.readUntil("\n")], [99, 10]);
  stream.close();
});
