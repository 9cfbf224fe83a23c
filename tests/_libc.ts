// Copyright the squall authors. MIT license.

/** Test helper: pipes and raw fd I/O through libc, for IOLoop handler tests. */

const lib = Deno.build.os === "darwin"
  ? "/usr/lib/libSystem.B.dylib"
  : "libc.so.6";

/** libc's pipe/read/write/close, opened on demand and closed with `close()`. */
export class Libc implements Disposable {
  readonly #lib = Deno.dlopen(
    lib,
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
