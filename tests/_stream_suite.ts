// Copyright the squall authors. MIT license.

// The read/write contract of every stream, written once and run for each
// kind of transport by the *_test.ts files that import it.

import assert from "node:assert/strict";
import {
  type BaseIOStream,
  StreamBufferFullError,
  StreamClosedError,
  type StreamOptions,
  UnsatisfiableReadError,
} from "../iostream/mod.ts";
import { setErrorRouter } from "../ioloop/_report.ts";
import { TimeoutError } from "../concurrent/errors.ts";
import { until } from "./_wait_helpers.ts";

/** Two connected streams and how to release what made them. */
export interface StreamPair {
  /** The side under test. */
  a: BaseIOStream;
  /** Its peer. */
  b: BaseIOStream;
  /** Closes both streams and anything else the factory opened. */
  close(): Promise<void>;
}

/** Makes a connected pair; `a` and `b` get their own options. */
export type PairFactory = (
  options?: { a?: StreamOptions; b?: StreamOptions },
) => Promise<StreamPair>;

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (b: Uint8Array) => dec.decode(b);

async function sha256(data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest(
    "SHA-256",
    data as Uint8Array<ArrayBuffer>,
  );
  return Array.from(new Uint8Array(d), (x) => x.toString(16).padStart(2, "0"))
    .join("");
}

function patterned(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i += 4) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x;
    out[i + 1] = x >>> 8;
    out[i + 2] = x >>> 16;
    out[i + 3] = x >>> 24;
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  return all;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// One turn of the event loop, queued behind the immediates (such as a close
// callback) already queued.
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// Has `stream` buffer `n` bytes that `send` makes the peer send, without a
// read: a close callback keeps a transport read going while nothing is
// buffered.
async function buffered(
  stream: BaseIOStream,
  send: () => Promise<void>,
  n: number,
): Promise<void> {
  stream.setCloseCallback(noop);
  await send();
  await until(() => stream.readBufferSize >= n, `${n} bytes buffered`);
  stream.setCloseCallback(null);
}

function noop(): void {}

