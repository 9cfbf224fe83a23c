// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import net from "node:net";
import {
  IOStream,
  StreamClosedError,
  type StreamOptions,
} from "../iostream/mod.ts";
import { TimeoutError } from "../concurrent/mod.ts";
import { StuckListener } from "./_libc.ts";
import { countingSignal } from "./_wait_helpers.ts";
import { fickleConnectOptions } from "./_fickle_options.ts";
import { type PairFactory, streamSuite } from "./_stream_suite.ts";

const tcpPair: PairFactory = async (options = {}) => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = listener.accept();
  const a = await IOStream.connect(listener.addr, options.a);
  const b = new IOStream(await accepting, options.b);
  listener.close();
  return {
    a,
    b,
    close: () => {
      a.close();
      b.close();
      return Promise.resolve();
    },
  };
};

const unixPair: PairFactory = async (options = {}) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const accepting = listener.accept();
  const a = await IOStream.connect({ transport: "unix", path }, options.a);
  const b = new IOStream(await accepting, options.b);
  listener.close();
  return {
    a,
    b,
    close: async () => {
      a.close();
      b.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
};

streamSuite("IOStream over TCP", tcpPair);
streamSuite("IOStream over a Unix socket", unixPair);

// A node:net peer, which can send a real RST with resetAndDestroy(): Deno's
// own close() sends FIN (shutdown(SHUT_WR) then close), never a bare reset.
async function nodePeer(
  onSocket: (sock: net.Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((sock) => {
    sockets.push(sock);
    sock.on("error", () => {});
    onSocket(sock);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

Deno.test("IOStream: a reset during a large write rejects it with StreamClosedError carrying the cause", async () => {
  const peer = await nodePeer((sock) => {
    sock.once("data", () => sock.resetAndDestroy());
  });
  const stream = await IOStream.connect({
    hostname: "127.0.0.1",
    port: peer.port,
  });
  try {
    const err = await stream.write(new Uint8Array(64 << 20)).then(
      () => null,
      (e) => e,
    );
    assert.ok(err instanceof StreamClosedError, String(err));
    assert.ok(
      err.realError instanceof Deno.errors.ConnectionReset ||
        err.realError instanceof Deno.errors.BrokenPipe,
      String(err.realError),
    );
    assert.equal(stream.closed(), true);
    assert.equal(stream.error, err.realError);
    await assert.rejects(stream.write("more"), StreamClosedError);
  } finally {
    stream.close();
    await peer.close();
  }
});

Deno.test("IOStream: a reset while reading surfaces once as realError; buffered data survives", async () => {
  const peer = await nodePeer((sock) => {
    sock.write(
      "hello-before-rst",
      () => setTimeout(() => sock.resetAndDestroy(), 20),
    );
  });
  const stream = await IOStream.connect({
    hostname: "127.0.0.1",
    port: peer.port,
  });
  try {
    const hello = await stream.readBytes(5);
    assert.equal(new TextDecoder().decode(hello), "hello");
    const err = await stream.readUntil("\n").then(() => null, (e) => e);
    assert.ok(err instanceof StreamClosedError);
    assert.ok(err.realError instanceof Deno.errors.ConnectionReset);
    assert.ok(stream.error instanceof Deno.errors.ConnectionReset);
    assert.equal(
      new TextDecoder().decode(await stream.readUntilClose()),
      "-before-rst",
    );
  } finally {
    stream.close();
    await peer.close();
  }
});

Deno.test("IOStream.connect() rejects with Deno's ConnectionRefused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    IOStream.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});

// The first connection a listener accepts is the one `probe` made: nothing
// else reached it before.
async function assertNoConnection(listener: Deno.TcpListener): Promise<void> {
  using probe = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  using first = await listener.accept();
  assert.equal(
    (first.remoteAddr as Deno.NetAddr).port,
    (probe.localAddr as Deno.NetAddr).port,
    "a connection reached the listener before the probe",
  );
}

Deno.test("IOStream.connect() gives up after its timeout on a connect that hangs", async () => {
  await using stuck = await StuckListener.open();
  const started = performance.now();
  await assert.rejects(
    IOStream.connect({ hostname: "127.0.0.1", port: stuck.port }, {
      timeout: 50,
    }),
    (err) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.message, "IOStream.connect() timed out after 50 ms");
      return true;
    },
  );
  const took = performance.now() - started;
  assert.ok(took >= 45, `gave up after ${took} ms`);
  // The op sanitizer fails this test if the connect were still under way.
});

Deno.test("IOStream.connect() gives up when its signal is aborted, with the reason", async () => {
  await using stuck = await StuckListener.open();
  const controller = new AbortController();
  const reason = new Error("user went away");
  const connecting = IOStream.connect(
    { hostname: "127.0.0.1", port: stuck.port },
    { signal: controller.signal, timeout: 60_000 },
  );
  setTimeout(() => controller.abort(reason), 20);
  await assert.rejects(connecting, (err) => err === reason);
});

Deno.test("IOStream.connect() with an aborted signal or a timeout <= 0 rejects without connecting", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const reason = new Error("already");
  await assert.rejects(
    IOStream.connect(listener.addr, { signal: AbortSignal.abort(reason) }),
    (err) => err === reason,
  );
  for (const timeout of [0, -5]) {
    await assert.rejects(
      IOStream.connect(listener.addr, { timeout }),
      {
        name: "TimeoutError",
        message: `IOStream.connect() timed out after ${timeout} ms`,
      },
    );
  }
  await assertNoConnection(listener);
});

Deno.test("IOStream.connect() with a timeout and a signal that never fire connects and drops both", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { controller, signal, listeners } = countingSignal();
  const accepting = listener.accept();
  using client = await IOStream.connect(listener.addr, {
    timeout: 10_000,
    signal,
    maxBufferSize: 64,
  });
  using server = new IOStream(await accepting);
  assert.equal(listeners(), 0, "the abort listener stays on the signal");
  await server.write("hi");
  assert.equal(new TextDecoder().decode(await client.readBytes(2)), "hi");
  // The limits still apply; the give-up options did not end up in them.
  await server.write(new Uint8Array(100));
  await assert.rejects(client.readBytes(100), {
    name: "UnsatisfiableReadError",
  });
  // Aborting later touches nothing: the stream is the caller's now.
  controller.abort();
  await client.write("still open");
  assert.equal(client.closed(), false);
  // The op sanitizer fails this test if the 10 s timer were still armed.
});

Deno.test("IOStream.connect() over a Unix socket takes a timeout too", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/s.sock`;
  using listener = Deno.listen({ transport: "unix", path });
  const accepting = listener.accept();
  using client = await IOStream.connect({ transport: "unix", path }, {
    timeout: 10_000,
  });
  using server = new IOStream(await accepting);
  await client.write("u");
  assert.equal(new TextDecoder().decode(await server.readBytes(1)), "u");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("IOStream.connect() rejects bad timeout and signal values before connecting", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const bad: [unknown, unknown, string, RegExp][] = [
    ["soon", undefined, "TypeError", /a connect timeout: expected a number/],
    [NaN, undefined, "RangeError", /a connect timeout: expected milliseconds/],
    [undefined, "stop", "TypeError", /Signal must be an AbortSignal/],
  ];
  for (const [timeout, signal, name, message] of bad) {
    await assert.rejects(
      IOStream.connect(listener.addr, { timeout, signal } as never),
      { name, message },
    );
  }
  await assertNoConnection(listener);
});

Deno.test("IOStream turns Nagle off by default and setNodelay(false) turns it back on", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  using _server = await listener.accept();
  const calls: Array<boolean | undefined> = [];
  const original = conn.setNoDelay.bind(conn);
  conn.setNoDelay = (v?: boolean) => {
    calls.push(v);
    original(v);
  };
  const stream = new IOStream(conn);
  assert.deepEqual(calls, [true]);
  stream.setNodelay(false);
  stream.setNodelay(true);
  assert.deepEqual(calls, [true, false, true]);
  stream.close();
  stream.setNodelay(false); // closed: a no-op, no BadResource
  assert.deepEqual(calls, [true, false, true]);
});

Deno.test("IOStream on a Unix socket ignores setNodelay()", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/n.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const stream = await IOStream.connect({ transport: "unix", path });
  const server = await listener.accept();
  stream.setNodelay(false);
  stream.setNodelay(true);
  assert.equal(stream.closed(), false);
  stream.close();
  server.close();
  listener.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("IOStream: a pending read is only kept in flight while someone waits or listens", async () => {
  const { a, b, close } = await tcpPair();
  try {
    assert.equal(a.readInFlight(), false);
    const r = a.readBytes(1);
    assert.equal(a.readInFlight(), true);
    await b.write("x");
    await r;
    assert.equal(a.readInFlight(), false);
    a.setCloseCallback(() => {});
    assert.equal(a.readInFlight(), true);
  } finally {
    await close();
  }
});

Deno.test("IOStream: a for await that fails at once (a read was pending) leaves no iterator listening; a refused next() ends nothing", async () => {
  const { a, b, close } = await tcpPair();
  try {
    const pending = a.readBytes(3);
    await assert.rejects(
      async () => {
        for await (const _ of a) assert.fail("no chunk expected");
      },
      /another read is pending: readBytes/,
    );
    await b.write("abc");
    assert.equal(new TextDecoder().decode(await pending), "abc");
    // Nobody waits or listens now: no transport read may stay in flight
    // (it would also make startTls() refuse for good).
    assert.equal(a.readInFlight(), false);
    await b.write("def");
    assert.equal(new TextDecoder().decode(await a.readBytes(3)), "def");
    assert.equal(a.readInFlight(), false);
    // A refused next() does not end an iterator: retried later, or refused
    // because the iterator's own next() is still pending, it goes on.
    const it = a[Symbol.asyncIterator]();
    const other = a.readBytes(1);
    await assert.rejects(it.next(), /another read is pending/);
    await b.write("g");
    await other;
    const first = it.next();
    await assert.rejects(
      it.next(),
      /another read is pending: an async iterator's next\(\)/,
    );
    await b.write("hi");
    assert.equal(new TextDecoder().decode((await first).value), "hi");
    const second = it.next();
    await b.write("jk");
    assert.equal(new TextDecoder().decode((await second).value), "jk");
    await it.return!();
    await b.write("z");
    assert.equal(new TextDecoder().decode(await a.readBytes(1)), "z");
  } finally {
    await close();
  }
});

Deno.test("IOStream: a for await thrown out of by a later refused next() leaves no iterator listening", async () => {
  const { a, b, close } = await tcpPair();
  try {
    await b.write("ab");
    let started: Promise<Uint8Array> | undefined;
    await assert.rejects(
      async () => {
        for await (const chunk of a) {
          assert.equal(new TextDecoder().decode(chunk), "ab");
          started = a.readBytes(1); // the loop body reads on its own
        }
      },
      /another read is pending: readBytes/,
    );
    await b.write("x");
    assert.equal(new TextDecoder().decode(await started!), "x");
    // The loop is over and nobody reads: no transport read stays in flight.
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(a.readInFlight(), false);
    await b.write("y");
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(a.readBufferSize, 0, "nothing read ahead");
    assert.equal(new TextDecoder().decode(await a.readBytes(1)), "y");
  } finally {
    await close();
  }
});

Deno.test("IOStream: readInto() after a read left bytes buffered still reads straight into the buffer", async () => {
  // A header line, then a body larger than maxBufferSize read with
  // readInto(): the bytes that came with the header must not make the rest
  // of the body go through (and overflow) the stream's own buffer.
  const { a, b, close } = await tcpPair({ a: { maxBufferSize: 65536 } });
  try {
    const body = new Uint8Array(300000).map((_, i) => i * 13);
    const head = new TextEncoder().encode("LENGTH 300000\n");
    const first = new Uint8Array(head.length + 1000);
    first.set(head);
    first.set(body.subarray(0, 1000), head.length);
    await b.write(first);
    assert.equal(
      new TextDecoder().decode(await a.readUntil("\n")),
      "LENGTH 300000\n",
    );
    const target = new Uint8Array(body.length);
    const reading = a.readInto(target);
    await b.write(body.subarray(1000));
    assert.equal(await reading, body.length);
    assert.deepEqual(target, body);
    assert.equal(a.readBufferSize, 0);
  } finally {
    await close();
  }
});

Deno.test("IOStream rejects bad options with RangeError or TypeError", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  using _server = await listener.accept();
  const bad: StreamOptions[] = [
    { maxBufferSize: 0 },
    { readChunkSize: -5 },
    { maxWriteBufferSize: -1 },
    { readChunkSize: 1.5 },
  ];
  for (const o of bad) assert.throws(() => new IOStream(conn, o), RangeError);
  assert.throws(
    () => new IOStream(conn, { maxBufferSize: "1" as unknown as number }),
    TypeError,
  );
  assert.throws(() => new IOStream(conn, null as unknown as StreamOptions), {
    name: "TypeError",
    message: "Stream options must be an object, got null",
  });
});

Deno.test("IOStream: a using declaration closes the stream once, even if closed already", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let calls = 0;
  let stream: IOStream;
  const accepting = listener.accept();
  {
    using s = await IOStream.connect(listener.addr);
    stream = s;
    s.setCloseCallback(() => calls++);
    s.close(new Error("closed early"));
  }
  stream[Symbol.dispose]();
  using server = new IOStream(await accepting);
  await assert.rejects(server.readBytes(1), StreamClosedError);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(calls, 1);
  assert.equal(stream.error?.message, "closed early", "dispose kept the error");
  {
    using open = await IOStream.connect(listener.addr);
    stream = open;
    using _peer = await listener.accept();
  }
  assert.equal(stream.closed(), true);
  assert.equal(stream.error, null);
});

Deno.test("IOStream.connect() reads each option once and connects with the values it read", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { options, overRead } = fickleConnectOptions();
  const accepting = listener.accept();
  using client = await IOStream.connect(listener.addr, options);
  using server = new IOStream(await accepting);
  assert.deepEqual(overRead(), []);
  // The maxBufferSize read applies.
  await server.write(new Uint8Array(100));
  await assert.rejects(client.readBytes(100), {
    name: "UnsatisfiableReadError",
  });
});
