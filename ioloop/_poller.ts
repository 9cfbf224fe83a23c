// Copyright the squall authors. MIT license.

/**
 * File-descriptor readiness for the IOLoop: `poll(2)` from libc through
 * `Deno.dlopen`, with exactly one outstanding nonblocking call per poller.
 * Private to squall.
 *
 * Deno runs each pending `nonblocking` FFI call on a thread of a pool that
 * it shares with async file-system work and DNS, capped at 32 threads. One
 * call per watched fd would starve those, so a poller keeps a single
 * `poll()` over every fd plus the read end of a self-pipe: when the set of
 * fds changes, or the poller closes, one byte on the pipe makes the pending
 * call return so it can be issued again with the new set.
 */

import { ERROR, READ, WRITE } from "./constants.ts";

const POLLIN = 0x001;
const POLLPRI = 0x002;
const POLLOUT = 0x004;
const POLLERR = 0x008;
const POLLHUP = 0x010;
const POLLNVAL = 0x020;

/** Bytes in one `struct pollfd` (int fd; short events; short revents). */
const POLLFD_SIZE = 8;

const SYMBOLS = {
  poll: {
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  pipe: { parameters: ["buffer"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>;

const F_GETFD = 1;
/** Consecutive failed poll() calls after which polling pauses. */
const MAX_FAILURES = 16;

/**
 * Counters over every poller of the process, so tests can prove there is
 * never more than one outstanding `poll()` per poller.
 */
export const pollerStats = {
  /** `poll()` calls issued so far. */
  calls: 0,
  /** `poll()` calls pending right now. */
  outstanding: 0,
  /** The largest value `outstanding` ever had. */
  maxOutstanding: 0,
};

let idleWaiters: (() => void)[] = [];

/**
 * Resolves once no `poll()` call of any poller is pending, e.g. right after
 * the call that `IOLoop.close()` woke has returned. For tests that end just
 * after a close and must pass the op sanitizer.
 */
export function pollersIdle(): Promise<void> {
  if (pollerStats.outstanding === 0) return Promise.resolve();
  return new Promise((resolve) => idleWaiters.push(resolve));
}

function settledOne(): void {
  pollerStats.outstanding--;
  if (pollerStats.outstanding === 0 && idleWaiters.length > 0) {
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** The libc to open on this platform, or an error saying why there is none. */
function libcPath(): string {
  switch (Deno.build.os) {
    case "linux":
      return "libc.so.6";
    case "darwin":
      return "/usr/lib/libSystem.B.dylib";
    case "windows":
      throw new Error(
        "IOLoop.addHandler is not supported on Windows: it needs poll(2) from libc",
      );
    default:
      return "libc.so";
  }
}

function openLibc(): Libc {
  const path = libcPath();
  try {
    return Deno.dlopen(path, SYMBOLS);
  } catch (err) {
    if (
      err instanceof Deno.errors.NotCapable ||
      err instanceof Deno.errors.PermissionDenied
    ) {
      throw new Error(
        "IOLoop.addHandler needs FFI access to call poll(2) from libc: run with --allow-ffi",
        { cause: err },
      );
    }
    throw new Error(`Cannot open "${path}" to watch file descriptors`, {
      cause: err,
    });
  }
}

/** Maps IOLoop interest bits to `poll(2)` request bits. */
function toPollEvents(events: number): number {
  let bits = 0;
  if (events & READ) bits |= POLLIN | POLLPRI;
  if (events & WRITE) bits |= POLLOUT;
  return bits;
}

/** Maps `poll(2)` result bits to IOLoop event bits. */
function fromPollEvents(revents: number): number {
  let events = 0;
  if (revents & (POLLIN | POLLPRI)) events |= READ;
  if (revents & POLLOUT) events |= WRITE;
  if (revents & (POLLERR | POLLHUP | POLLNVAL)) events |= ERROR;
  return events;
}

interface Registration {
  fd: number;
  events: number;
}

/** Called with an fd and the IOLoop event bits it is ready for. */
export type ReadyCallback = (fd: number, events: number) => void;

/** One loop's readiness watcher. */
export class Poller {
  readonly #lib: Libc;
  readonly #onReady: ReadyCallback;
  readonly #onFailure: (err: Error) => void;
  #failures = 0;
  readonly #wakeRead: number;
  readonly #wakeWrite: number;
  readonly #regs = new Map<number, Registration>();
  readonly #byte = new Uint8Array(64);
  #pending = false;
  #startQueued = false;
  #wakeSent = false;
  #closed = false;

  /** Opens libc and the self-pipe; throws a clear `Error` if it cannot. */
  constructor(onReady: ReadyCallback, onFailure: (err: Error) => void) {
    const lib = openLibc();
    const fds = new Int32Array(2);
    if (lib.symbols.pipe(new Uint8Array(fds.buffer)) !== 0) {
      lib.close();
      throw new Error(
        "Cannot create the IOLoop's wake-up pipe: pipe(2) failed",
      );
    }
    this.#lib = lib;
    this.#onReady = onReady;
    this.#onFailure = onFailure;
    this.#wakeRead = fds[0]!;
    this.#wakeWrite = fds[1]!;
  }

  /** Whether `fd` is an open descriptor of this process. */
  isOpen(fd: number): boolean {
    return this.#lib.symbols.fcntl(fd, F_GETFD) !== -1;
  }

  /** Closes a raw descriptor with libc's `close(2)`. */
  closeFd(fd: number): void {
    this.#lib.symbols.close(fd);
  }

  /** Starts watching `fd` for `events`, or changes what it is watched for. */
  set(fd: number, events: number): void {
    const reg = this.#regs.get(fd);
    if (reg !== undefined) reg.events = events;
    else this.#regs.set(fd, { fd, events });
    this.#changed();
  }

  /** Stops watching `fd`. */
  delete(fd: number): void {
    if (this.#regs.delete(fd)) this.#changed();
  }

  /**
   * Stops watching everything. A `poll()` still pending is woken and, once
   * it returns, the self-pipe and the library are closed.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#regs.clear();
    if (this.#pending) this.#wake();
    else this.#release();
  }

  #release(): void {
    this.#lib.symbols.close(this.#wakeRead);
    this.#lib.symbols.close(this.#wakeWrite);
    this.#lib.close();
  }

  #changed(): void {
    this.#failures = 0;
    if (this.#pending) {
      this.#wake();
    } else if (!this.#startQueued) {
      // Coalesce the changes of one synchronous run into one poll() call.
      this.#startQueued = true;
      queueMicrotask(() => {
        this.#startQueued = false;
        if (!this.#pending && !this.#closed) this.#poll();
      });
    }
  }

  #wake(): void {
    if (this.#wakeSent) return;
    this.#wakeSent = true;
    this.#byte[0] = 1;
    this.#lib.symbols.write(this.#wakeWrite, this.#byte, 1n);
  }

  #poll(): void {
    const regs = [...this.#regs.values()];
    if (regs.length === 0) return;
    const n = regs.length + 1;
    const buffer = new ArrayBuffer(n * POLLFD_SIZE);
    const fds = new Int32Array(buffer);
    const shorts = new Int16Array(buffer);
    fds[0] = this.#wakeRead;
    shorts[2] = POLLIN;
    for (let i = 0; i < regs.length; i++) {
      const reg = regs[i]!;
      fds[2 * (i + 1)] = reg.fd;
      shorts[4 * (i + 1) + 2] = toPollEvents(reg.events);
    }
    this.#pending = true;
    pollerStats.calls++;
    pollerStats.outstanding++;
    if (pollerStats.outstanding > pollerStats.maxOutstanding) {
      pollerStats.maxOutstanding = pollerStats.outstanding;
    }
    const call = this.#lib.symbols.poll(new Uint8Array(buffer), BigInt(n), -1);
    call.then(
      (result) => this.#settled(result, regs, shorts),
      () => this.#settled(-1, regs, shorts),
    );
  }

  #settled(result: number, regs: Registration[], shorts: Int16Array): void {
    this.#pending = false;
    settledOne();
    if (this.#wakeSent && (shorts[3]! & POLLIN)) {
      this.#lib.symbols.read(
        this.#wakeRead,
        this.#byte,
        BigInt(this.#byte.length),
      );
      this.#wakeSent = false;
    }
    if (this.#closed) {
      this.#release();
      return;
    }
    if (result < 0) {
      // EINTR is worth a retry; a poll() that keeps failing (e.g. more fds
      // than RLIMIT_NOFILE allows) would spin: pause until the set changes.
      if (++this.#failures >= MAX_FAILURES) {
        this.#onFailure(
          new Error(
            `poll(2) failed ${MAX_FAILURES} times in a row: watching file descriptors is paused until the set of watched fds changes`,
          ),
        );
        return;
      }
    } else {
      this.#failures = 0;
    }
    if (result > 0) {
      for (let i = 0; i < regs.length; i++) {
        const revents = shorts[4 * (i + 1) + 3]!;
        if (revents === 0) continue;
        const reg = regs[i]!;
        // Skip fds removed, or removed and added again, by an earlier
        // handler of this round; report only what is still asked for.
        if (this.#regs.get(reg.fd) !== reg) continue;
        if (revents & POLLNVAL) {
          // The fd was closed while watched: poll() would report it at once,
          // forever. Report ERROR once and stop polling it.
          this.#regs.delete(reg.fd);
        }
        const events = fromPollEvents(revents) & (reg.events | ERROR);
        if (events !== 0) this.#onReady(reg.fd, events);
        // A handler that closed the poller has released it already.
        if (this.#closed) return;
      }
    }
    if (!this.#pending && !this.#startQueued) this.#poll();
  }
}