/** Registers the whole stream contract as tests named after `kind`. */
export function streamSuite(kind: string, makePair: PairFactory): void {
  function test(
    name: string,
    fn: (p: StreamPair) => Promise<void>,
    options?: { a?: StreamOptions; b?: StreamOptions },
  ): void {
    Deno.test(`${kind}: ${name}`, async () => {
      const pair = await makePair(options);
      try {
        await fn(pair);
      } finally {
        await pair.close();
      }
    });
  }

  test("readUntil() returns through the delimiter and keeps the rest", async ({ a, b }) => {
    await b.write("one\r\ntwo\r\nthree");
    assert.equal(text(await a.readUntil("\r\n")), "one\r\n");
    assert.equal(text(await a.readUntil(enc.encode("\r\n"))), "two\r\n");
    assert.equal(a.reading(), false);
    await b.write("\r\n");
    assert.equal(text(await a.readUntil("\r\n")), "three\r\n");
  });

  test("readUntil() within maxBytes succeeds when the delimiter ends exactly at the limit", async ({ a, b }) => {
    await b.write("abc\n");
    assert.equal(text(await a.readUntil("\n", { maxBytes: 4 })), "abc\n");
  });

  test("readBytes() reads exactly n bytes, or what is there with partial", async ({ a, b }) => {
    await b.write(new Uint8Array([1, 2, 3, 4, 5]));
    assert.deepEqual([...await a.readBytes(2)], [1, 2]);
    assert.deepEqual([...await a.readBytes(0)], []);
    assert.deepEqual([...await a.readBytes(100, { partial: true })], [3, 4, 5]);
    const pending = a.readBytes(3);
    await b.write(new Uint8Array([6]));
    await b.write(new Uint8Array([7, 8, 9]));
    assert.deepEqual([...await pending], [6, 7, 8]);
    assert.deepEqual([...await a.readBytes(1)], [9]);
  });

  test("readBytes() with a streamingCallback hands every byte over", async ({ a, b }) => {
    const seen: number[] = [];
    const pending = a.readBytes(6, {
      streamingCallback: (chunk) => seen.push(...chunk),
    });
    await b.write(new Uint8Array([1, 2]));
    await b.write(new Uint8Array([3, 4, 5, 6, 7]));
    assert.equal((await pending).length, 0);
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...await a.readBytes(1)], [7]);
  });

  test("readUntilRegex() matches bytes as Latin-1, offsets one-to-one", async ({ a, b }) => {
    await b.write(
      new Uint8Array([0x80, 0x9f, 0xff, 0x0d, 0x0a, 0x0d, 0x0a, 0x41]),
    );
    const head = await a.readUntilRegex(/\xff\r?\n\r?\n/g);
    assert.deepEqual([...head], [0x80, 0x9f, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]);
    await b.write("Content-Length: 12\n\n");
    const m = await a.readUntilRegex(/Length: (\d+)\n\n/);
    assert.equal(text(m), "AContent-Length: 12\n\n");
  });

  test("readUntilRegex() rejects with UnsatisfiableReadError past maxBytes", async ({ a, b }) => {
    b.write("x".repeat(200));
    await assert.rejects(
      a.readUntilRegex(/\n/, { maxBytes: 100 }),
      UnsatisfiableReadError,
    );
    assert.equal(a.closed(), true);
    assert.ok(a.error instanceof UnsatisfiableReadError);
  });

  test("readInto() fills the buffer, or part of it with partial", async ({ a, b }) => {
    const buf = new Uint8Array(4);
    const pending = a.readInto(buf);
    await b.write(new Uint8Array([1, 2]));
    await b.write(new Uint8Array([3, 4, 5]));
    assert.equal(await pending, 4);
    assert.deepEqual([...buf], [1, 2, 3, 4]);
    const big = new Uint8Array(10);
    assert.equal(await a.readInto(big, { partial: true }), 1);
    assert.equal(big[0], 5);
  });

  test("readInto() of a large buffer gets every byte in order", async ({ a, b }) => {
    const payload = patterned(1 << 20, 3);
    // Prime the stream so it knows how its transport reads.
    await b.write("!");
    assert.equal(text(await a.readBytes(1)), "!");
    const target = new Uint8Array(payload.length);
    const pending = a.readInto(target);
    for (let off = 0; off < payload.length;) {
      const n = Math.min(payload.length - off, 1000 + (off % 70000));
      await b.write(payload.subarray(off, off + n));
      off += n;
    }
    assert.equal(await pending, payload.length);
    assert.equal(await sha256(target), await sha256(payload));
    const some = new Uint8Array(100000);
    const partial = a.readInto(some, { partial: true });
    await b.write(payload.subarray(0, 3000));
    const got = await partial;
    assert.ok(got > 0 && got <= 3000);
    assert.deepEqual(some.subarray(0, got), payload.subarray(0, got));
  });

  test(
    "readInto() fills a buffer larger than maxBufferSize, a close callback set and bytes left buffered",
    async ({ a, b }) => {
      a.setCloseCallback(() => {}); // keeps a read ahead in flight
      const body = patterned(300000, 11);
      const first = new Uint8Array(3 + 1000);
      first.set(enc.encode("GO\n"));
      first.set(body.subarray(0, 1000), 3);
      await b.write(first);
      assert.equal(text(await a.readUntil("\n")), "GO\n");
      const target = new Uint8Array(body.length);
      const reading = a.readInto(target);
      await b.write(body.subarray(1000));
      assert.equal(await reading, body.length);
      assert.equal(await sha256(target), await sha256(body));
      // Nothing left over, but the read ahead is in flight when readInto()
      // starts: what it brings must not keep the rest from going straight
      // into the buffer either.
      await b.write("GO\n");
      assert.equal(text(await a.readUntil("\n")), "GO\n");
      target.fill(0);
      const again = a.readInto(target);
      await b.write(body);
      assert.equal(await again, body.length);
      assert.equal(await sha256(target), await sha256(body));
    },
    { a: { maxBufferSize: 65536 } },
  );

  test("readInto() rejects with StreamClosedError when the peer closes before the buffer is full", async ({ a, b }) => {
    await b.write("!");
    await a.readBytes(1);
    const pending = a.readInto(new Uint8Array(10000));
    await b.write(new Uint8Array(600).fill(6));
    b.close();
    await assert.rejects(pending, StreamClosedError);
    // What it had received is not lost.
    const rest = await a.readUntilClose();
    assert.equal(rest.length, 600);
    assert.ok(rest.every((x) => x === 6));
  });

  test("readInto() on a closed stream that cannot fill the buffer keeps the buffered bytes", async ({ a, b }) => {
    await b.write("hello");
    b.close();
    // Fails once the peer's close is seen, and keeps the bytes.
    await assert.rejects(a.readBytes(10), StreamClosedError);
    assert.equal(a.closed(), true);
    await assert.rejects(a.readInto(new Uint8Array(10)), StreamClosedError);
    assert.equal(a.readBufferSize, 5);
    assert.equal(text(await a.readUntilClose()), "hello");
  });

  test("readUntilClose() resolves with everything once the peer closes", async ({ a, b }) => {
    await b.write("abc");
    const pending = a.readUntilClose();
    await b.write("def");
    b.close();
    assert.equal(text(await pending), "abcdef");
    assert.equal(a.closed(), true);
    assert.equal(a.error, null);
  });

  test("readUntilClose() with a streamingCallback resolves empty", async ({ a, b }) => {
    let got = "";
    const pending = a.readUntilClose({
      streamingCallback: (c) => got += text(c),
    });
    await b.write("abc");
    await b.write("def");
    b.close();
    assert.equal((await pending).length, 0);
    assert.equal(got, "abcdef");
  });

  test("async iteration yields every chunk until close", async ({ a, b }) => {
    const payload = patterned(300000, 7);
    const writing = b.write(payload).then(() => b.close());
    const parts: Uint8Array[] = [];
    for await (const chunk of a) parts.push(chunk.slice());
    await writing;
    assert.equal(await sha256(concat(parts)), await sha256(payload));
  });

  test(
    "async iteration with a slow consumer stays within maxBufferSize",
    async ({ a, b }) => {
      const payload = patterned(1 << 20, 9);
      const writing = b.write(payload).then(() => b.close());
      writing.catch(() => {}); // awaited below; do not leak if a read fails
      const parts: Uint8Array[] = [];
      for await (const chunk of a) {
        parts.push(chunk.slice());
        await sleep(1); // slower than the peer writes
      }
      await writing;
      assert.equal(await sha256(concat(parts)), await sha256(payload));
    },
    { a: { maxBufferSize: 65536 } },
  );

  test("return() while next() is pending ends the iteration and loses no data", async ({ a, b }) => {
    const done = { done: true, value: undefined };
    const it = a[Symbol.asyncIterator]();
    let outcome: unknown = "pending";
    it.next().then((r) => outcome = r, (e) => outcome = e);
    await sleep(1);
    assert.equal(outcome, "pending");
    assert.deepEqual(await it.return!(), done);
    await sleep(1);
    assert.deepEqual(outcome, done);
    assert.equal(a.reading(), false);
    assert.equal(a.closed(), false);
    // What arrives next stays buffered for whoever reads after the loop.
    await b.write("after");
    await until(() => a.readBufferSize === 5, "the bytes sent after return()");
    assert.equal(text(await a.readBytes(5)), "after");
    assert.deepEqual(await it.next(), done);
    // Idempotent, and it gives up only its own read, not a later reader's.
    const later = a.readBytes(3);
    assert.deepEqual(await it.return!(), done);
    assert.equal(a.reading(), true);
    await b.write("end");
    assert.equal(text(await later), "end");
  });

  test(
    "a close callback reads ahead only until something is buffered",
    async ({ a, b }) => {
      const payload = patterned(1 << 20, 5);
      const writing = b.write(payload);
      writing.catch(() => {}); // awaited below; do not leak if a read fails
      a.setCloseCallback(() => {});
      await until(() => a.readBufferSize > 0, "read-ahead");
      // Time enough for an unbounded read-ahead to pass maxBufferSize.
      await sleep(50);
      assert.equal(a.closed(), false, `closed by ${a.error}`);
      assert.ok(a.readBufferSize <= 65536, `buffered ${a.readBufferSize}`);
      // The application reads when it is ready: nothing was lost.
      const parts: Uint8Array[] = [];
      await a.readBytes(payload.length, {
        streamingCallback: (chunk) => parts.push(chunk.slice()),
      });
      await writing;
      assert.equal(await sha256(concat(parts)), await sha256(payload));
    },
    { a: { maxBufferSize: 65536 } },
  );

  test("the close callback notices the peer closing after buffered lines were read", async ({ a, b }) => {
    const closed = Promise.withResolvers<void>();
    a.setCloseCallback(() => closed.resolve());
    await b.write("one\ntwo\n");
    await until(() => a.readBufferSize > 0, "read-ahead");
    assert.equal(text(await a.readUntil("\n")), "one\n");
    assert.equal(text(await a.readUntil("\n")), "two\n"); // the fast path
    assert.equal(a.readBufferSize, 0);
    b.close();
    await until(() => a.closed(), "the peer's close");
    await closed.promise;
  });

  test("a second read while one is pending rejects with Error", async ({ a, b }) => {
    const first = a.readUntil("\n");
    await assert.rejects(a.readBytes(1), {
      name: "Error",
      message: /another read is pending/,
    });
    await assert.rejects(a.readUntilClose(), /another read is pending/);
    await assert.rejects(
      a.readUntil("x", { maxBytes: 1 }),
      /another read is pending/,
    );
    await b.write("ok\n");
    assert.equal(text(await first), "ok\n");
  });

  test("reads and writes after close reject with StreamClosedError", async ({ a }) => {
    a.close();
    a.close(); // a second close is a no-op
    assert.equal(a.closed(), true);
    await assert.rejects(a.write("x"), StreamClosedError);
    await assert.rejects(a.readBytes(1), StreamClosedError);
    await assert.rejects(a.readUntil("\n"), StreamClosedError);
    await assert.rejects(a.readInto(new Uint8Array(1)), StreamClosedError);
    assert.equal((await a.readUntilClose()).length, 0);
    a.write("ignored"); // an ignored failing write must not crash the test
  });

  test("close() rejects a pending read with StreamClosedError", async ({ a }) => {
    const pending = a.readBytes(10);
    a.close();
    const err = await pending.then(() => null, (e) => e);
    assert.ok(err instanceof StreamClosedError);
    assert.equal(err.realError, undefined);
  });

  // Tornado's order: the pending read's future fails first, then the close
  // callback runs; code awaiting the read sees why before cleanup happens.
  // A log with the close callback's entry in it, and when it was written.
  const logClose = (s: BaseIOStream) => {
    const log: string[] = [];
    const { promise: closed, resolve } = Promise.withResolvers<void>();
    s.setCloseCallback(() => {
      log.push("close callback");
      resolve();
    });
    return { log, closed };
  };
  const closers: Array<[string, (p: StreamPair) => void, unknown]> = [
    ["close()", ({ a }) => a.close(), undefined],
    ["close(error)", ({ a }) => a.close(new Error("boom")), "boom"],
    ["the peer's close", ({ b }) => b.close(), undefined],
  ];
  for (const [how, closeIt, realError] of closers) {
    test(`a pending read rejects before the close callback runs, on ${how}`, async (pair) => {
      const { log, closed } = logClose(pair.a);
      const reading = (async () => {
        try {
          await pair.a.readBytes(10);
          log.push("read resolved");
        } catch (err) {
          assert.ok(err instanceof StreamClosedError, String(err));
          assert.equal(
            (err.realError as Error | undefined)?.message,
            realError,
          );
          log.push("read rejected");
        }
      })();
      closeIt(pair);
      await Promise.all([reading, closed]);
      assert.deepEqual(log, ["read rejected", "close callback"]);
    });
  }

  test("readUntilClose() resolves before the close callback runs", async ({ a, b }) => {
    const { log, closed } = logClose(a);
    const reading = (async () => {
      log.push(`read ${text(await a.readUntilClose())}`);
    })();
    await b.write("all");
    b.close();
    await Promise.all([reading, closed]);
    assert.deepEqual(log, ["read all", "close callback"]);
  });

  test("a read that fails as it starts rejects before the close callback runs", async ({ a, b }) => {
    const { log, closed } = logClose(a);
    await b.write("abcdefgh");
    await until(() => a.readBufferSize === 8, "the buffered bytes");
    // Awaited through a wrapper, as application code often does: the close
    // callback still waits until that code has seen the error.
    const readLine = async () => await a.readUntil("\n", { maxBytes: 4 });
    const reading = (async () => {
      try {
        await readLine();
        log.push("read resolved");
      } catch (err) {
        assert.ok(err instanceof UnsatisfiableReadError, String(err));
        log.push("read rejected");
      }
    })();
    await Promise.all([reading, closed]);
    assert.deepEqual(log, ["read rejected", "close callback"]);
    assert.equal(a.closed(), true);
  });

  test("async iteration ends before the close callback runs", async ({ a, b }) => {
    const { log, closed } = logClose(a);
    const iterating = (async () => {
      for await (const chunk of a) log.push(`chunk ${text(chunk)}`);
      log.push("loop ended");
    })();
    await b.write("x");
    await until(() => log.length > 0, "the chunk");
    b.close();
    await Promise.all([iterating, closed]);
    assert.deepEqual(log, ["chunk x", "loop ended", "close callback"]);
  });

  test("data buffered before the peer closed still satisfies reads", async ({ a, b }) => {
    await b.write("line1\nline2\npartial");
    b.close();
    assert.equal(text(await a.readUntil("\n")), "line1\n");
    // Let the close arrive.
    assert.equal(text(await a.readUntil("\n")), "line2\n");
    await assert.rejects(a.readUntil("\n"), StreamClosedError);
    assert.equal(a.closed(), true);
    assert.ok(a.error === null);
    await assert.rejects(a.readBytes(100), StreamClosedError);
    assert.equal(text(await a.readBytes(1)), "p");
    // What is left still comes out through readUntilClose.
    assert.equal(text(await a.readUntilClose()), "artial");
  });

  test("the close callback runs exactly once when the idle peer closes", async ({ a, b }) => {
    let calls = 0;
    const closed = Promise.withResolvers<void>();
    a.setCloseCallback(() => {
      calls++;
      closed.resolve();
    });
    b.close();
    await closed.promise;
    assert.equal(a.closed(), true);
    a.close();
    // A second call would run on an immediate, as the first did: two turns
    // queued after it let it show.
    await nextTurn();
    await nextTurn();
    assert.equal(calls, 1);
  });

  test("an error thrown by the close callback is reported, not thrown", async ({ a }) => {
    const reported: Array<[unknown, string]> = [];
    setErrorRouter((err, where) => reported.push([err, where]));
    try {
      const boom = new Error("boom");
      a.setCloseCallback(() => {
        throw boom;
      });
      a.close();
      await until(() => reported.length > 0, "the report");
      await nextTurn();
      await nextTurn();
      assert.equal(reported.length, 1);
      assert.equal(reported[0]![0], boom);
    } finally {
      setErrorRouter(null);
    }
  });

  test("writes go out in call order and resolve once flushed", async ({ a, b }) => {
    const writes: Promise<void>[] = [];
    const expected: number[] = [];
    for (let i = 0; i < 200; i++) {
      const chunk = new Uint8Array(i % 7 === 0 ? 20000 : 1 + i).fill(i);
      expected.push(chunk.length);
      writes.push(a.write(chunk));
    }
    writes.push(a.write(new Uint8Array(0)));
    assert.equal(a.writing(), true);
    const total = expected.reduce((x, y) => x + y, 0);
    const got = await b.readBytes(total);
    await Promise.all(writes);
    assert.equal(a.writing(), false);
    let off = 0;
    for (let i = 0; i < expected.length; i++) {
      assert.equal(got[off], i);
      assert.equal(got[off + expected[i]! - 1], i);
      off += expected[i]!;
    }
  });

  test("write() then close() at once: the write resolves and the peer gets it", async ({ a, b }) => {
    // Nothing queued ahead: the transport has the bytes before close().
    const written = a.write("last words");
    a.close();
    await written;
    assert.equal(text(await b.readUntilClose()), "last words");
  });

  test("write() encodes strings as UTF-8", async ({ a, b }) => {
    await a.write("héllo ✓");
    const bytes = enc.encode("héllo ✓");
    assert.deepEqual([...await b.readBytes(bytes.length)], [...bytes]);
  });

  test("bad arguments reject with TypeError or RangeError and lose nothing", async ({ a, b }) => {
    await assert.rejects(a.readBytes(-1), RangeError);
    await assert.rejects(a.readBytes(1.5), RangeError);
    await assert.rejects(a.readUntil(""), TypeError);
    await assert.rejects(a.readUntil(42 as unknown as string), TypeError);
    await assert.rejects(a.readUntil("\n", { maxBytes: -1 }), RangeError);
    await assert.rejects(a.readUntilRegex("x" as unknown as RegExp), TypeError);
    await assert.rejects(a.readInto([] as unknown as Uint8Array), TypeError);
    await assert.rejects(a.write(7 as unknown as string), TypeError);
    assert.throws(
      () => a.setCloseCallback(5 as unknown as () => void),
      TypeError,
    );
    assert.equal(a.reading(), false);
    await b.write("still fine\n");
    assert.equal(text(await a.readUntil("\n")), "still fine\n");
  });

  test("a streamingCallback that is not a function rejects before taking data", async ({ a, b }) => {
    await b.write("abc");
    const bad = [
      () => a.readBytes(3, { streamingCallback: "x" as unknown as () => void }),
      () =>
        a.readUntilClose({ streamingCallback: 42 as unknown as () => void }),
    ];
    for (const call of bad) {
      await assert.rejects(call(), (err) => {
        assert.ok(err instanceof TypeError);
        assert.match(err.message, /streamingCallback must be a function/);
        return true;
      });
    }
    assert.equal(a.closed(), false);
    assert.equal(text(await a.readBytes(3)), "abc");
  });

  test("a 10 MiB line against maxBytes 1024 fails fast with bounded memory", async ({ a, b }) => {
    b.write(new Uint8Array(10 << 20).fill(120)); // ignored: fails once a closes
    const err = await a.readUntil("\n", { maxBytes: 1024 }).then(
      () => null,
      (e) => e,
    );
    assert.ok(err instanceof UnsatisfiableReadError);
    assert.match(err.message, /not found within 1024 bytes/);
    assert.equal(a.closed(), true);
    assert.equal(a.error, err);
    assert.ok(a.readBufferSize <= 1024 + 65536, `buffered ${a.readBufferSize}`);
  });

  test(
    "more than maxBufferSize buffered fails the read with StreamBufferFullError",
    async ({ a, b }) => {
      b.write(new Uint8Array(200000));
      const err = await a.readUntil("\n").then(() => null, (e) => e);
      assert.ok(err instanceof StreamBufferFullError);
      assert.equal(a.closed(), true);
      assert.equal(a.error, err);
    },
    { a: { maxBufferSize: 65536 } },
  );

  test("a read that times out consumes nothing: the next read gets every byte", async ({ a, b }) => {
    // Buffered first: on TLS the accepted side's Nagle can hold them past
    // the timeout, and a read that never had them would prove nothing.
    await buffered(a, () => b.write("HEL"), 3);
    const err = await a.readUntil("\n", { timeout: 20 }).then(
      () => null,
      (e) => e,
    );
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(err.message, "readUntil() timed out after 20 ms");
    assert.equal(a.closed(), false);
    assert.equal(a.reading(), false);
    await b.write("LO\nrest");
    assert.equal(text(await a.readUntil("\n")), "HELLO\n");
    assert.equal(text(await a.readBytes(4)), "rest");
  });

  test("a readInto() that gives up puts back the bytes it had copied over", async ({ a, b }) => {
    await buffered(a, () => b.write(new Uint8Array([1, 2, 3, 4])), 4);
    // Large enough that a read could go straight into it (it must not: it
    // would then take bytes that arrive after the read gave up).
    const buf = new Uint8Array(4096);
    const controller = new AbortController();
    const into = a.readInto(buf, { signal: controller.signal });
    // The four bytes are copied over at once; the read then waits for more.
    assert.deepEqual([...buf.subarray(0, 4)], [1, 2, 3, 4]);
    await b.write(new Uint8Array([5, 6]));
    await until(() => buf[5] === 6, "two more bytes copied over");
    const reason = new Error("caller gave up");
    controller.abort(reason);
    assert.equal(await into.then(() => null, (e) => e), reason);
    assert.equal(a.closed(), false);
    await b.write(new Uint8Array([7, 8, 9, 10, 11]));
    const all = await a.readBytes(11, { timeout: 5000 });
    assert.deepEqual([...all], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    // Nothing of the abandoned read reaches the buffer later either.
    await b.write(new Uint8Array([12]));
    const again = new Uint8Array(10);
    assert.equal(await a.readInto(again, { partial: true, timeout: 5000 }), 1);
    assert.equal(again[0], 12);
  });

  test("readBytes(), readUntilRegex() and readUntilClose() give up on a signal or a timeout and keep the data", async ({ a, b }) => {
    await b.write("abc");
    const controller = new AbortController();
    const bytes = a.readBytes(5, { signal: controller.signal });
    controller.abort();
    const err = await bytes.then(() => null, (e) => e);
    assert.equal(err, controller.signal.reason);
    assert.equal(err.name, "AbortError");
    await assert.rejects(a.readUntilRegex(/x+y/, { timeout: 10 }), {
      name: "TimeoutError",
      message: "readUntilRegex() timed out after 10 ms",
    });
    await assert.rejects(a.readUntilClose({ timeout: 10 }), {
      name: "TimeoutError",
      message: "readUntilClose() timed out after 10 ms",
    });
    await b.write("dxxy");
    assert.equal(
      text(await a.readUntilRegex(/x+y/, { timeout: 5000 })),
      "abcdxxy",
    );
  });

  test("a streamed readBytes() that times out keeps what it has not delivered", async ({ a, b }) => {
    const seen: number[] = [];
    // Buffered first: the read streams them as it starts, so its timeout
    // cannot fire before they are delivered, however slow the transport.
    await buffered(a, () => b.write(new Uint8Array([1, 2, 3])), 3);
    const pending = a.readBytes(10, {
      streamingCallback: (chunk) => seen.push(...chunk),
      timeout: 50,
    });
    assert.deepEqual(seen, [1, 2, 3]);
    await assert.rejects(pending, { name: "TimeoutError" });
    assert.deepEqual(seen, [1, 2, 3]);
    await b.write(new Uint8Array([4, 5]));
    assert.deepEqual([...await a.readBytes(2)], [4, 5]);
  });

  test("timeout 0 and an aborted signal decide at once, and consume nothing when they fail", async ({ a, b }) => {
    await assert.rejects(a.readBytes(1, { timeout: 0 }), {
      name: "TimeoutError",
      message: "readBytes() timed out after 0 ms",
    });
    await assert.rejects(a.readInto(new Uint8Array(4), { timeout: -5 }), {
      name: "TimeoutError",
    });
    await buffered(a, () => b.write("xy\n"), 3);
    const reason = new Error("already aborted");
    // An aborted signal wins even over data that could serve the read.
    await assert.rejects(
      a.readUntil("\n", { signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
    assert.equal(text(await a.readUntil("\n", { timeout: 0 })), "xy\n");
  });

  test("a read's timer and abort listener go away when it settles", async ({ a, b }) => {
    // The op sanitizer fails this test if a timer outlives it.
    const controller = new AbortController();
    const served = a.readUntil("\n", {
      timeout: 60_000,
      signal: controller.signal,
    });
    await b.write("ok\n");
    assert.equal(text(await served), "ok\n");
    const closing = a.readBytes(100, { timeout: 60_000 });
    a.close();
    await assert.rejects(closing, StreamClosedError);
    // Aborting after the read settled changes nothing.
    controller.abort();
  });

  test("bad timeout or signal options reject and leave the stream untouched", async ({ a, b }) => {
    await assert.rejects(
      a.readBytes(1, { timeout: "5" as unknown as number }),
      { name: "TypeError", message: /read timeout.*got string/ },
    );
    await assert.rejects(a.readUntil("\n", { timeout: NaN }), RangeError);
    await assert.rejects(
      a.readInto(new Uint8Array(1), {
        signal: {} as unknown as AbortSignal,
      }),
      { name: "TypeError", message: /Signal must be an AbortSignal/ },
    );
    assert.equal(a.reading(), false);
    await b.write("z");
    assert.equal(text(await a.readBytes(1)), "z");
  });

  test("a peer that dribbles one byte at a time is read correctly", async ({ a, b }) => {
    const line = "x".repeat(1500) + "\r\n";
    const pending = a.readUntil("\r\n", { maxBytes: 4096 });
    for (const byte of enc.encode(line)) await b.write(new Uint8Array([byte]));
    assert.equal(text(await pending), line);
  });

  test(
    "a peer that never reads hits maxWriteBufferSize; the stream stays usable",
    async ({ a, b }) => {
      const chunk = new Uint8Array(256 * 1024).fill(1);
      const accepted: Promise<void>[] = [];
      let refused: unknown = null;
      for (let i = 0; i < 400 && refused === null; i++) {
        const w = a.write(chunk);
        // A refusal is decided at call time: the promise is already settled.
        let failed: unknown = null;
        w.catch((e) => failed = e);
        await Promise.resolve();
        await Promise.resolve();
        if (failed !== null) refused = failed;
        else accepted.push(w);
      }
      assert.ok(refused instanceof StreamBufferFullError);
      assert.equal(a.closed(), false);
      // Now drain: every accepted write completes and the stream still works.
      const total = accepted.length * chunk.length;
      const reading = b.readBytes(total + 3);
      reading.catch(() => {}); // awaited below; do not leak if an assert fails
      await Promise.all(accepted);
      await a.write("end");
      const got = await reading;
      assert.equal(text(got.subarray(total)), "end");
    },
    { a: { maxWriteBufferSize: 1 << 20 } },
  );

  test("64 MiB round trip arrives intact (SHA-256)", async ({ a, b }) => {
    const payload = patterned(64 << 20, 42);
    const writing = a.write(payload);
    const got = await b.readBytes(payload.length);
    await writing;
    assert.equal(await sha256(got), await sha256(payload));
  });
}
