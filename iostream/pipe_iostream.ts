// Copyright the squall authors. MIT license.

import { rejected } from "../concurrent/_quiet.ts";
import { BaseIOStream, type StreamOptions } from "./base_iostream.ts";
import { COALESCE_MAX } from "./_stream_buffer.ts";
import { typeName } from "./_type_name.ts";

// The most bytes one write to the writable end copies and passes on.
const PIPE_WRITE_MAX = 65536;

/**
 * The two ends a {@linkcode PipeIOStream} can wrap; either may be absent.
 *
 * @example Wrap a child's pipes
 * ```ts
 * import { PipeIOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * const child = new Deno.Command("cat", { stdin: "piped", stdout: "piped" })
 *   .spawn();
 * const pipe = new PipeIOStream({ readable: child.stdout, writable: child.stdin });
 * await pipe.write("x");
 * assert.equal(new TextDecoder().decode(await pipe.readBytes(1)), "x");
 * pipe.close();
 * await child.status;
 * ```
 */
export interface PipeEnds {
  /** Where reads come from, e.g. a child process's `stdout`. */
  readable?: ReadableStream<Uint8Array>;
  /** Where writes go, e.g. a child process's `stdin`. */
  writable?: WritableStream<Uint8Array>;
}

/**
 * A buffered stream over web streams: a `ReadableStream`, a
 * `WritableStream`, or both, such as the pipes of a `Deno.Command` child.
 *
 * Tornado's `tornado.iostream.PipeIOStream`. Byte streams are read with a
 * BYOB reader into the stream's own buffer. `close()` closes the writable
 * end and cancels the readable. Bytes the writable end already took are
 * still delivered; writes still queued in the stream are dropped and
 * reject, as on every stream (await the last `write()` before closing to
 * send everything). A stream without a
 * readable end reads nothing: its reads, and the read a close callback
 * keeps in flight, wait until the writable end is closed or fails, then see
 * end of stream. Writing to one without a writable end rejects with an
 * `Error` and leaves the stream as it was. The writable end gets each chunk
 * as a copy of its own, so a sink that keeps chunks (an identity
 * `TransformStream`) never sees their bytes change.
 *
 * @example Talk to a child process
 * ```ts
 * import { PipeIOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * const child = new Deno.Command("cat", { stdin: "piped", stdout: "piped" })
 *   .spawn();
 * const pipe = new PipeIOStream({ readable: child.stdout, writable: child.stdin });
 * await pipe.write("echo me\n");
 * const line = await pipe.readUntil("\n");
 * assert.equal(new TextDecoder().decode(line), "echo me\n");
 * pipe.close();
 * assert.equal((await child.status).success, true);
 * ```
 */
export class PipeIOStream extends BaseIOStream {
  #byob: ReadableStreamBYOBReader | null = null;
  #reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  // What a default reader's chunk held past the buffer a read asked to fill.
  #rest: Uint8Array | null = null;
  // The rejecter of the writeToFd() call in progress, and the timer that
  // fails it after close() if the writable end never takes it.
  #inFlight: ((err: unknown) => void) | null = null;
  #cutOff: ReturnType<typeof setTimeout> | undefined;

  /**
   * Wraps the given stream ends; the stream owns them from now on (it locks
   * them with readers and writers).
   *
   * @param pipe A readable, a writable, or `{ readable, writable }`.
   * @param options Buffer limits.
   * @throws {TypeError} When `pipe` holds no stream end, or an end is
   * locked (then neither end is taken).
   */
  constructor(
    pipe:
      | ReadableStream<Uint8Array>
      | WritableStream<Uint8Array>
      | PipeEnds,
    options: StreamOptions = {},
  ) {
    super(options);
    let readable: ReadableStream<Uint8Array> | undefined;
    let writable: WritableStream<Uint8Array> | undefined;
    if (pipe instanceof ReadableStream) readable = pipe;
    else if (pipe instanceof WritableStream) writable = pipe;
    else if (typeof pipe === "object" && pipe !== null) {
      readable = pipe.readable;
      writable = pipe.writable;
      if (readable !== undefined && !(readable instanceof ReadableStream)) {
        throw new TypeError(
          `PipeIOStream: readable must be a ReadableStream, got ${
            typeName(readable)
          }`,
        );
      }
      if (writable !== undefined && !(writable instanceof WritableStream)) {
        throw new TypeError(
          `PipeIOStream: writable must be a WritableStream, got ${
            typeName(writable)
          }`,
        );
      }
    } else {
      throw new TypeError(
        `PipeIOStream needs a ReadableStream, a WritableStream or { readable, writable }, got ${
          typeName(pipe)
        }`,
      );
    }
    if (readable === undefined && writable === undefined) {
      throw new TypeError("PipeIOStream needs a readable or a writable end");
    }
    // Both checked before either is taken: a constructor that fails leaves
    // the caller's streams as they were.
    const locked = readable?.locked
      ? "readable"
      : writable?.locked
      ? "writable"
      : null;
    if (locked !== null) {
      throw new TypeError(
        `PipeIOStream: the ${locked} end is locked (another reader or writer has it)`,
      );
    }
    if (readable !== undefined) {
      try {
        this.#byob = readable.getReader({ mode: "byob" });
      } catch {
        this.#reader = readable.getReader();
      }
    }
    if (writable !== undefined) this.#writer = writable.getWriter();
  }

