// Copyright the squall authors. MIT license.

/** Test helper: pipes and raw fd I/O through libc, for IOLoop handler tests. */

const LIBC = Deno.build.os === "darwin"
  ? "/usr/lib/libSystem.B.dylib"
  : "libc.so.6";

/** libc's pipe/read/write/close, opened on demand and closed with `close()`. */
export class Libc implements Disposable {
  readonly #lib = Deno.dlopen(
    LIBC,
    {
      pipe: { parameters: ["buffer"], result: "i32" },
      read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
      write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
      close: { parameters: ["i32"], result: "i32" },
    } as const,
  );

  /** Returns `[readFd, writeFd]` of a new pipe. */
  pipe(): [number, number] {
    const fds = new Int32Array(2);
    if (this.#lib.symbols.pipe(new Uint8Array(fds.buffer)) !== 0) {
      throw new Error("pipe() failed");
    }
    return [fds[0]!, fds[1]!];
  }

  /** Writes `text` to `fd`, returning the byte count. */
  write(fd: number, text: string | Uint8Array): number {
    const bytes = typeof text === "string"
      ? new TextEncoder().encode(text)
      : text;
    return Number(this.#lib.symbols.write(fd, bytes, BigInt(bytes.length)));
  }

  /** Reads up to `max` bytes from `fd` as text. */
  read(fd: number, max = 4096): string {
    const buf = new Uint8Array(max);
    const n = Number(this.#lib.symbols.read(fd, buf, BigInt(max)));
    if (n < 0) throw new Error(`read(${fd}) failed`);
    return new TextDecoder().decode(buf.subarray(0, n));
  }

  /** Closes `fd`; returns libc's result (0 or -1). */
  closeFd(fd: number): number {
    return this.#lib.symbols.close(fd);
  }

  /** Closes the library. */
  close(): void {
    this.#lib.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A TCP listener on 127.0.0.1 whose accept queue is full and never drained
 * (`listen(fd, 0)` plus one connection nobody accepts): the kernel drops
 * every further SYN, so a connect to `port` waits as one to a host that
 * never answers would, for minutes. Linux only.
 */
export class StuckListener implements AsyncDisposable {
  readonly #lib = Deno.dlopen(
    LIBC,
    {
      socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
      bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
      listen: { parameters: ["i32", "i32"], result: "i32" },
      getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
    } as const,
  );
  readonly #fd: number;
  #filler: Deno.Conn | null = null;
  /** The port connects hang on. */
  readonly port: number;

  private constructor() {
    const { socket, bind, listen, getsockname } = this.#lib.symbols;
    const fd = socket(2, /* AF_INET */ 1, /* SOCK_STREAM */ 0);
    if (fd < 0) throw new Error("socket() failed");
    this.#fd = fd;
    // struct sockaddr_in for 127.0.0.1, port 0 (any free one)
    const addr = new Uint8Array([2, 0, 0, 0, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const sa = new Uint8Array(16);
    sa.set(addr);
    const len = new Uint32Array([16]);
    if (
      bind(fd, sa, 16) !== 0 || listen(fd, 0) !== 0 ||
      getsockname(fd, sa, new Uint8Array(len.buffer)) !== 0
    ) {
      this.#closeFd();
      throw new Error("bind(), listen() or getsockname() failed");
    }
    this.port = (sa[2]! << 8) | sa[3]!;
  }

  /** Opens the listener and fills its queue. */
  static async open(): Promise<StuckListener> {
    const listener = new StuckListener();
    try {
      listener.#filler = await Deno.connect({
        hostname: "127.0.0.1",
        port: listener.port,
      });
    } catch (err) {
      listener.#closeFd();
      throw err;
    }
    return listener;
  }

  #closeFd(): void {
    this.#lib.symbols.close(this.#fd);
    this.#lib.close();
  }

  /** Closes the filler connection and the listener. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#filler?.close();
    this.#closeFd();
    return Promise.resolve();
  }
}

/**
 * Connects to 127.0.0.1:`port` and resets the connection at once (SO_LINGER
 * 0, then close), all synchronously: run in one turn of the event loop, the
 * connection is reset while it still waits in the server's accept queue,
 * before any `accept()` op can take it. Linux only.
 */
export function resetInAcceptQueue(port: number, count = 1): void {
  const lib = Deno.dlopen(
    LIBC,
    {
      socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
      connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
      setsockopt: {
        parameters: ["i32", "i32", "i32", "buffer", "u32"],
        result: "i32",
      },
      close: { parameters: ["i32"], result: "i32" },
    } as const,
  );
  const { socket, connect, setsockopt, close } = lib.symbols;
  // struct sockaddr_in for 127.0.0.1:port (port in network byte order)
  const sa = new Uint8Array([2, 0, port >> 8, port & 0xff, 127, 0, 0, 1]);
  const addr = new Uint8Array(16);
  addr.set(sa);
  // struct linger { l_onoff = 1; l_linger = 0 }: close() sends RST
  const linger = new Uint8Array(new Int32Array([1, 0]).buffer);
  try {
    for (let i = 0; i < count; i++) {
      const fd = socket(2, /* AF_INET */ 1, /* SOCK_STREAM */ 0);
      if (fd < 0) throw new Error("socket() failed");
      try {
        if (connect(fd, addr, 16) !== 0) throw new Error("connect() failed");
        // SOL_SOCKET = 1, SO_LINGER = 13
        if (setsockopt(fd, 1, 13, linger, 8) !== 0) {
          throw new Error("setsockopt(SO_LINGER) failed");
        }
      } finally {
        close(fd);
      }
    }
  } finally {
    lib.close();
  }
}
