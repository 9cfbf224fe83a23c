// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import {
  BaseIOStream,
  StreamClosedError,
  type StreamOptions,
  UnsatisfiableReadError,
} from "../iostream/mod.ts";
import { StreamBuffer } from "../iostream/_stream_buffer.ts";
import { countUnhandledRejections, macrotask } from "./_capture.ts";

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
