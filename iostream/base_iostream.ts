// Copyright the squall authors. MIT license.

import { quiet, rejected } from "../concurrent/_quiet.ts";
import { reportCallbackError } from "../ioloop/_report.ts";
import { armGiveUp, type GiveUp, readGiveUp } from "./_give_up.ts";
import {
  checkSize,
  optionalSize,
  streamingCallbackOf,
  streamLimits,
} from "./_options.ts";
import { COALESCE_MAX, StreamBuffer } from "./_stream_buffer.ts";
import { typeName } from "./_type_name.ts";
import {
  StreamBufferFullError,
  StreamClosedError,
  UnsatisfiableReadError,
} from "./errors.ts";

/**
 * Buffer limits shared by every stream.
 *
 * @example Limit what one connection may buffer
 * ```ts
 * import { IOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const options = { maxBufferSize: 1 << 20, maxWriteBufferSize: 1 << 20 };
 * const client = await IOStream.connect(listener.addr, options);
 * const server = new IOStream(await listener.accept(), options);
 * await client.write("ok");
 * assert.equal(new TextDecoder().decode(await server.readBytes(2)), "ok");
 * client.close();
 * server.close();
 * ```
 */
export interface StreamOptions {
  /**
   * The most bytes buffered for reading. When more arrive while a read
   * waits, the read fails with `StreamBufferFullError` and the stream
   * closes. A `readBytes(n)` that could never fit is refused at once with
   * `UnsatisfiableReadError` instead, and the stream stays open. The buffer
   * a `readInto()` fills is the caller's and does not count.
   *
   * @default {104857600}
   */
  maxBufferSize?: number;
  /**
   * The most bytes one read from the connection asks for: reads start
   * smaller and grow while they come back full. Capped at half of
   * `maxBufferSize`.
   *
   * @default {65536}
   */
  readChunkSize?: number;
  /**
   * The most bytes queued for writing, not counting the ones already
   * handed to the connection (as Tornado counts only what the kernel has
   * not taken): the stream holds about twice this at most. A `write()` that
   * would queue more fails with `StreamBufferFullError`; the stream stays
   * usable.
   *
   * @default {undefined} (no limit)
   */
  maxWriteBufferSize?: number;
}

/**
 * How long a read may wait for its data, shared by the options of every read
 * method. A read that gives up (its timeout passes, or its signal is
 * aborted) consumes nothing: the bytes that arrived for it stay buffered for
 * the next read, even those a `readInto()` had already copied over, and the
 * stream stays open. Only what a streaming callback already received is
 * gone (it was delivered). A read that the buffered data serves at once
 * never times out.
 *
 * @example Give up on a slow peer and read again later
 * ```ts
 * import { IOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await IOStream.connect(listener.addr);
 * const server = new IOStream(await listener.accept());
 * await client.write("HEL");
 * await assert.rejects(
 *   server.readUntil("\n", { timeout: 10 }),
 *   { name: "TimeoutError" },
 * );
 * await client.write("LO\n");
 * const line = await server.readUntil("\n");
 * assert.equal(new TextDecoder().decode(line), "HELLO\n");
 * client.close();
 * server.close();
 * ```
 */