  /**
   * Reads from the readable end, with a BYOB read where it supports one.
   *
   * @param buf Where to read to (its memory is transferred by BYOB reads).
   * @returns The bytes read, or `null` at end of stream.
   */
  protected override async readFromFd(
    buf: Uint8Array,
  ): Promise<Uint8Array | null> {
    if (this.#byob !== null) {
      const { done, value } = await this.#byob.read(buf);
      if (done || value === undefined) return null;
      return value;
    }
    if (this.#reader === null) {
      // No readable end, like a socket whose peer never sends: nothing
      // arrives until the writable end is closed, or fails (then say why).
      await this.#writer!.closed;
      return null;
    }
    let chunk = this.#rest;
    while (chunk === null) {
      const { done, value } = await this.#reader.read();
      if (done) return null;
      if (!(value instanceof Uint8Array)) {
        throw new TypeError(
          `PipeIOStream: the readable produced ${
            typeName(value)
          }, not a Uint8Array`,
        );
      }
      if (value.length > 0) chunk = value;
    }
    if (
      chunk !== this.#rest &&
      (chunk.length > COALESCE_MAX || chunk.length > buf.length)
    ) {
      // A copy of our own where it would be kept: the producer may reuse
      // its memory once the chunk was read (a generator behind
      // ReadableStream.from() refilling one array), and both the rest of a
      // split chunk and a large chunk (which the stream's buffer keeps as
      // it is) outlive this read. Smaller ones the buffer copies anyway.
      chunk = chunk.slice();
    }
    // No more than asked for, as from a socket: one big chunk must not
    // overfill the read buffer (maxBufferSize) after a read it satisfied.
    this.#rest = chunk.length > buf.length ? chunk.subarray(buf.length) : null;
    return chunk.length > buf.length ? chunk.subarray(0, buf.length) : chunk;
  }

  /**
   * Writes to the writable end, as {@linkcode BaseIOStream.write} does. On
   * a stream without one it rejects with an `Error` and changes nothing:
   * the stream stays open and a pending read goes on.
   *
   * @param data Bytes, or a string to send as UTF-8.
   * @returns Resolves once the writable end took the bytes.
   *
   * @example A read-only pipe refuses writes and keeps reading
   * ```ts
   * import { PipeIOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * const pipe = new PipeIOStream(ReadableStream.from([new Uint8Array([7])]));
   * await assert.rejects(pipe.write("x"), { message: /no writable end/ });
   * assert.deepEqual([...await pipe.readBytes(1)], [7]);
   * pipe.close();
   * ```
   */
  override write(data: Uint8Array | string): Promise<void> {
    if (this.#writer === null && !this.closed()) {
      return rejected(
        new Error("Cannot write: this PipeIOStream has no writable end"),
      );
    }
    return super.write(data);
  }

  /**
   * Writes a copy of `data`, or of its first 64 KiB, to the writable end.
   *
   * @param data The bytes to write.
   * @returns How many were written.
   */
  protected override writeToFd(data: Uint8Array): Promise<number> {
    // A copy the sink owns: web streams pass chunks on by reference, and a
    // sink or an identity TransformStream may still hold this one after its
    // write resolved, when the memory goes back to the stream's write
    // buffer or to the caller (who may reuse it once write() resolved).
    // At most PIPE_WRITE_MAX bytes a call, so that one huge write() never
    // needs a second copy of itself in memory.
    const copy = data.slice(0, PIPE_WRITE_MAX);
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    const settled = () => {
      this.#inFlight = null;
      clearTimeout(this.#cutOff);
    };
    this.#inFlight = reject;
    this.#writer!.write(copy).then(() => {
      settled();
      resolve(copy.length);
    }, (err) => {
      settled();
      reject(err);
    });
    return promise;
  }

  /**
   * Closes the writable end after queued data and cancels the readable. A
   * write the writable end has not taken yet gets one more turn of the
   * event loop (a timer), then fails: a sink that stopped taking data (a
   * child that does not read its stdin) would otherwise hold it for ever.
   * A test that closes a stalled pipe should await that write, or Deno's
   * sanitizer sees the timer.
   */
  protected override closeFd(): void {
    const fail = this.#inFlight;
    if (fail !== null) {
      this.#cutOff = setTimeout(
        () =>
          fail(
            new Deno.errors.Interrupted(
              "PipeIOStream closed before the writable end took the write",
            ),
          ),
        0,
      );
    }
    this.#writer?.close().catch(() => {});
    this.#byob?.cancel().catch(() => {});
    this.#reader?.cancel().catch(() => {});
  }
}
