// deno run --allow-ffi examples/fd_watch.ts
//
// Watches a raw OS pipe, made with libc's pipe(2) through FFI, with
// IOLoop.addHandler: the handler runs each time the read end becomes
// readable, and sees ERROR once the write end is closed.
import { ERROR, type Fd, IOLoop, READ } from "../ioloop/mod.ts";

const libc = Deno.dlopen(
  Deno.build.os === "darwin" ? "/usr/lib/libSystem.B.dylib" : "libc.so.6",
  {
    pipe: { parameters: ["buffer"], result: "i32" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
  } as const,
);

const fds = new Int32Array(2);
if (libc.symbols.pipe(new Uint8Array(fds.buffer)) !== 0) {
  throw new Error("pipe() failed");
}
const [readFd, writeFd] = [fds[0]!, fds[1]!];

const loop = IOLoop.current();
const buffer = new Uint8Array(256);

function onReadable(fd: Fd, events: number): void {
  const n = Number(libc.symbols.read(fd as number, buffer, 256n));
  if (n > 0) {
    console.log(`read: ${new TextDecoder().decode(buffer.subarray(0, n))}`);
    return;
  }
  // read() == 0: end of file, the writer is gone (poll reports a hang-up).
  console.log(`end of pipe (ERROR reported: ${(events & ERROR) !== 0})`);
  loop.removeHandler(fd);
  loop.stop();
}

loop.addHandler(readFd, onReadable, READ);

// The writer: three messages 50 ms apart, then it closes its end.
for (let i = 1; i <= 3; i++) {
  loop.callLater(50 * i, () => {
    const bytes = new TextEncoder().encode(`message ${i}`);
    libc.symbols.write(writeFd, bytes, BigInt(bytes.length));
  });
}
loop.callLater(200, () => libc.symbols.close(writeFd));

await loop.start();
loop.close();
libc.symbols.close(readFd);
libc.close();
console.log("done");