export interface ReadWaitOptions {
  /**
   * Give up after this many milliseconds, rejecting with `TimeoutError`.
   * `0` (or less) succeeds at once or fails at once; `Infinity` waits as
   * long as it takes.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /**
   * Give up when aborted, rejecting with `signal.reason`. An already
   * aborted signal rejects before anything is read; an abort from the
   * read's own streaming callback gives up too, even once that callback got
   * the last of the bytes.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * Options for {@linkcode BaseIOStream.readBytes}.
 *
 * @example Stream a body to a callback
 * ```ts
 * import { IOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await IOStream.connect(listener.addr);
 * const server = new IOStream(await listener.accept());
 * await client.write(new Uint8Array(10));
 * let seen = 0;
 * const done = await server.readBytes(10, {
 *   streamingCallback: (chunk) => seen += chunk.length,
 * });
 * assert.equal(done.length, 0);
 * assert.equal(seen, 10);
 * client.close();
 * server.close();
 * ```
 */
export interface ReadBytesOptions extends ReadWaitOptions {
  /**
   * Resolve as soon as at least one byte is available, with at most `n`.
   *
   * @default {false}
   */
  partial?: boolean;
  /**
   * Receives the data as it arrives instead of the promise; the promise then
   * resolves with an empty array once all `n` bytes went to the callback.
   */
  streamingCallback?: (chunk: Uint8Array) => void;
}

/**
 * Options for {@linkcode BaseIOStream.readUntil} and `readUntilRegex`.
 *
 * @example Refuse over-long lines
 * ```ts
 * import { IOStream, UnsatisfiableReadError } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await IOStream.connect(listener.addr);
 * const server = new IOStream(await listener.accept());
 * await client.write("a line far longer than allowed\n");
 * await assert.rejects(
 *   server.readUntil("\n", { maxBytes: 8 }),
 *   UnsatisfiableReadError,
 * );
 * assert.equal(server.closed(), true);
 * client.close();
 * ```
 */
export interface ReadUntilOptions extends ReadWaitOptions {
  /**
   * Fail with `UnsatisfiableReadError` (and close the stream) when the match
   * cannot end within this many bytes.
   *
   * @default {undefined} (bounded only by `maxBufferSize`)
   */
  maxBytes?: number;
}

/**
 * Options for {@linkcode BaseIOStream.readInto}.
 *
 * @example Take what is there
 * ```ts
 * import { IOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await IOStream.connect(listener.addr);
 * const server = new IOStream(await listener.accept());
 * await client.write("abc");
 * const buf = new Uint8Array(100);
 * assert.equal(await server.readInto(buf, { partial: true }), 3);
 * client.close();
 * server.close();
 * ```
 */
export interface ReadIntoOptions extends ReadWaitOptions {
  /**
   * Resolve as soon as at least one byte was copied, instead of waiting
   * until the buffer is full.
   *
   * @default {false}
   */
  partial?: boolean;
}

/**
 * Options for {@linkcode BaseIOStream.readUntilClose}.
 *
 * @example Count bytes until the peer hangs up
 * ```ts
 * import { IOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await IOStream.connect(listener.addr);
 * const server = new IOStream(await listener.accept());
 * await client.write(new Uint8Array(5));
 * client.close();
 * let total = 0;
 * await server.readUntilClose({ streamingCallback: (c) => total += c.length });
 * assert.equal(total, 5);
 * ```
 */
export interface ReadUntilCloseOptions extends ReadWaitOptions {
  /**
   * Receives the data as it arrives; the promise then resolves with an empty
   * array when the stream closes.
   */
  streamingCallback?: (chunk: Uint8Array) => void;
}

// Kinds of pending read.
const NONE = 0;
const BYTES = 1;
const UNTIL = 2;
const REGEX = 3;
const INTO = 4;
const CLOSE = 5;
const CHUNK = 6; // any buffered data (async iteration)

// What each kind of pending read is called in error messages.
const READ_NAMES = [
  "none",
  "readBytes()",
  "readUntil()",
  "readUntilRegex()",
  "readInto()",
  "readUntilClose()",
  "an async iterator's next()",
];

const EMPTY = new Uint8Array(0);
const ITER_DONE: IteratorReturnResult<undefined> = Object.freeze({
  done: true,
  value: undefined,
});
const encoder = new TextEncoder();

// How a transport's malformed result is named in the error about it.
function badResult(value: unknown): string {
  return typeof value === "number" ? String(value) : typeName(value);
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

interface WriteWaiter {
  target: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  // Made quiet only when it rejects (see BaseIOStream's #rPromise).
  promise: Promise<void>;
}

/**
 * A buffered, promise-based byte stream: mix framings on one connection
 * (a line, then a counted body, then a TLS upgrade) with limits Deno's own
 * streams lack.
 *
 * Subclasses supply the transport through {@linkcode readFromFd},
 * {@linkcode writeToFd} and {@linkcode closeFd}; use {@linkcode IOStream}
 * for sockets, `SSLIOStream` for TLS and `PipeIOStream` for web streams.
 *
 * Tornado's `tornado.iostream.BaseIOStream`. One read may be pending at a
 * time; reads are served from the buffer first, and data left over stays
 * for the next read. Writes are queued in order and resolve once their
 * bytes reached the operating system.
 *
 * The bytes a read resolves with belong to the caller: the stream never
 * writes to them again. To avoid copying, they are often a view into a
 * larger block the stream read from the transport (up to `readChunkSize`
 * bytes), and that block stays in memory while the view does; copy a small
 * result you keep for long (`result.slice()`) so it does not pin the block.
 *
 * @example A custom in-memory stream
 * ```ts
 * import { BaseIOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * class Scripted extends BaseIOStream {
 *   #parts = ["GET / HTTP/1.1\r\n", "Host: x\r\n\r\n"];
 *   written: string[] = [];
 *   protected override readFromFd(buf: Uint8Array): Promise<Uint8Array | null> {
 *     const part = this.#parts.shift();
 *     if (part === undefined) return Promise.resolve(null);
 *     const { written } = new TextEncoder().encodeInto(part, buf);
 *     return Promise.resolve(buf.subarray(0, written));
 *   }
 *   protected override writeToFd(data: Uint8Array): Promise<number> {
 *     this.written.push(new TextDecoder().decode(data));
 *     return Promise.resolve(data.length);
 *   }
 *   protected override closeFd(): void {}
 * }
 *
 * const stream = new Scripted();
 * const line = await stream.readUntil("\r\n");
 * assert.equal(new TextDecoder().decode(line), "GET / HTTP/1.1\r\n");
 * await stream.write("HTTP/1.1 200 OK\r\n");
 * assert.deepEqual(stream.written, ["HTTP/1.1 200 OK\r\n"]);
 * const rest = await stream.readUntilClose();
 * assert.equal(new TextDecoder().decode(rest), "Host: x\r\n\r\n");
 * assert.equal(stream.closed(), true);
 * ```
 */
export abstract class BaseIOStream
  implements AsyncIterable<Uint8Array>, Disposable {
  readonly #maxBufferSize: number;
  readonly #chunkSize: number;
  readonly #maxWrite: number; // -1: no limit
  readonly #rbuf = new StreamBuffer();
  readonly #wbuf = new StreamBuffer();
  #readBuf: Uint8Array | null = null;
  // Starts small so that idle or chatty connections stay light; grows to
  // readChunkSize while reads keep filling it.
  #readBufSize = 1024;
  #inPlace = false; // the transport resolved a read with a count
  #intoBuffer = false; // the read in flight fills #rbuf's reserved space
  #lent = 0; // how much space that read was lent
  #direct = false; // the read in flight fills the pending readInto's buffer
  #asked = 0; // the length of the buffer the read in flight was given

  #closed = false;
  #error: Error | null = null;
  #closeCallback: (() => void) | null = null;
  #closeCallbackDone = false;

  // The one pending read.
  #rKind = NONE;
  #rN = 0;
  #rPartial = false;
  #rDelim: Uint8Array = EMPTY;
  #rRe: RegExp | null = null;
  #rMax = -1; // -1: no limit (a number either way keeps the field's type stable)
  #rInto: Uint8Array = EMPTY;
  #rFilled = 0; // bytes already copied or read into #rInto
  #rIntoDirect = true; // the transport may read straight into #rInto
  #rCb: ((chunk: Uint8Array) => void) | null = null;
  #rScanned = 0;
  #lastDelimText = "";
  #lastDelimBytes: Uint8Array = EMPTY;
  #lastDelimByte = -1; // #lastDelimBytes[0] if it is one byte long, else -1
  #rResolve: ((value: never) => void) | null = null;
  #rReject: ((err: unknown) => void) | null = null;
  // The pending read's promise, made quiet only when it rejects: a read
  // nobody awaits (say, a readUntilClose() that just drains) must not crash
  // the process, and a quiet() on every read would cost a derived promise.
  #rPromise: Promise<unknown> | null = null;

  #readInFlight = false;
  #iterating = 0;

  // Writes: bytes ever queued and ever flushed; waiters by target.
  #queued = 0;
  #flushed = 0;
  // Bytes given to the writeToFd() call in progress: out of our hands, as
  // far as maxWriteBufferSize goes (Tornado counts what the kernel has not
  // taken, and Deno hands them to the kernel at once).
  #handed = 0;
  #flushing = false;
  // The write straight from the caller's bytes in progress, and how much
  // of it is written.
  #wNow: Uint8Array = EMPTY;
  #wNowOff = 0;
  // Waiting writes in [#waitersHead, #waitersTail). Slots are reused and
  // never dropped from the array: emptying it (length = 0) would free its
  // storage, and the next write would allocate it again.
  #waiters: Array<WriteWaiter | null> = [];
  #waitersHead = 0;
  #waitersTail = 0;

  /**
   * Sets the buffer limits.
   *
   * @param options Buffer limits; see {@linkcode StreamOptions}.
   */
  constructor(options: StreamOptions = {}) {
    const limits = streamLimits(options);
    this.#maxBufferSize = limits.maxBufferSize;
    this.#chunkSize = limits.readChunkSize;
    this.#readBufSize = Math.min(1024, this.#chunkSize);
    this.#maxWrite = limits.maxWriteBufferSize;
  }

  /**
   * Reads from the transport into `buf` and resolves with the number of
   * bytes read; or, when the bytes landed elsewhere (a BYOB read transfers
   * `buf`'s memory to a new buffer), with a view of them; or with `null` at
   * end of stream. Called by the stream only, never while another call is
   * pending.
   *
   * @param buf Where to read to; the stream does not touch it until the
   * returned promise settles.
   * @returns The count or the bytes read, or `null` at end of stream.
   */
  protected abstract readFromFd(
    buf: Uint8Array,
  ): Promise<number | Uint8Array | null>;

  /**
   * Writes some of `data` to the transport and resolves with how many bytes
   * were written (at least one). Called by the stream only, one call at a
   * time.
   *
   * @param data The bytes to write.
   * @returns How many bytes were written.
   */
  protected abstract writeToFd(data: Uint8Array): Promise<number>;

  /**
   * Releases the transport. Called once, by {@linkcode close}. It must not
   * throw; a pending {@linkcode readFromFd} may reject or resolve afterwards.
   * A pending {@linkcode writeToFd} must settle soon after (closing a
   * socket cancels its write): the writes it carries wait for it, and
   * resolve if it took all their bytes.
   */
  protected abstract closeFd(): void;

  /**
   * Why the stream closed: `null` while open or after a clean close, else
   * the error (a reset, `UnsatisfiableReadError`, `StreamBufferFullError`,
   * or what was passed to {@linkcode close}).
   *
   * @example A stream closed with an error remembers it
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * const server = await listener.accept();
   * stream.close(new Error("protocol violation"));
   * assert.equal(stream.error?.message, "protocol violation");
   * server.close();
   * ```
   */
  get error(): Error | null {
    return this.#error;
  }

  // ---------------------------------------------------------------- reads

  /**
   * Reads exactly `n` bytes (with `partial`, between 1 and `n` as soon as
   * any are available). Without `partial` or a streaming callback, all `n`
   * bytes must fit in the buffer: when `n` is larger than `maxBufferSize`
   * (and than what is already buffered) the read rejects at once with
   * `UnsatisfiableReadError`, and the stream stays open with nothing
   * consumed.
   *
   * @param n How many bytes to read.
   * @param options `partial` and `streamingCallback`; `timeout` and `signal` give up
   * waiting, consuming nothing (see {@linkcode ReadWaitOptions}).
   * @returns The bytes, or an empty array when a streaming callback got them.
   *
   * @example Read a length-prefixed body
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using server = await listener.accept();
   * await server.write(new Uint8Array([0, 3, 7, 8, 9]));
   * const header = await stream.readBytes(2);
   * const body = await stream.readBytes(header[1]!);
   * assert.deepEqual([...body], [7, 8, 9]);
   * stream.close();
   * ```
   */
  readBytes(n: number, options?: ReadBytesOptions): Promise<Uint8Array> {
    let partial: boolean;
    let cb: ((chunk: Uint8Array) => void) | null;
    let wait: GiveUp | undefined;
    try {
      wait = readGiveUp(options, "a read");
      partial = options?.partial === true;
      cb = streamingCallbackOf(options);
      checkSize("n", n, 0);
      this.#checkNotReading();
      // Bytes already buffered can be over the limit (a readInto() that
      // gave up put back what it had): those are served all the same.
      if (
        n > this.#maxBufferSize && n > this.#rbuf.size && !partial &&
        cb === null
      ) {
        throw new UnsatisfiableReadError(
          `Cannot read ${n} bytes whole: maxBufferSize is ` +
            `${this.#maxBufferSize}; read them with partial or a ` +
            `streamingCallback, or raise maxBufferSize`,
        );
      }
    } catch (err) {
      return rejected(err);
    }
    this.#rKind = BYTES;
    this.#rN = n;
    this.#rPartial = partial;
    this.#rCb = cb;
    if (cb === null) {
      const pos = this.#bytesPos(this.#rbuf.size);
      if (pos >= 0) return this.#takeNow(pos);
    }
    const read = this.#startRead<Uint8Array>();
    return wait ? this.#giveUpOn(read, wait) : read;
  }

  /**
   * Reads up to and including the first occurrence of `delimiter`.
   *
   * @param delimiter The bytes to look for; a string is encoded as UTF-8.
   * @param options `maxBytes`: fail (and close) when the delimiter does not
   * end within this many bytes; `timeout` and `signal` give up
   * waiting, consuming nothing (see {@linkcode ReadWaitOptions}).
   * @returns The bytes read, delimiter included.
   *
   * @example Read a line
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using server = await listener.accept();
   * await server.write(new TextEncoder().encode("HELO x\r\nrest"));
   * const line = await stream.readUntil("\r\n", { maxBytes: 1024 });
   * assert.equal(new TextDecoder().decode(line), "HELO x\r\n");
   * stream.close();
   * ```
   */
  readUntil(
    delimiter: Uint8Array | string,
    options?: ReadUntilOptions,
  ): Promise<Uint8Array> {
    // Each option is read once, here: the fast path below and the checks
    // after it see the same values.
    let wait: GiveUp | undefined;
    let maxBytes: unknown;
    try {
      wait = readGiveUp(options, "a read");
      maxBytes = options?.maxBytes;
    } catch (err) {
      return rejected(err);
    }
    if (
      delimiter === this.#lastDelimText && this.#lastDelimByte >= 0 &&
      this.#rKind === NONE && wait === undefined && maxBytes === undefined
    ) {
      // The usual line read: the same one-byte delimiter as last time, no
      // limit, and a whole line in the first buffered chunk.
      const line = this.#rbuf.takeThroughByte(this.#lastDelimByte);
      if (line !== null) {
        this.#relisten();
        return Promise.resolve(line);
      }
    }
    let delim: Uint8Array;
    let max: number | undefined;
    try {
      if (typeof delimiter === "string") {
        // Line protocols pass the same string every time: encode it once.
        if (delimiter !== this.#lastDelimText) {
          this.#lastDelimBytes = encoder.encode(delimiter);
          this.#lastDelimText = delimiter;
          this.#lastDelimByte = this.#lastDelimBytes.length === 1
            ? this.#lastDelimBytes[0]!
            : -1;
        }
        delim = this.#lastDelimBytes;
      } else if (delimiter instanceof Uint8Array) delim = delimiter;
      else {
        throw new TypeError(
          `Delimiter must be a Uint8Array or a string, got ${
            typeName(delimiter)
          }`,
        );
      }
      if (delim.length === 0) {
        throw new TypeError("Delimiter must not be empty");
      }
      max = optionalSize("maxBytes", maxBytes, 0);
      this.#checkNotReading();
    } catch (err) {
      return rejected(err);
    }
    this.#rKind = UNTIL;
    this.#rMax = max ?? -1;
    this.#rDelim = delim;
    this.#rScanned = 0;
    let pos: number;
    try {
      pos = this.#untilPos(this.#rbuf.size);
    } catch (err) {
      this.#clearRead();
      this.close(err);
      return rejected(err);
    }
    if (pos >= 0) return this.#takeNow(pos);
    const read = this.#startRead<Uint8Array>();
    return wait ? this.#giveUpOn(read, wait) : read;
  }

  /**
   * Reads up to and including the end of the first match of `regex`. The
   * bytes are matched as Latin-1 text (one character per byte), so write
   * patterns over byte values (`/\r?\n\r?\n/`, `/[\x80-\xff]/`). Unlike
   * Python's bytes patterns in Tornado, JavaScript classes and flags see
   * those characters as Unicode: `\s` also matches byte 0xA0, and with `i`
   * `/\xe9/` also matches 0xC9. Spell out byte classes (`[ \t]`) where that
   * matters. Each arrival of data searches all the buffered text again (as
   * in Tornado: a match may start anywhere), so against a peer you do not
   * trust, set `maxBytes`: with a large buffer, a peer sending one byte at
   * a time makes every byte cost a search of all of it.
   *
   * @param regex The pattern; its `g` and `y` flags are ignored.
   * @param options `maxBytes`: fail (and close) when no match can end within
   * this many bytes; `timeout` and `signal` give up
   * waiting, consuming nothing (see {@linkcode ReadWaitOptions}).
   * @returns The bytes read, up to the end of the match.
   *
   * @example Read HTTP headers
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using server = await listener.accept();
   * await server.write(new TextEncoder().encode("A: 1\nB: 2\n\nbody"));
   * const head = await stream.readUntilRegex(/\r?\n\r?\n/);
   * assert.equal(new TextDecoder().decode(head), "A: 1\nB: 2\n\n");
   * stream.close();
   * ```
   */
  readUntilRegex(
    regex: RegExp,
    options: ReadUntilOptions = {},
  ): Promise<Uint8Array> {
    let max: number | undefined;
    let wait: GiveUp | undefined;
    try {
      wait = readGiveUp(options, "a read");
      if (!(regex instanceof RegExp)) {
        throw new TypeError(`Pattern must be a RegExp, got ${typeName(regex)}`);
      }
      max = optionalSize("maxBytes", options?.maxBytes, 0);
      this.#checkNotReading();
    } catch (err) {
      return rejected(err);
    }
    this.#rKind = REGEX;
    this.#rMax = max ?? -1;
    this.#rRe = regex.global || regex.sticky
      ? new RegExp(regex.source, regex.flags.replace(/[gy]/g, ""))
      : regex;
    const read = this.#startRead<Uint8Array>();
    return wait ? this.#giveUpOn(read, wait) : read;
  }

  /**
   * Reads into `buffer` until it is full (with `partial`, as soon as at
   * least one byte was copied). Bytes already buffered are copied over
   * first; a socket or TLS transport then reads the rest straight into
   * `buffer`, so a loop that reuses one buffer copies nothing and allocates
   * nothing once the stream runs (its first transport read, and any read
   * with `timeout` or `signal`, go through the stream's own buffer, so that
   * nothing lands in `buffer` after giving up). `buffer` may be larger than
   * `maxBufferSize`. If the stream
   * closes before a non-partial read filled the buffer, the read rejects
   * and gives the bytes it had received back to the stream's buffer, where
   * a later read (say, `readUntilClose()`) still finds them.
   *
   * @param buffer Where the bytes go.
   * @param options `partial`; `timeout` and `signal` give up
   * waiting, consuming nothing (see {@linkcode ReadWaitOptions}).
   * @returns How many bytes were copied.
   *
   * @example Fill a caller-owned buffer
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using server = await listener.accept();
   * await server.write(new Uint8Array([1, 2, 3, 4]));
   * const buf = new Uint8Array(4);
   * assert.equal(await stream.readInto(buf), 4);
   * assert.deepEqual([...buf], [1, 2, 3, 4]);
   * stream.close();
   * ```
   */
  readInto(buffer: Uint8Array, options: ReadIntoOptions = {}): Promise<number> {
    let wait: GiveUp | undefined;
    try {
      wait = readGiveUp(options, "a read");
      if (!(buffer instanceof Uint8Array)) {
        throw new TypeError(
          `Buffer must be a Uint8Array, got ${typeName(buffer)}`,
        );
      }
      this.#checkNotReading();
    } catch (err) {
      return rejected(err);
    }
    this.#rKind = INTO;
    this.#rInto = buffer;
    this.#rFilled = 0;
    this.#rPartial = options.partial === true;
    // A read that may give up must be able to give its bytes back: they
    // come through the buffer, never straight from the transport.
    this.#rIntoDirect = wait === undefined;
    const read = this.#startRead<number>();
    return wait ? this.#giveUpOn(read, wait) : read;
  }

  /**
   * Reads everything until the stream closes. Resolves (rather than
   * rejects) when the peer closes, even after an error such as a reset.
   *
   * @param options `streamingCallback`; `timeout` and `signal` give up
   * waiting, consuming nothing (see {@linkcode ReadWaitOptions}).
   * @returns The bytes, or an empty array when a streaming callback got them.
   *
   * @example Read a whole response
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * const server = await listener.accept();
   * await server.write(new TextEncoder().encode("all of it"));
   * server.close();
   * const data = await stream.readUntilClose();
   * assert.equal(new TextDecoder().decode(data), "all of it");
   * assert.equal(stream.closed(), true);
   * ```
   */
  readUntilClose(options: ReadUntilCloseOptions = {}): Promise<Uint8Array> {
    let wait: GiveUp | undefined;
    let cb: ((chunk: Uint8Array) => void) | null;
    try {
      wait = readGiveUp(options, "a read");
      cb = streamingCallbackOf(options);
      this.#checkNotReading();
    } catch (err) {
      return rejected(err);
    }
    this.#rKind = CLOSE;
    this.#rCb = cb;
    const read = this.#startRead<Uint8Array>();
    return wait ? this.#giveUpOn(read, wait) : read;
  }

  /**
   * Iterates over the data in chunks as it arrives, until the stream closes.
   * While an iterator is alive (from its first `next()` until it ends) the
   * stream reads ahead, but only while nothing is buffered: a slow loop
   * body holds the peer back rather than filling memory. A `next()` refused
   * because another read is pending rejects and ends nothing, but the
   * stream stops reading ahead for the iterator until a `next()` is
   * accepted again. Ends quietly on a clean close; throws
   * `StreamClosedError` when the stream closed with an error. Leaving the
   * loop early does not close the stream. The iterator's `return()` also
   * ends a `next()` still waiting for data (with `done`), and the bytes that
   * arrive afterwards stay buffered for the next read.
   *
   * @returns An async iterator of chunks.
   *
   * @example Count the bytes of a response
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * const server = await listener.accept();
   * await server.write(new Uint8Array(1000));
   * server.close();
   * let total = 0;
   * for await (const chunk of stream) total += chunk.length;
   * assert.equal(total, 1000);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    let active = true;
    // Counted as listening from an accepted next() to a refused one (another
    // read pending): a `for await` that a refused next() throws out of calls
    // no return(), and counting it on would keep a read in flight (and
    // startTls refusing) for good.
    let listening = false;
    // The resolver of this iterator's read while it waits for data.
    let waiting: ((value: never) => void) | null = null;
    const finish = () => {
      if (active) {
        active = false;
        if (listening) this.#iterating--;
      }
    };
    const next = (): Promise<IteratorResult<Uint8Array>> => {
      if (!active) return Promise.resolve(ITER_DONE);
      try {
        this.#checkNotReading();
      } catch (err) {
        // Not ended, but no longer listening until a next() is accepted: a
        // `for await` that this throws out of calls no return().
        if (listening) {
          listening = false;
          this.#iterating--;
        }
        return rejected(err);
      }
      if (!listening) {
        listening = true;
        this.#iterating++;
      }
      this.#rKind = CHUNK;
      // The read itself, not a promise derived from it: a loop awaiting it
      // sees the end before the close callback runs.
      const read = this.#startRead<IteratorResult<Uint8Array>>();
      read.catch(finish); // after an error, later calls report the end
      waiting = this.#rResolve;
      return read;
    };
    return {
      next,
      return: (): Promise<IteratorResult<Uint8Array>> => {
        finish();
        // Give up our read if it still waits (not a later reader's): it ends
        // the iteration, and what arrives from now on stays buffered for
        // the next read.
        if (waiting !== null && waiting === this.#rResolve) {
          this.#clearRead();
          waiting(ITER_DONE as never);
        }
        waiting = null;
        return Promise.resolve(ITER_DONE);
      },
    };
  }

  #checkNotReading(): void {
    if (this.#rKind !== NONE) {
      throw new Error(
        `Cannot start a read while another read is pending: ${
          READ_NAMES[this.#rKind]
        }`,
      );
    }
  }

  #clearRead(): void {
    this.#rKind = NONE;
    this.#rCb = null;
    this.#rRe = null;
    this.#rDelim = EMPTY;
    this.#rInto = EMPTY;
    this.#rResolve = null;
    this.#rReject = null;
    this.#rPromise = null;
  }

  // Serves the read just described from the buffer if it can, else parks it.
  #startRead<T>(): Promise<T> {
    if (this.#rCb !== null) {
      try {
        this.#stream();
      } catch (err) {
        this.#clearRead();
        this.close(err);
        return rejected(err);
      }
      if (this.#rKind === BYTES && this.#rN === 0) {
        this.#clearRead();
        this.#relisten();
        return Promise.resolve(EMPTY as T);
      }
    }
    let pos: number;
    try {
      pos = this.#findReadPos();
    } catch (err) {
      this.#clearRead();
      this.close(err);
      return rejected(err);
    }
    if (pos >= 0) {
      const value = this.#consume(pos) as T;
      this.#relisten();
      return Promise.resolve(value);
    }
    if (this.#closed) {
      try {
        return Promise.resolve(this.#closedValue() as T);
      } catch (err) {
        return rejected(err);
      }
    }
    // Made quiet, like every other rejection here, when it rejects (see
    // #rPromise).
    const read = new Promise<T>((resolve, reject) => {
      this.#rResolve = resolve as (value: never) => void;
      this.#rReject = reject;
    });
    this.#rPromise = read;
    this.#ensureLoop();
    return read;
  }

  // Lets the read just started give up on the timeout or signal its options
  // gave (read and checked once) while it waits. Giving up consumes
  // nothing: a readInto() puts back the bytes it had copied over.
  #giveUpOn<T>(read: Promise<T>, limits: GiveUp): Promise<T> {
    const { signal } = limits;
    const resolve = this.#rResolve;
    if (resolve === null) {
      // Served, or failed, at once; but a streaming callback may have
      // aborted the signal meanwhile, and an abort during the read wins.
      return signal?.aborted ? rejected(signal.reason) : read;
    }
    const kind = this.#rKind;
    // An abort by a streaming callback as the read started gives up at once.
    const giveUp = (reason: unknown): void => {
      if (this.#rResolve !== resolve) return; // settled meanwhile
      const reject = this.#rReject!;
      if (kind === INTO && this.#rFilled > 0) {
        this.#rbuf.unshift(this.#rInto.subarray(0, this.#rFilled));
      }
      this.#clearRead();
      quiet(read);
      reject(reason);
    };
    armGiveUp(limits, READ_NAMES[kind]!, giveUp, read);
    return read;
  }

  // Feeds buffered bytes to a streaming callback; may throw what it throws.
  #stream(): void {
    const cb = this.#rCb!;
    const size = this.#rbuf.size;
    if (size === 0) return;
    if (this.#rKind === BYTES) {
      const m = Math.min(this.#rN, size);
      if (m === 0) return;
      this.#rN -= m;
      cb(this.#rbuf.take(m));
    } else if (this.#rKind === CLOSE) {
      cb(this.#rbuf.take(size));
    }
  }

  /**
   * The one place that decides whether the pending read can complete: the
   * number of buffered bytes it consumes, or -1 to wait for more. Throws
   * `UnsatisfiableReadError` when a `maxBytes` limit cannot be met.
   */
  #findReadPos(): number {
    const size = this.#rbuf.size;
    switch (this.#rKind) {
      case BYTES:
        return this.#bytesPos(size);
      case INTO: {
        const filled = this.#rFilled;
        const need = this.#rInto.length - filled;
        if (size >= need) return need;
        if (this.#rPartial) return filled + size > 0 ? size : -1;
        if (size > 0) {
          // Move it over now: the rest can then be read straight into the
          // caller's buffer, not through (and past the limit of) ours.
          this.#rbuf.copyTo(this.#rInto.subarray(filled), size);
          this.#rFilled = filled + size;
        }
        return -1;
      }
      case UNTIL:
        return this.#untilPos(size);
      case REGEX: {
        const max = this.#rMax;
        if (size > 0) {
          const m = this.#rRe!.exec(this.#rbuf.latin1());
          if (m !== null) {
            const end = m.index + m[0].length;
            if (max >= 0 && end > max) this.#unsatisfiable();
            return end;
          }
        }
        // Lookahead can let a later match end earlier: keep one byte slack.
        if (max >= 0 && size > max) this.#unsatisfiable();
        return -1;
      }
      case CHUNK:
        return size > 0 ? size : -1;
      default:
        return -1; // CLOSE completes only on close
    }
  }

  // The BYTES and UNTIL rules of #findReadPos, also called directly by
  // readBytes() and readUntil() so that their hot paths stay monomorphic.
  #bytesPos(size: number): number {
    if (this.#rCb !== null) return this.#rN === 0 ? 0 : -1; // streamed
    const n = this.#rN;
    if (size >= n) return n;
    return this.#rPartial && size > 0 ? size : -1;
  }

  #untilPos(size: number): number {
    const delim = this.#rDelim;
    const max = this.#rMax;
    if (size >= delim.length) {
      const at = this.#rbuf.indexOf(delim, this.#rScanned);
      if (at >= 0) {
        const end = at + delim.length;
        if (max >= 0 && end > max) this.#unsatisfiable();
        return end;
      }
      // Next time, look only at bytes a match could still start at.
      this.#rScanned = size - delim.length + 1;
    }
    // Any match from here on ends past the buffered bytes.
    if (max >= 0 && size >= max) this.#unsatisfiable();
    return -1;
  }

  #unsatisfiable(): never {
    const max = this.#rMax;
    if (this.#rKind === UNTIL) {
      const text = new TextDecoder().decode(this.#rDelim);
      throw new UnsatisfiableReadError(
        `Cannot read until ${
          JSON.stringify(text)
        }: not found within ${max} bytes`,
      );
    }
    throw new UnsatisfiableReadError(
      `Cannot read until ${this.#rRe}: no match within ${max} bytes`,
    );
  }

  // Takes `pos` bytes for the pending read and clears it; returns its value.
  #consume(pos: number): unknown {
    let value: unknown;
    if (this.#rKind === INTO) {
      const filled = this.#rFilled;
      // pos is 0 after a read straight into the caller's buffer: no view.
      if (pos > 0) {
        this.#rbuf.copyTo(
          filled === 0 ? this.#rInto : this.#rInto.subarray(filled),
          pos,
        );
      }
      value = filled + pos;
    } else if (this.#rKind === CHUNK) {
      value = { done: false, value: this.#rbuf.take(pos) };
    } else {
      value = this.#rbuf.take(pos);
    }
    this.#clearRead();
    return value;
  }

