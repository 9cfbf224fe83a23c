// Copyright the squall authors. MIT license.

/**
 * Options for {@linkcode StreamClosedError}.
 *
 * @example Keep the cause
 * ```ts
 * import { StreamClosedError } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * const cause = new Deno.errors.BrokenPipe("peer gone");
 * assert.equal(new StreamClosedError({ realError: cause }).cause, cause);
 * ```
 */
export interface StreamClosedErrorOptions extends ErrorOptions {
  /** What made the stream close (e.g. a `Deno.errors.ConnectionReset`). */
  realError?: unknown;
}

/**
 * Raised by reads and writes on a stream that is closed, or closes while
 * they wait. `realError` carries the cause, such as a connection reset, when
 * there is one.
 *
 * Tornado's `tornado.iostream.StreamClosedError`.
 *
 * @example Tell a reset from a clean close
 * ```ts
 * import { StreamClosedError } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * const reset = new Deno.errors.ConnectionReset("reset by peer");
 * const err = new StreamClosedError({ realError: reset });
 * assert.equal(err.name, "StreamClosedError");
 * assert.equal(err.realError, reset);
 * assert.equal(new StreamClosedError().realError, undefined);
 * ```
 */
export class StreamClosedError extends Error {
  /** The error that closed the stream, if any. */
  realError?: unknown;

  /**
   * Constructs a new {@linkcode StreamClosedError}.
   *
   * @param options `realError`: why the stream closed; `cause` as usual.
   */
  constructor(options: StreamClosedErrorOptions = {}) {
    const { realError, ...rest } = options;
    super(
      realError === undefined
        ? "Stream is closed"
        : `Stream is closed: ${describe(realError)}`,
      realError !== undefined && rest.cause === undefined
        ? { cause: realError }
        : rest,
    );
    this.name = "StreamClosedError";
    if (realError !== undefined) this.realError = realError;
  }
}

/**
 * Raised when a read cannot be satisfied within its limits. When the peer's
 * data breaks the limit (the delimiter of `readUntil` does not occur within
 * `maxBytes`), the stream is closed. A request that could never be met
 * (`readBytes(n)` with `n` over `maxBufferSize`) is refused at once instead,
 * and the stream stays open.
 *
 * Tornado's `tornado.iostream.UnsatisfiableReadError`.
 *
 * @example Recognise the error
 * ```ts
 * import { UnsatisfiableReadError } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * const err: unknown = new UnsatisfiableReadError("too long");
 * assert.ok(err instanceof UnsatisfiableReadError);
 * assert.equal((err as Error).name, "UnsatisfiableReadError");
 * ```
 */
export class UnsatisfiableReadError extends Error {
  /**
   * Constructs a new {@linkcode UnsatisfiableReadError}.
   *
   * @param message Which limit was hit.
   * @param options The standard `cause` option.
   */
  constructor(message = "Read cannot be satisfied", options?: ErrorOptions) {
    super(message, options);
    this.name = "UnsatisfiableReadError";
  }
}

/**
 * Raised when a buffer limit is exceeded: more than `maxBufferSize` bytes
 * buffered for reading (the stream closes), or a write that would queue more
 * than `maxWriteBufferSize` bytes (the write fails, the stream stays usable).
 *
 * Tornado's `tornado.iostream.StreamBufferFullError`.
 *
 * @example Recognise the error
 * ```ts
 * import { StreamBufferFullError } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * const err = new StreamBufferFullError("write buffer full");
 * assert.equal(err.name, "StreamBufferFullError");
 * assert.equal(err.message, "write buffer full");
 * ```
 */
export class StreamBufferFullError extends Error {
  /**
   * Constructs a new {@linkcode StreamBufferFullError}.
   *
   * @param message Which buffer is full.
   * @param options The standard `cause` option.
   */
  constructor(message = "Stream buffer is full", options?: ErrorOptions) {
    super(message, options);
    this.name = "StreamBufferFullError";
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
