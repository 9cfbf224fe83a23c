// Copyright the squall authors. MIT license.

/**
 * Event bit: the file descriptor is readable (`POLLIN`/`POLLPRI`).
 *
 * @example Watch for input
 * ```ts
 * import { READ, WRITE } from "@squall/io/ioloop";
 * import assert from "node:assert/strict";
 *
 * assert.equal(READ | WRITE, 0x005);
 * ```
 */
export const READ = 0x001;

/**
 * Event bit: the file descriptor is writable (`POLLOUT`).
 *
 * @example Test an event mask
 * ```ts
 * import { WRITE } from "@squall/io/ioloop";
 * import assert from "node:assert/strict";
 *
 * const events = WRITE;
 * assert.ok(events & WRITE);
 * ```
 */
export const WRITE = 0x004;

/**
 * Event bit: an error or hang-up on the file descriptor (`POLLERR`,
 * `POLLHUP`, `POLLNVAL`). Always reported, whether or not it was asked for.
 *
 * @example Tell a hang-up from data
 * ```ts
 * import { ERROR, READ } from "@squall/io/ioloop";
 * import assert from "node:assert/strict";
 *
 * const events = READ | ERROR;
 * assert.ok(events & ERROR);
 * ```
 */
export const ERROR = 0x008;

/**
 * A raw OS file descriptor, or an object that owns one (Tornado's
 * "file-like object with a `fileno()` method").
 *
 * @example Wrap a descriptor
 * ```ts
 * import type { Fd } from "@squall/io/ioloop";
 * import assert from "node:assert/strict";
 *
 * const fd: Fd = { fileno: () => 0 };
 * assert.equal(typeof fd === "number" ? fd : fd.fileno(), 0);
 * ```
 */
export type Fd = number | { fileno(): number };

/**
 * What {@linkcode IOLoop.addTimeout}, `callLater` and `callAt` return: pass
 * it to `removeTimeout` to cancel the call. Otherwise opaque.
 *
 * @example Cancel a timeout
 * ```ts
 * import { IOLoop } from "@squall/io/ioloop";
 * import assert from "node:assert/strict";
 *
 * const loop = new IOLoop({ makeCurrent: false });
 * const handle = loop.callLater(10, () => assert.fail("cancelled"));
 * assert.equal(typeof handle.deadline, "number");
 * loop.removeTimeout(handle);
 * loop.close();
 * ```
 */
export interface TimeoutHandle {
  /** When the call is due, on the loop's `time()` clock (ms). */
  readonly deadline: number;
}