  // Completes a parked read once new data arrived.
  #tryServe(): void {
    const resolve = this.#rResolve;
    if (resolve === null) return;
    const reject = this.#rReject!;
    const read = this.#rPromise!;
    let pos: number;
    try {
      if (this.#rCb !== null) {
        this.#stream();
        if (this.#rKind === BYTES && this.#rN === 0) {
          this.#clearRead();
          resolve(EMPTY as never);
          return;
        }
      }
      pos = this.#findReadPos();
    } catch (err) {
      this.#clearRead();
      quiet(read);
      reject(err);
      this.close(err);
      return;
    }
    if (pos >= 0) resolve(this.#consume(pos) as never);
  }

  // Serves the bytes or line read just described from the buffer at once.
  #takeNow(pos: number): Promise<Uint8Array> {
    this.#rKind = NONE;
    const value = this.#rbuf.take(pos);
    this.#relisten();
    return Promise.resolve(value);
  }

  // After a read served from the buffer: whoever listens for the peer's
  // close (a close callback, an iterator) needs a read in flight again once
  // the buffer is empty.
  #relisten(): void {
    if (this.#closeCallback !== null || this.#iterating !== 0) {
      this.#ensureLoop();
    }
  }

  // Clears the described read on a closed stream (nothing can arrive) and
  // returns what it resolves with; throws what it rejects with.
  #closedValue(): unknown {
    const kind = this.#rKind;
    if (kind === CLOSE) {
      const cb = this.#rCb;
      const rest = this.#rbuf.take(this.#rbuf.size);
      this.#clearRead();
      if (cb === null) return rest;
      if (rest.length > 0) cb(rest);
      return EMPTY;
    }
    if (kind === INTO && this.#rFilled > 0) {
      // A readInto() that fails gives back the bytes it had taken (copied
      // over or read straight into the caller's buffer): a later read, say
      // a readUntilClose(), still gets them.
      this.#rbuf.unshift(this.#rInto.subarray(0, this.#rFilled));
    }
    this.#clearRead();
    if (kind === CHUNK && this.#error === null) return ITER_DONE;
    throw this.#closedError();
  }

  #closedError(): StreamClosedError {
    return this.#error === null
      ? new StreamClosedError()
      : new StreamClosedError({ realError: this.#error });
  }

  // Starts one transport read when someone wants data and none is in
  // flight. Reads chain through #onRead, so a stream reads while a read is
  // pending, and while a close callback is set or an iterator is alive but
  // only until something is buffered: reading ahead further would defeat
  // the peer's flow control and end in StreamBufferFullError. It stops
  // (leaving no read in flight) as soon as nobody wants data.
  #ensureLoop(): void {
    if (
      this.#readInFlight || this.#closed ||
      (this.#rKind === NONE &&
        (this.#rbuf.size > 0 ||
          (this.#closeCallback === null && this.#iterating === 0)))
    ) return;
    // Once the transport showed it reads in place (it resolved with a
    // count), small reads go straight into the buffer's free space: no copy
    // and no separate read buffer. Otherwise (BYOB reads may move memory)
    // read into a buffer of our own.
    const size = this.#readBufSize;
    this.#intoBuffer = this.#inPlace && size <= COALESCE_MAX;
    // A readInto() with nothing buffered reads straight into the caller's
    // buffer: no copy at all.
    this.#direct = this.#inPlace && this.#rKind === INTO &&
      this.#rIntoDirect && this.#rbuf.size === 0 &&
      this.#rInto.length - this.#rFilled >= 512;
    let buf: Uint8Array;
    if (this.#direct) {
      this.#intoBuffer = false;
      buf = this.#rInto.subarray(this.#rFilled);
    } else if (this.#intoBuffer) {
      buf = this.#rbuf.reserve(size, size >>> 2);
      this.#lent = buf.length;
      this.#readBuf = null;
    } else buf = this.#readBuf ??= new Uint8Array(size);
    this.#asked = buf.length;
    this.#readInFlight = true;
    let pending: Promise<Uint8Array | number | null>;
    try {
      // Promise.resolve: a subclass that returns a plain value still gets a
      // clear error from #onRead, not a TypeError thrown out of a read.
      pending = Promise.resolve(this.readFromFd(buf));
    } catch (err) {
      this.#onReadError(err);
      return;
    }
    pending.then(this.#onRead, this.#onReadError);
  }

  #onReadError = (err: unknown): void => {
    this.#readInFlight = false;
    if (!this.#closed) this.close(err);
  };

  #onRead = (result: Uint8Array | number | null): void => {
    this.#readInFlight = false;
    if (this.#closed) return;
    if (result === null) {
      this.close();
      return;
    }
    if (
      typeof result === "number"
        ? (result >>> 0) !== result || result > this.#asked
        : !(result instanceof Uint8Array)
    ) {
      // A subclass's transport broke the contract: say so, lose nothing more.
      this.close(
        new TypeError(
          `readFromFd() must resolve with a count from 0 to ${this.#asked}, ` +
            `a Uint8Array or null, got ${badResult(result)}`,
        ),
      );
      return;
    }
    const chunkSize = this.#chunkSize;
    if (this.#direct) {
      if (typeof result === "number") this.#rFilled += result;
      else {
        this.#inPlace = false; // not in place after all: buffer this one
        this.#rbuf.append(result, true);
      }
      this.#afterRead();
      return;
    }
    if (this.#intoBuffer) {
      let n = 0;
      if (typeof result === "number") n = result;
      else this.#inPlace = false; // not in place after all: copy this one
      this.#rbuf.commit(n);
      if (typeof result !== "number") this.#rbuf.append(result, true);
      if (n === this.#lent) {
        // Reads fill what we lend: ask for more.
        this.#readBufSize = Math.min(chunkSize, this.#readBufSize * 4);
      }
      this.#afterRead();
      return;
    }
    const buf = this.#readBuf!;
    // What the read asked for: a BYOB read has taken buf's memory by now,
    // which leaves buf empty.
    const asked = this.#readBufSize;
    let got: Uint8Array;
    if (typeof result === "number") {
      this.#inPlace = true;
      got = buf.subarray(0, result);
    } else got = result;
    if (got.length === asked && asked < chunkSize) {
      // Reads fill the buffer: grow it.
      this.#readBufSize = Math.min(chunkSize, asked * 4);
      this.#readBuf = null;
    }
    if (got.length >= Math.max(COALESCE_MAX + 1, chunkSize >>> 2)) {
      // Big enough: hand the memory over to the buffer, no copy.
      this.#rbuf.append(got);
      this.#readBuf = null;
    } else {
      // Small: copy, so the read buffer can be reused.
      this.#rbuf.append(got, true);
      if (buf.byteLength === 0 && this.#readBuf !== null) {
        // A BYOB read took the buffer's memory: reuse what came back.
        const back = got.buffer;
        const size = this.#readBufSize;
        this.#readBuf = back instanceof ArrayBuffer && back.byteLength >= size
          ? new Uint8Array(back, 0, size)
          : null;
      }
    }
    this.#afterRead();
  };

  #afterRead(): void {
    this.#tryServe();
    if (this.#rbuf.size > this.#maxBufferSize && !this.#closed) {
      const err = new StreamBufferFullError(
        `Reached maxBufferSize (${this.#maxBufferSize} bytes) while reading: ` +
          `${this.#rbuf.size} bytes buffered`,
      );
      const reject = this.#rReject;
      const read = this.#rPromise;
      this.#clearRead();
      if (read !== null) quiet(read);
      reject?.(err);
      this.close(err);
      return;
    }
    this.#ensureLoop();
  }

  // --------------------------------------------------------------- writes

  /**
   * Queues `data` to be written. Writes go out in call order; the promise
   * resolves once these bytes reached the operating system. Ignoring the
   * promise is safe: it never ends the process. A failed connection closes
   * the stream and also shows on {@linkcode error}; a write refused up
   * front (over `maxWriteBufferSize`, not bytes or a string) changes
   * nothing and shows only in its own promise. A
   * `Uint8Array` may be written from the caller's memory without a copy
   * (an `IOStream` does so whenever nothing is queued ahead of it, whatever
   * its size): leave it unchanged until the promise settles.
   *
   * @param data The bytes; a string is encoded as UTF-8.
   * @returns A promise that resolves when the bytes are flushed, and rejects
   * with `StreamClosedError` when the stream closes before they all reached
   * the operating system, or with `StreamBufferFullError` when
   * `maxWriteBufferSize` would be exceeded.
   *
   * @example Write a request and read the reply
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using server = await listener.accept();
   * await stream.write("ping\n");
   * const buf = new Uint8Array(5);
   * await server.read(buf);
   * assert.equal(new TextDecoder().decode(buf), "ping\n");
   * stream.close();
   * ```
   */
  write(data: Uint8Array | string): Promise<void> {
    let bytes: Uint8Array;
    if (typeof data === "string") bytes = encoder.encode(data);
    else if (data instanceof Uint8Array) bytes = data;
    else {
      return rejected(
        new TypeError(
          `Data must be a Uint8Array or a string, got ${typeName(data)}`,
        ),
      );
    }
    if (this.#closed) return rejected(this.#closedError());
    const n = bytes.length;
    const max = this.#maxWrite;
    if (max >= 0) {
      const waiting = this.#queued - this.#flushed - this.#handed;
      if (waiting + n > max) {
        return rejected(
          new StreamBufferFullError(
            `Cannot queue ${n} bytes: maxWriteBufferSize is ${max} and ${waiting} bytes are queued`,
          ),
        );
      }
    }
    this.#queued += n;
    if (!this.#flushing && n === 0) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#waiters[this.#waitersTail++] = {
      target: this.#queued,
      resolve,
      reject,
      promise,
    };
    if (this.#flushing) this.#wbuf.append(bytes);
    else {
      this.#flushing = true;
      this.#writeNow(bytes);
    }
    return promise;
  }

  // Fast path: nothing queued, so write straight from the caller's bytes.
  // The write still waits in #waiters like any other, so that writes
  // resolve in call order.
  #writeNow(bytes: Uint8Array): void {
    this.#wNow = bytes;
    this.#wNowOff = 0;
    this.#writeNowMore();
  }

  // One transport write of the rest of #wNow. Chained through then(), not
  // an async function: this is the path of every write on an idle stream,
  // and an async frame per write costs more than the two callbacks.
  #writeNowMore(): void {
    const bytes = this.#wNow;
    const off = this.#wNowOff;
    this.#handed = bytes.length - off;
    let pending: Promise<number>;
    try {
      // Promise.resolve: a subclass may return a plain count, as an async
      // method's await allowed (a native promise comes back as it is).
      pending = Promise.resolve(
        this.writeToFd(off === 0 ? bytes : bytes.subarray(off)),
      );
    } catch (err) {
      this.#onWriteNowError(err);
      return;
    }
    pending.then(this.#onWroteNow, this.#onWriteNowError);
  }

  #onWroteNow = (n: number): void => {
    if (!this.#wroteOk(n)) return;
    this.#handed = 0;
    this.#flushed += n;
    if (this.#closed) {
      this.#wNow = EMPTY;
      this.#flushing = false;
      this.#settleWritesAfterClose();
      return;
    }
    if ((this.#wNowOff += n) < this.#wNow.length) {
      this.#writeNowMore();
      return;
    }
    this.#wNow = EMPTY;
    if (this.#wbuf.size === 0) {
      // The usual case, without #drain's async frame: resolve and stop.
      this.#flushing = false;
      this.#wakeWriters();
    } else this.#drain(); // resolves this write, then writes what queued up
  };

  // Whether `n`, what a writeToFd() call resolved with, keeps its contract
  // (1 to the bytes it was given); else closes the stream and fails the
  // writes that call carried, as their fate is unknown.
  #wroteOk(n: number): boolean {
    const handed = this.#handed;
    if ((n >>> 0) === n && n >= 1 && n <= handed) return true;
    this.#onWriteNowError(
      new TypeError(
        `writeToFd() must resolve with a count from 1 to ${handed}, got ${
          badResult(n)
        }`,
      ),
    );
    return false;
  }

  #onWriteNowError = (err: unknown): void => {
    this.#handed = 0;
    this.#wNow = EMPTY;
    this.#flushing = false;
    if (this.#closed) this.#settleWritesAfterClose();
    else this.close(err);
  };

  async #drain(): Promise<void> {
    const wbuf = this.#wbuf;
    try {
      for (;;) {
        this.#wakeWriters();
        if (wbuf.size === 0 || this.#closed) break;
        const chunk = wbuf.first();
        this.#handed = chunk.length;
        const n = await this.writeToFd(chunk);
        if (!this.#wroteOk(n)) break;
        this.#handed = 0;
        this.#flushed += n;
        if (this.#closed) break;
        wbuf.skip(n);
      }
    } catch (err) {
      this.#handed = 0;
      if (!this.#closed) this.close(err);
    } finally {
      this.#flushing = false;
    }
    if (this.#closed) this.#settleWritesAfterClose();
  }

  #wakeWriters(): void {
    const waiters = this.#waiters;
    const tail = this.#waitersTail;
    let head = this.#waitersHead;
    while (head < tail) {
      const waiter = waiters[head]!;
      if (waiter.target > this.#flushed) break;
      waiters[head++] = null;
      waiter.resolve();
    }
    if (head === tail) {
      this.#noWaiters();
      return;
    }
    if (head >= 64 && head * 2 >= tail) {
      // Writes kept ahead of their flushes never let the queue empty: move
      // the waiting ones down, or the array would grow with every write.
      waiters.copyWithin(0, head, tail);
      waiters.fill(null, tail - head, tail);
      this.#waitersTail = tail - head;
      head = 0;
    }
    this.#waitersHead = head;
  }

  // Fails the waiting writes whose bytes go past `limit` (all of them for
  // -1) with StreamClosedError.
  #failWritesPast(limit: number): void {
    const waiters = this.#waiters;
    const head = this.#waitersHead;
    const tail = this.#waitersTail;
    let keep = head;
    while (keep < tail && waiters[keep]!.target <= limit) keep++;
    for (let i = keep; i < tail; i++) {
      const waiter = waiters[i]!;
      waiters[i] = null;
      quiet(waiter.promise);
      waiter.reject(this.#closedError());
    }
    this.#waitersTail = keep;
    if (keep === head) this.#noWaiters();
  }

  // The queue of waiting writes is empty: start it over at slot 0, and
  // after a burst give the storage back (an idle stream keeps none).
  #noWaiters(): void {
    this.#waitersHead = this.#waitersTail = 0;
    if (this.#waiters.length > 64) this.#waiters.length = 0;
  }

  // The transport write that was in progress when the stream closed has
  // settled: the writes it carried through resolve, the others fail.
  #settleWritesAfterClose(): void {
    this.#wakeWriters();
    this.#failWritesPast(-1);
  }

  // ---------------------------------------------------------------- state

  /**
   * Closes the stream and its transport. Pending reads that the buffered
   * data cannot satisfy reject with `StreamClosedError` (a pending
   * `readUntilClose` resolves with the rest), queued writes reject, and the
   * close callback runs once, on a later turn of the event loop, so code
   * awaiting the failed read has seen the error first. Closing twice is a
   * no-op. Writes whose bytes the transport already has (a socket write is
   * done as soon as `write()` is called, when the kernel has room) settle
   * as that transport write does: `write(reply); close()` resolves the
   * write once the operating system took `reply`, maybe after the close
   * callback has run.
   *
   * @param error Why, if the close is due to an error; kept in
   * {@linkcode error} and in `StreamClosedError.realError`.
   *
   * @example Reads and writes after close reject
   * ```ts
   * import { IOStream, StreamClosedError } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using _server = await listener.accept();
   * stream.close();
   * stream.close();
   * await assert.rejects(stream.write("late"), StreamClosedError);
   * await assert.rejects(stream.readBytes(1), StreamClosedError);
   * ```
   *
   * @example Reply, then close at once
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * const server = new IOStream(await listener.accept());
   * const sent = stream.write("bye\n");
   * stream.close();
   * await sent; // the OS had taken it: it resolves
   * const reply = await server.readUntilClose();
   * assert.equal(new TextDecoder().decode(reply), "bye\n");
   * ```
   */
  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    if (error !== undefined && error !== null) this.#error = toError(error);
    try {
      this.closeFd();
    } catch {
      // closeFd must not throw; a transport that does has nothing to add.
    }
    // Writes that did not make it fail now. The ones whose bytes are all in
    // the transport write in progress may have made it: that write decides,
    // when it settles (a write that reached the operating system before
    // close() resolves, as a write done at once does in Tornado).
    this.#wbuf.skip(this.#wbuf.size);
    if (this.#handed === 0) this.#settleWritesAfterClose();
    else this.#failWritesPast(this.#flushed + this.#handed);
    // The pending read: buffered data may still satisfy it. It settles here
    // and now, so that whoever awaits it runs before the close callback, as
    // in Tornado.
    const resolve = this.#rResolve;
    if (resolve !== null) {
      const reject = this.#rReject!;
      const read = this.#rPromise!;
      try {
        if (this.#rCb !== null && this.#rKind === BYTES) this.#stream();
        const pos = this.#rKind === CLOSE ? -1 : this.#findReadPos();
        resolve((pos >= 0 ? this.#consume(pos) : this.#closedValue()) as never);
      } catch (err) {
        this.#clearRead();
        quiet(read);
        reject(err);
      }
    }
    this.#maybeRunCloseCallback();
  }

  /**
   * Closes the stream, as {@linkcode close} does with no error, when a
   * `using` declaration goes out of scope.
   *
   * @example Close at the end of a block
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * let kept: IOStream;
   * {
   *   using stream = await IOStream.connect(listener.addr);
   *   using _server = await listener.accept();
   *   kept = stream;
   *   await stream.write("bye");
   * }
   * assert.equal(kept.closed(), true);
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Sets (or with `null`, clears) the function called once when the stream
   * closes. While one is set and nothing is buffered, the stream keeps a
   * read in flight so that it notices the peer closing even when idle (as
   * in Tornado, unread data buffered from the peer holds that off until it
   * is read). Clearing it stops new reads, not the one in flight: that one
   * ends when the peer sends or closes (see `readInFlight()`;
   * `IOStream.startTls` refuses while it is). A thrown error is reported
   * through the IOLoop's error handler. It runs on a turn of the event loop
   * after the close (like Tornado's `add_callback`), once the code awaiting
   * the read that failed has run.
   *
   * @param callback The function, or `null`.
   *
   * @example Notice the peer hanging up
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * const server = await listener.accept();
   * const closed = Promise.withResolvers<void>();
   * stream.setCloseCallback(() => closed.resolve());
   * server.close();
   * await closed.promise;
   * assert.equal(stream.closed(), true);
   * ```
   */
  setCloseCallback(callback: (() => void) | null): void {
    if (callback !== null && typeof callback !== "function") {
      throw new TypeError(
        `Close callback must be a function or null, got ${typeName(callback)}`,
      );
    }
    this.#closeCallback = callback;
    if (this.#closed) this.#maybeRunCloseCallback();
    else if (callback !== null) this.#ensureLoop();
  }

  #maybeRunCloseCallback(): void {
    if (this.#closeCallbackDone || this.#closeCallback === null) return;
    const cb = this.#closeCallback;
    this.#closeCallback = null;
    this.#closeCallbackDone = true;
    // Not a microtask: the code awaiting the read that failed with the
    // close may be several promise hops away (a read that fails as it
    // starts is awaited only after close() ran), and it runs first.
    setImmediate(() => {
      try {
        const result: unknown = cb();
        if (result instanceof Promise) {
          result.catch((err) =>
            reportCallbackError(err, "stream close callback")
          );
        }
      } catch (err) {
        reportCallbackError(err, "stream close callback");
      }
    });
  }

  /**
   * Whether the stream is closed.
   *
   * @returns `true` once {@linkcode close} ran or the peer closed.
   *
   * @example After close
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using _server = await listener.accept();
   * assert.equal(stream.closed(), false);
   * stream.close();
   * assert.equal(stream.closed(), true);
   * ```
   */
  closed(): boolean {
    return this.#closed;
  }

  /**
   * Whether a read is pending.
   *
   * @returns `true` between starting a read and its completion.
   *
   * @example A read waits for data
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using server = await listener.accept();
   * const read = stream.readBytes(2);
   * assert.equal(stream.reading(), true);
   * await server.write(new Uint8Array(2));
   * await read;
   * assert.equal(stream.reading(), false);
   * stream.close();
   * ```
   */
  reading(): boolean {
    return this.#rKind !== NONE;
  }

  /**
   * Whether written bytes are still on their way to the operating system.
   * Never once the stream is closed: its unfinished writes failed then.
   *
   * @returns `true` while a write is in progress.
   *
   * @example While a write is in progress
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using _server = await listener.accept();
   * const done = stream.write("hello");
   * assert.equal(stream.writing(), true);
   * await done;
   * assert.equal(stream.writing(), false);
   * stream.close();
   * ```
   */
  writing(): boolean {
    // #flushing stays set until a transport call cut short by close()
    // settles; no write waits for it any more.
    return this.#flushing && !this.#closed;
  }

  /**
   * Whether a read from the transport is in flight (which happens while a
   * read is pending, or while a close callback is set or the stream is
   * iterated and nothing is buffered).
   * A TLS upgrade is impossible while one is.
   *
   * @returns `true` while a transport read is outstanding.
   *
   * @example Idle streams do not read
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using _server = await listener.accept();
   * assert.equal(stream.readInFlight(), false);
   * stream.setCloseCallback(() => {});
   * assert.equal(stream.readInFlight(), true);
   * stream.close();
   * ```
   */
  readInFlight(): boolean {
    return this.#readInFlight;
  }

  /**
   * How many received bytes are buffered and not yet read.
   *
   * @returns The number of buffered bytes.
   *
   * @example Data left after a read stays buffered
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using server = await listener.accept();
   * await server.write(new TextEncoder().encode("a\nb\n"));
   * await stream.readUntil("\n");
   * assert.equal(stream.readBufferSize, 2);
   * stream.close();
   * ```
   */
  get readBufferSize(): number {
    return this.#rbuf.size;
  }

  /**
   * Turns Nagle's algorithm off (`true`) or on (`false`) where the
   * transport has it; a no-op elsewhere.
   *
   * @param _value `true` to send small writes at once.
   *
   * @example Streams without the option ignore it
   * ```ts
   * import { BaseIOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * class Null extends BaseIOStream {
   *   protected override readFromFd(): Promise<Uint8Array | null> {
   *     return Promise.resolve(null);
   *   }
   *   protected override writeToFd(d: Uint8Array): Promise<number> {
   *     return Promise.resolve(d.length);
   *   }
   *   protected override closeFd(): void {}
   * }
   * const stream = new Null();
   * stream.setNodelay(false);
   * assert.equal(stream.closed(), false);
   * ```
   */
  setNodelay(_value: boolean): void {}
}
