import assert from "node:assert/strict";
import {
  IOStream,
  SSLIOStream,
  StreamBufferFullError,
  StreamClosedError,
  TCPServer,
  type TCPServerCloseOptions,
  type TCPServerListenOptions,
} from "@squall/io/iostream";
import { IOLoop } from "@squall/io/ioloop";
import { resetInAcceptQueue } from "./_libc.ts";
import { fickleOptions } from "./_fickle_options.ts";

const HOST = "127.0.0.1";
const testdata = new URL("./testdata/", import.meta.url);
const readPem = (name: string) => Deno.readTextFile(new URL(name, testdata));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function portOf(addr: Deno.Addr): number {
  assert.equal(addr.transport, "tcp");
  return (addr as Deno.NetAddr).port;
}

function connect(port: number): Promise<IOStream> {
  return IOStream.connect({ hostname: HOST, port });
}

/** Collects what reaches the current IOLoop's error handler. */
function captureReports(): {
  reports: Array<[unknown, string]>;
  [Symbol.dispose](): void;
} {
  const reports: Array<[unknown, string]> = [];
  const loop = new IOLoop({
    onError: (err, where) => reports.push([err, where]),
  });
  return {
    reports,
    [Symbol.dispose]: () => {
      loop.close();
      IOLoop.clearCurrent();
    },
  };
}

async function echoLine(stream: IOStream): Promise<void> {
  const line = await stream.readUntil("\n");
  await stream.write(line);
  stream.close();
}

Deno.test("TCPServer with a handler serves on port 0 and reports the real port", async () => {
  const seen: Deno.Addr[] = [];
  const server = new TCPServer({
    handler(stream, address) {
      seen.push(address);
      return echoLine(stream);
    },
  });
  const addr = server.listen({ port: 0, hostname: HOST });
  assert.equal(addr.transport, "tcp");
  assert.ok(addr.port > 0);
  assert.deepEqual(server.addrs, [addr]);

  const client = await connect(addr.port);
  await client.write("hello\n");
  assert.equal(text(await client.readUntil("\n")), "hello\n");
  client.close();
  await server.close();
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.transport, "tcp");
  assert.equal((seen[0] as Deno.NetAddr).hostname, HOST);
  assert.deepEqual(server.addrs, []);
});

Deno.test("TCPServer subclass overriding handleStream serves with listen(port, hostname)", async () => {
  class Upper extends TCPServer {
    override async handleStream(stream: IOStream): Promise<void> {
      const line = await stream.readUntil("\n");
      await stream.write(text(line).toUpperCase());
      stream.close();
    }
  }
  const server = new Upper();
  const { port } = server.listen(0, HOST);
  const client = await connect(port);
  await client.write("shout\n");
  assert.equal(text(await client.readUntilClose()), "SHOUT\n");
  client.close();
  await server.close();
});

Deno.test("TCPServer listens on a Unix socket path", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/squall.sock`;
  try {
    const server = new TCPServer({ handler: echoLine });
    const addr = server.listen({ path });
    assert.deepEqual(addr, { transport: "unix", path });
    const client = await IOStream.connect({ transport: "unix", path });
    await client.write("over unix\n");
    assert.equal(text(await client.readUntil("\n")), "over unix\n");
    client.close();
    await server.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Leaves a socket file at `path` the way a crashed server does. */
async function leaveStaleSocket(path: string): Promise<void> {
  // Deno removes the file when a listener closes, but not when the process
  // exits without closing it (Deno.exit, a crash, SIGKILL).
  const script = `Deno.listen({ transport: "unix", path: ${
    JSON.stringify(path)
  } }); Deno.exit(0);`;
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "null",
    stderr: "null",
  }).output();
  assert.equal(code, 0);
  assert.equal(Deno.lstatSync(path).isSocket, true);
}

Deno.test("TCPServer.listen({ path }) replaces a stale socket file and removes its own on close", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/stale.sock`;
  try {
    await leaveStaleSocket(path);
    // Nothing listens there: plain Deno.listen fails with AddrInUse.
    await assert.rejects(
      Deno.connect({ transport: "unix", path }),
      Deno.errors.ConnectionRefused,
    );
    assert.throws(
      () => Deno.listen({ transport: "unix", path }),
      Deno.errors.AddrInUse,
    );
    const server = new TCPServer({ handler: echoLine });
    assert.deepEqual(server.listen({ path }), { transport: "unix", path });
    const client = await IOStream.connect({ transport: "unix", path });
    await client.write("fresh\n");
    assert.equal(text(await client.readUntil("\n")), "fresh\n");
    client.close();
    await server.close();
    assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TCPServer.listen({ path }) refuses a path that is not a socket and leaves it alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const server = new TCPServer({ handler: echoLine });
    const file = `${dir}/data.txt`;
    await Deno.writeTextFile(file, "precious");
    assert.throws(() => server.listen({ path: file }), {
      name: "Error",
      message: `Cannot listen on ${file}: it exists and is not a socket`,
    });
    assert.equal(await Deno.readTextFile(file), "precious");

    const sub = `${dir}/subdir`;
    await Deno.mkdir(sub);
    await Deno.writeTextFile(`${sub}/inside`, "kept");
    assert.throws(
      () => server.listen({ path: sub }),
      /Cannot listen on .*subdir: it exists and is not a socket/,
    );
    assert.equal(await Deno.readTextFile(`${sub}/inside`), "kept");

    // A symlink is not a socket either, even one pointing at a socket.
    const target = `${dir}/target.sock`;
    await leaveStaleSocket(target);
    const link = `${dir}/link.sock`;
    await Deno.symlink(target, link);
    assert.throws(() => server.listen({ path: link }), /is not a socket/);
    assert.equal(Deno.lstatSync(link).isSymlink, true);
    assert.equal(Deno.lstatSync(target).isSocket, true);

    assert.deepEqual(server.addrs, []);
    await server.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TCPServer.addListener accepts on a listener the caller made and closes it on stop()", async () => {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const server = new TCPServer({ handler: echoLine });
  server.addListener(listener);
  assert.deepEqual(server.addrs, [listener.addr]);
  assert.throws(() => server.addListener(listener), /already added/);

  const client = await connect(portOf(listener.addr));
  await client.write("mine\n");
  assert.equal(text(await client.readUntil("\n")), "mine\n");
  client.close();
  server.stop();
  assert.throws(() => listener.close(), Deno.errors.BadResource);
  await server.close();
});

/** A TLS server whose handler only counts its calls (none expected). */
function countingTlsServer(cert: string, key: string) {
  let calls = 0;
  const server = new TCPServer({ cert, key, handler: () => void calls++ });
  return { server, calls: () => calls };
}

Deno.test("TCPServer with cert and key never serves a connection in plain text", async (t) => {
  const [cert, key] = await Promise.all(
    ["server.crt", "server.key"].map(readPem),
  );
  await t.step("addListener() refuses a plain listener", async () => {
    const server = new TCPServer({ cert: cert!, key: key!, handler: echoLine });
    using tcp = Deno.listen({ hostname: HOST, port: 0 });
    assert.throws(() => server.addListener(tcp), {
      name: "TypeError",
      message:
        /serves TLS only, and the listener is not a Deno\.TlsListener \(got Listener\)/,
    });
    const dir = await Deno.makeTempDir();
    try {
      using unix = Deno.listen({ transport: "unix", path: `${dir}/s.sock` });
      assert.throws(() => server.addListener(unix), TypeError);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    assert.deepEqual(server.addrs, []);
    await server.close();
  });
  await t.step(
    "a plain connection from a listener that passed is closed",
    async () => {
      using capture = captureReports();
      const { server, calls } = countingTlsServer(cert!, key!);
      // Passes for a TLS listener, yet accepts plain connections.
      const inner = Deno.listen({ hostname: HOST, port: 0 });
      class TlsListener {
        addr = inner.addr;
        accept = () => inner.accept();
        close = () => inner.close();
      }
      server.addListener(new TlsListener() as unknown as Deno.Listener);
      const client = await connect(portOf(inner.addr));
      await client.write("password=hunter2\n");
      const rest = await within(client.readUntilClose(), 2000, "server close");
      assert.equal(rest.length, 0);
      client.close();
      await server.close();
      assert.equal(calls(), 0);
      assert.equal(capture.reports.length, 1);
      const [err, where] = capture.reports[0]!;
      assert.match(
        (err as Error).message,
        /closed a connection that is not TLS/,
      );
      assert.equal(where, "TCPServer accept");
    },
  );
});

Deno.test("TCPServer without cert and key serves a TLS listener's connections as SSLIOStreams", async () => {
  const [cert, key, ca] = await Promise.all(
    ["server.crt", "server.key", "ca.crt"].map(readPem),
  );
  const server = new TCPServer({
    async handler(stream) {
      assert.ok(stream instanceof SSLIOStream);
      await echoLine(stream);
    },
  });
  const listener = Deno.listenTls({
    hostname: HOST,
    port: 0,
    cert: cert!,
    key: key!,
  });
  server.addListener(listener);
  const client = await SSLIOStream.connect({
    hostname: "localhost",
    port: listener.addr.port,
    caCerts: [ca!],
  });
  await client.write("tls\n");
  assert.equal(text(await client.readUntil("\n")), "tls\n");
  client.close();
  await server.close();
});

Deno.test("TCPServer with cert and key serves TLS and survives a failed handshake", async () => {
  const [cert, key, ca] = await Promise.all(
    ["server.crt", "server.key", "ca.crt"].map(readPem),
  );
  let calls = 0;
  const server = new TCPServer({
    cert: cert!,
    key: key!,
    async handler(stream) {
      calls++;
      assert.ok(stream instanceof SSLIOStream);
      await echoLine(stream);
    },
  });
  const { port } = server.listen(0, HOST);

  // A client that speaks plain text to the TLS port fails its handshake.
  const bad = await Deno.connect({ hostname: HOST, port });
  await bad.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
  const junk = new Uint8Array(1024);
  // The server drops it (a TLS alert may come first, then EOF).
  while (await bad.read(junk) !== null) { /* drain */ }
  bad.close();

  const good = await SSLIOStream.connect({
    hostname: "localhost",
    port,
    caCerts: [ca!],
  });
  await good.write("secret\n");
  assert.equal(text(await good.readUntil("\n")), "secret\n");
  good.close();
  await server.close();
  assert.equal(calls, 1);
});

Deno.test({
  name:
    "TCPServer skips connections reset before it accepted them, without a report or a pause",
  // resetInAcceptQueue() builds a Linux sockaddr.
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    using capture = captureReports();
    let handled = 0;
    const server = new TCPServer({
      async handler(stream) {
        handled++;
        await echoLine(stream);
        stream.close();
      },
    });
    const { port } = server.listen(0, HOST);
    // Reset in one turn, before the accept loop runs: each accept() of them
    // fails (NotConnected on Linux).
    resetInAcceptQueue(port, 5);
    const client = await connect(port);
    await client.write("after the resets\n");
    assert.equal(text(await client.readUntil("\n")), "after the resets\n");
    client.close();
    assert.deepEqual(capture.reports, []);
    assert.equal(handled, 1);
    await server.close();
  },
});

Deno.test("TCPServer keeps serving when one handler throws or rejects", async () => {
  using capture = captureReports();
  const server = new TCPServer({
    async handler(stream) {
      const line = text(await stream.readUntil("\n"));
      if (line === "throw\n") throw new Error("handler blew up");
      await stream.write(`echo ${line}`);
      // Stay on the line for a second round trip.
      await stream.write(`echo ${text(await stream.readUntil("\n"))}`);
      stream.close();
    },
  });
  const syncServer = new TCPServer({
    handler() {
      throw new TypeError("sync failure");
    },
  });
  const { port } = server.listen(0, HOST);
  const syncPort = syncServer.listen(0, HOST).port;

  const steady = await connect(port);
  await steady.write("one\n");
  assert.equal(text(await steady.readUntil("\n")), "echo one\n");

  const crasher = await connect(port);
  await crasher.write("throw\n");
  assert.equal((await crasher.readUntilClose()).length, 0);
  crasher.close();
  const syncVictim = await connect(syncPort);
  assert.equal((await syncVictim.readUntilClose()).length, 0);
  syncVictim.close();

  await steady.write("two\n");
  assert.equal(text(await steady.readUntil("\n")), "echo two\n");
  steady.close();

  const later = await connect(port);
  await later.write("three\nfour\n");
  assert.equal(text(await later.readUntil("\n")), "echo three\n");
  assert.equal(text(await later.readUntil("\n")), "echo four\n");
  later.close();
  await Promise.all([server.close(), syncServer.close()]);

  assert.equal(capture.reports.length, 2);
  const messages = capture.reports.map(([err]) => (err as Error).message)
    .sort();
  assert.deepEqual(messages, ["handler blew up", "sync failure"]);
  for (const [, where] of capture.reports) {
    assert.match(where, /^TCPServer handler for 127\.0\.0\.1:\d+$/);
  }
});

// Copies bytes from `from` to `to` until either fails or ends.
async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(16384);
  try {
    for (let n; (n = await from.read(buf)) !== null;) {
      await to.write(buf.subarray(0, n));
    }
  } catch {
    // One side was closed: the copy ends.
  }
}

Deno.test("TCPServer does not report a StreamClosedError from a handler's own closed stream", async (t) => {
  await t.step("a TLS client that leaves without close_notify", async () => {
    using capture = captureReports();
    const [cert, key, ca] = await Promise.all(
      ["server.crt", "server.key", "ca.crt"].map(readPem),
    );
    let failure: unknown;
    const server = new TCPServer({
      cert: cert!,
      key: key!,
      // The README's echo handler.
      async handler(stream) {
        try {
          for await (const chunk of stream) await stream.write(chunk);
        } catch (err) {
          failure = err;
          throw err;
        }
      },
    });
    const { port } = server.listen(0, HOST);
    // The client talks through a proxy, whose hang-up toward the server
    // carries no close_notify.
    using proxy = Deno.listen({ hostname: HOST, port: 0 });
    const accepting = proxy.accept();
    const tcp = await Deno.connect({ hostname: HOST, port: proxy.addr.port });
    const down = await accepting;
    const up = await Deno.connect({ hostname: HOST, port });
    const pumps = [pump(down, up), pump(up, down)];
    const client = new SSLIOStream(
      await Deno.startTls(tcp, { hostname: "localhost", caCerts: [ca!] }),
    );
    await client.write("hi\n");
    assert.equal(text(await client.readUntil("\n")), "hi\n");
    up.close();
    await server.close();
    assert.ok(failure instanceof StreamClosedError, String(failure));
    assert.ok(failure.realError instanceof Deno.errors.UnexpectedEof);
    assert.deepEqual(capture.reports, []);
    down.close();
    await Promise.all(pumps);
    client.close();
  });
  await t.step("a client that hangs up mid-line", async () => {
    using capture = captureReports();
    const server = new TCPServer({ handler: echoLine });
    const { port } = server.listen(0, HOST);
    const client = await connect(port);
    await client.write("no newline");
    client.close();
    await server.close();
    assert.deepEqual(capture.reports, []);
  });
  await t.step("one thrown while its stream is open is reported", async () => {
    using capture = captureReports();
    const server = new TCPServer({
      handler() {
        throw new StreamClosedError(); // from some other stream, say
      },
    });
    const { port } = server.listen(0, HOST);
    const client = await connect(port);
    assert.equal((await client.readUntilClose()).length, 0);
    client.close();
    await server.close();
    assert.equal(capture.reports.length, 1);
    assert.ok(capture.reports[0]![0] instanceof StreamClosedError);
  });
});

Deno.test("TCPServer.stop() refuses new connections but lets open ones go on", async () => {
  const server = new TCPServer({ handler: echoLine });
  const { port } = server.listen(0, HOST);
  const client = await connect(port);
  server.stop();
  assert.deepEqual(server.addrs, []);
  // Deno releases the socket once the pending accept() has been cancelled.
  await new Promise((resolve) => setTimeout(resolve, 10));
  await assert.rejects(connect(port), Deno.errors.ConnectionRefused);
  await client.write("still here\n");
  assert.equal(text(await client.readUntil("\n")), "still here\n");
  client.close();
  await server.close();
});

Deno.test("TCPServer.close() waits for running handlers", async () => {
  let finished = false;
  const slowPart = Promise.withResolvers<void>();
  const server = new TCPServer({
    async handler(stream) {
      await stream.readUntil("\n");
      slowPart.resolve();
      await new Promise((resolve) => setTimeout(resolve, 30));
      await stream.write("done\n");
      finished = true;
      stream.close();
    },
  });
  const { port } = server.listen(0, HOST);
  const client = await connect(port);
  await client.write("go\n");
  await slowPart.promise; // shut down once the handler is in its slow part
  await server.close();
  assert.equal(finished, true);
  assert.equal(text(await client.readUntilClose()), "done\n");
  client.close();
});

Deno.test("TCPServer.close({ timeout }) lets quick handlers finish, then closes stragglers", async () => {
  const outcomes: string[] = [];
  let reading = 0;
  const bothRead = Promise.withResolvers<void>();
  const server = new TCPServer({
    async handler(stream) {
      const line = text(await stream.readUntil("\n"));
      if (++reading === 2) bothRead.resolve();
      if (line === "quick\n") {
        await new Promise((resolve) => setTimeout(resolve, 10));
        await stream.write("bye\n");
        outcomes.push("quick done");
        stream.close();
        return;
      }
      try {
        await stream.readUntil("\n"); // never comes
      } catch (err) {
        outcomes.push(err instanceof StreamClosedError ? "closed" : `${err}`);
      }
    },
  });
  const { port } = server.listen(0, HOST);
  const quick = await connect(port);
  const slow = await connect(port);
  await quick.write("quick\n");
  await slow.write("slow\n");
  await bothRead.promise;

  const started = performance.now();
  await server.close({ timeout: 100 });
  const took = performance.now() - started;
  assert.ok(
    took >= 90,
    `close() returned after ${took} ms, before the timeout`,
  );
  assert.ok(took < 2000, `close() took ${took} ms`);
  assert.deepEqual(outcomes, ["quick done", "closed"]);
  assert.equal(text(await quick.readUntilClose()), "bye\n");
  assert.equal((await slow.readUntilClose()).length, 0);
  quick.close();
  slow.close();
});

Deno.test("TCPServer.close() closes streams a finished handler left open", async () => {
  const kept: IOStream[] = [];
  const server = new TCPServer({
    handler(stream) {
      kept.push(stream); // handed off, not closed
    },
  });
  const { port } = server.listen(0, HOST);
  const client = await connect(port);
  await client.write("x");
  while (kept.length === 0) await new Promise((r) => setTimeout(r, 1));
  await server.close();
  assert.equal(kept[0]!.closed(), true);
  assert.equal(text(await client.readUntilClose()), "");
  client.close();
});

Deno.test("TCPServer.close({ signal }) stops waiting when the signal aborts", async () => {
  const started = Promise.withResolvers<void>();
  const server = new TCPServer({
    async handler(stream) {
      started.resolve();
      await stream.readUntil("\n").catch(() => {});
    },
  });
  const { port } = server.listen(0, HOST);
  const client = await connect(port);
  await started.promise;
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  await server.close({ signal: controller.signal });
  assert.equal((await client.readUntilClose()).length, 0);
  client.close();
  // A second close() shares the finished shutdown.
  await server.close();
});

// Fails after `ms` instead of hanging when `p` never settles.
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("TCPServer.close({ timeout: 0 }) cuts short an earlier close() still waiting", async () => {
  let handlerSaw: unknown;
  const started = Promise.withResolvers<void>();
  const server = new TCPServer({
    async handler(stream) {
      started.resolve();
      try {
        await stream.readUntil("\n"); // the client never sends a line
      } catch (err) {
        handlerSaw = err;
      }
    },
  });
  const { port } = server.listen(0, HOST);
  const client = await connect(port);
  await started.promise;
  const graceful = server.close(); // waits for the handler, however long
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(handlerSaw as unknown, undefined); // `as`: keep it unknown
  // A second Ctrl-C: stop waiting now.
  const forced = server.close({ timeout: 0 });
  assert.equal(forced, graceful); // the same shutdown
  await within(forced, 2000, "close({ timeout: 0 })");
  assert.ok(handlerSaw instanceof StreamClosedError);
  assert.equal((await client.readUntilClose()).length, 0);
  client.close();
});

// A server whose one client's handler runs `first`, then waits on something
// other than its stream until `release()`; resolves once `first` is done.
async function heldServer(
  first: (server: TCPServer, stream: IOStream) => unknown,
): Promise<{ server: TCPServer; client: IOStream; release(): Promise<void> }> {
  const released = Promise.withResolvers<void>();
  const returned = Promise.withResolvers<void>();
  const entered = Promise.withResolvers<void>();
  const server: TCPServer = new TCPServer({
    async handler(stream) {
      await first(server, stream);
      entered.resolve();
      await released.promise;
      returned.resolve();
    },
  });
  const client = await connect(server.listen(0, HOST).port);
  await entered.promise;
  return {
    server,
    client,
    release: async () => {
      released.resolve();
      await returned.promise;
      client.close();
    },
  };
}

Deno.test("TCPServer.close() with a timeout or signal does not wait for ever for a handler stuck on something else", async (t) => {
  // A handler that waits on something other than its stream (a queue, a
  // condition) until the test lets it go.
  async function stuckServer() {
    const streamClosed = Promise.withResolvers<void>();
    const held = await heldServer((_, stream) =>
      stream.setCloseCallback(() => streamClosed.resolve())
    );
    return { ...held, streamClosed: streamClosed.promise };
  }
  function assertReported(
    reports: Array<[unknown, string]>,
    message: string,
  ): void {
    assert.equal(reports.length, 1);
    const [err, where] = reports[0]!;
    assert.equal((err as Error).message, message);
    assert.equal(where, "TCPServer close");
  }

  await t.step("timeout", async () => {
    using capture = captureReports();
    const { server, client, streamClosed, release } = await stuckServer();
    await within(server.close({ timeout: 20 }), 2000, "close({ timeout })");
    await streamClosed;
    assert.equal((await client.readUntilClose()).length, 0);
    assertReported(
      capture.reports,
      "1 TCPServer handler still running after close() timed out",
    );
    await release();
    // Later calls share the finished shutdown, and report nothing more.
    await server.close();
    assert.equal(capture.reports.length, 1);
  });

  await t.step("signal", async () => {
    using capture = captureReports();
    const { server, release } = await stuckServer();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await within(
      server.close({ signal: controller.signal }),
      2000,
      "close({ signal })",
    );
    assertReported(
      capture.reports,
      "1 TCPServer handler still running after close() was aborted",
    );
    await release();
  });

  await t.step("no timeout waits, until a close({ timeout: 0 })", async () => {
    using capture = captureReports();
    const { server, release } = await stuckServer();
    let settled = false;
    const graceful = server.close().then(() => settled = true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(settled, false, "close() without a timeout waits");
    assert.deepEqual(capture.reports, []);
    await within(server.close({ timeout: 0 }), 2000, "close({ timeout: 0 })");
    await within(graceful, 2000, "the earlier close()");
    assert.equal(capture.reports.length, 1);
    await release();
  });

  await t.step(
    "a handler that reacts to its closed stream is waited for",
    async () => {
      using capture = captureReports();
      const log: string[] = [];
      const server = new TCPServer({
        async handler(stream) {
          // Learns of the close through its close callback, not a read.
          const gone = Promise.withResolvers<void>();
          stream.setCloseCallback(() => gone.resolve());
          await gone.promise;
          await Promise.resolve();
          log.push("wound up");
        },
      });
      const client = await connect(server.listen(0, HOST).port);
      await new Promise((resolve) => setTimeout(resolve, 10));
      await within(server.close({ timeout: 0 }), 2000, "close({ timeout: 0 })");
      assert.deepEqual(log, ["wound up"]);
      assert.deepEqual(capture.reports, []);
      client.close();
    },
  );
});

Deno.test("TCPServer.close({ timeout }) past setTimeout's 32-bit range still lets handlers finish", async () => {
  const outcomes: string[] = [];
  const started = Promise.withResolvers<void>();
  const server = new TCPServer({
    async handler(stream) {
      started.resolve();
      try {
        outcomes.push(text(await stream.readUntil("\n")));
        stream.close();
      } catch (err) {
        outcomes.push(`${err}`);
      }
    },
  });
  const { port } = server.listen(0, HOST);
  const client = await connect(port);
  await started.promise;
  const closing = server.close({ timeout: 2 ** 31 }); // about 25 days
  await new Promise((resolve) => setTimeout(resolve, 20));
  await client.write("late line\n");
  await within(closing, 2000, "close()");
  assert.deepEqual(outcomes, ["late line\n"]);
  client.close();
});

Deno.test("TCPServer passes stream options to accepted streams", async () => {
  let failure: unknown;
  let writeFailure: unknown;
  const server = new TCPServer({
    maxBufferSize: 1024,
    readChunkSize: 256,
    maxWriteBufferSize: 4096,
    async handler(stream) {
      await stream.write(new Uint8Array(8192)).catch((err) =>
        writeFailure = err
      );
      try {
        await stream.readUntil("\n");
      } catch (err) {
        failure = err;
      }
    },
  });
  const { port } = server.listen(0, HOST);
  const client = await connect(port);
  await client.write(new Uint8Array(8192).fill(0x61));
  await client.readUntilClose();
  client.close();
  await server.close();
  assert.ok(
    failure instanceof StreamBufferFullError,
    `expected StreamBufferFullError, got ${failure}`,
  );
  assert.ok(
    writeFailure instanceof StreamBufferFullError,
    `expected StreamBufferFullError from write(), got ${writeFailure}`,
  );
});

Deno.test("TCPServer.close() ends a TLS client stuck before its handshake", async (t) => {
  const [cert, key] = await Promise.all(
    ["server.crt", "server.key"].map(readPem),
  );
  // The default handshakeTimeout (120 s) would be the wait without a
  // timeout if close() waited for clients still in their handshake.
  for (const options of [{ timeout: 20 }, { timeout: 0 }, {}]) {
    await t.step(`close(${JSON.stringify(options)})`, async () => {
      // Not a handler close() gave up on: nothing to report.
      using capture = captureReports();
      const { server, calls } = countingTlsServer(cert!, key!);
      const { port } = server.listen(0, HOST);
      const silent = await Deno.connect({ hostname: HOST, port }); // mute
      await new Promise((resolve) => setTimeout(resolve, 10));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        server.close(options).then(() => "closed"),
        new Promise((resolve) => timer = setTimeout(resolve, 3000, "hung")),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, "closed");
      // Deno 2.9 keeps the TCP side of a TLS connection closed before its
      // handshake open until the peer sends something; then it answers
      // with an alert and hangs up.
      await silent.write(new TextEncoder().encode("hello?\r\n"));
      const buf = new Uint8Array(64);
      while (await silent.read(buf) !== null) { /* the alert */ }
      silent.close();
      assert.equal(calls(), 0);
      assert.deepEqual(capture.reports, []);
    });
  }
});

Deno.test("TCPServer closes a TLS client that does not finish its handshake within handshakeTimeout", async (t) => {
  const [cert, key, ca] = await Promise.all(
    ["server.crt", "server.key", "ca.crt"].map(readPem),
  );
  // A client that connects, says nothing for 300 ms, then shakes hands.
  async function lateClient(handshakeTimeout: number): Promise<number> {
    let calls = 0;
    const server = new TCPServer({
      cert: cert!,
      key: key!,
      handshakeTimeout,
      handler: async (stream) => {
        calls++;
        await stream.write("welcome");
        stream.close();
      },
    });
    const { port } = server.listen(0, HOST);
    try {
      const tcp = await Deno.connect({ hostname: HOST, port });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const client = await Deno.startTls(tcp, {
        hostname: "localhost",
        caCerts: [ca!],
      });
      try {
        await client.handshake();
        const buf = new Uint8Array(16);
        const n = await client.read(buf);
        assert.equal(text(buf.subarray(0, n ?? 0)), "welcome");
      } catch (err) {
        // Closed by the server: Deno reports the hang-up mid-handshake.
        assert.equal(calls, 0, `handler ran, yet: ${err}`);
      } finally {
        client.close();
      }
    } finally {
      await server.close();
    }
    return calls;
  }
  await t.step("too slow: closed, the handler never runs", async () => {
    assert.equal(await lateClient(100), 0);
  });
  await t.step("in time: served", async () => {
    assert.equal(await lateClient(10_000), 1);
  });
});

Deno.test("TCPServer rejects bad arguments with clear errors", async (t) => {
  await t.step("constructor", () => {
    assert.throws(() => new TCPServer(), {
      name: "TypeError",
      message: /pass options.handler or override handleStream/,
    });
    assert.throws(
      // @ts-expect-error: handler must be a function
      () => new TCPServer({ handler: "nope" }),
      { name: "TypeError", message: /got string "nope"/ },
    );
    assert.throws(
      () => new TCPServer({ handler: () => {}, cert: "pem" }),
      { name: "TypeError", message: /both cert and key/ },
    );
    assert.throws(
      () => new TCPServer({ handler: () => {}, alpnProtocols: ["h2"] }),
      { name: "TypeError", message: /alpnProtocols needs cert and key/ },
    );
    for (const alpnProtocols of ["h2", ["h2", 2]]) {
      assert.throws(
        () =>
          new TCPServer({
            handler: () => {},
            cert: "pem",
            key: "pem",
            alpnProtocols: alpnProtocols as string[],
          }),
        {
          name: "TypeError",
          message:
            /^Cannot create TCPServer: alpnProtocols must be an array of strings/,
        },
      );
    }
    assert.throws(
      // @ts-expect-error: handshakeTimeout must be a number
      () => new TCPServer({ handler: () => {}, handshakeTimeout: "1s" }),
      { name: "TypeError", message: /handshakeTimeout .* got string "1s"/ },
    );
    for (const handshakeTimeout of [0, -1, NaN]) {
      assert.throws(
        () => new TCPServer({ handler: () => {}, handshakeTimeout }),
        { name: "RangeError", message: /handshakeTimeout must be positive/ },
      );
    }
    // Stream options fail here, not once per accepted connection.
    assert.throws(
      () => new TCPServer({ handler: () => {}, maxBufferSize: 1 }),
      { name: "RangeError", message: /maxBufferSize .* got 1/ },
    );
  });
  await t.step("listen", async () => {
    const server = new TCPServer({ handler: () => {} });
    assert.throws(() => server.listen(-1), RangeError);
    assert.throws(() => server.listen(70000), RangeError);
    assert.throws(() => server.listen(1.5), TypeError);
    // @ts-expect-error: port must be a number
    assert.throws(() => server.listen({ port: "80" }), {
      name: "TypeError",
      message: /port must be an integer, got string "80"/,
    });
    assert.throws(
      () => server.listen({ path: "/tmp/x.sock", port: 1 }),
      { name: "TypeError", message: /path excludes/ },
    );
    assert.throws(() => server.listen({ path: "" }), TypeError);
    assert.deepEqual(server.addrs, []);
    await assert.rejects(server.close({ timeout: -1 }), RangeError);
    await assert.rejects(server.close({ timeout: NaN }), {
      name: "RangeError",
      message: /timeout must be a non-negative number .* got NaN/,
    });
    await assert.rejects(
      // @ts-expect-error: timeout must be a number
      server.close({ timeout: "100" }),
      {
        name: "TypeError",
        message: /timeout must be a number, got string "100"/,
      },
    );
    await server.close();
    assert.throws(() => server.listen(0, HOST), /TCPServer is closed/);
    // A refused listener stays the caller's to close.
    using listener = Deno.listen({ hostname: HOST, port: 0 });
    assert.throws(() => server.addListener(listener), /TCPServer is closed/);
    // @ts-expect-error: not a listener
    assert.throws(() => server.addListener({}), TypeError);
  });
  await t.step("TLS on a Unix socket", () => {
    const server = new TCPServer({ handler: () => {}, cert: "c", key: "k" });
    assert.throws(() => server.listen({ path: "/tmp/x.sock" }), /TLS/);
  });
});

Deno.test("TCPServer reusePort: a clear error without --unstable-net, shared port with it", async () => {
  const moduleUrl = new URL("../iostream/tcp_server.ts", import.meta.url).href;
  const script = `
    import { TCPServer } from ${JSON.stringify(moduleUrl)};
    const a = new TCPServer({ handler: () => {} });
    const b = new TCPServer({ handler: () => {} });
    try {
      const { port } = a.listen({ port: 0, hostname: "127.0.0.1", reusePort: true });
      b.listen({ port, hostname: "127.0.0.1", reusePort: true });
      console.log("shared", a.addrs.length + b.addrs.length);
    } catch (err) {
      console.log(err.name + ": " + err.message);
    }
    await Promise.all([a.close(), b.close()]);
  `;
  async function run(flags: string[]): Promise<string> {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", ...flags, "--allow-net", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = out.stdin.getWriter();
    await writer.write(new TextEncoder().encode(script));
    await writer.close();
    const { code, stdout, stderr } = await out.output();
    assert.equal(code, 0, text(stderr));
    return text(stdout).trim();
  }
  const [without, withFlag] = await Promise.all([
    run([]),
    run(["--unstable-net"]),
  ]);
  assert.equal(
    without,
    "Error: Cannot listen with reusePort: Deno needs the --unstable-net flag " +
      '(or "unstable": ["net"] in deno.json) for it',
  );
  assert.equal(withFlag, "shared 2");
});

Deno.test("TCPServer.close() called from inside a handler", async (t) => {
  // Each client sends one command line: "stop <timeout>" calls close(),
  // "slow" works 50 ms, "idle" waits for a line that never comes.
  async function run(
    commands: string[],
  ): Promise<{ log: string[]; server: TCPServer; clients: IOStream[] }> {
    const log: string[] = [];
    const server = new TCPServer({
      async handler(stream) {
        const [cmd, arg] = text(await stream.readUntil("\n")).trim().split(
          " ",
        );
        try {
          if (cmd === "stop") {
            const options = arg === undefined ? {} : { timeout: Number(arg) };
            await server.close(options);
            log.push(`stop resolved, own stream closed: ${stream.closed()}`);
            await new Promise((resolve) => setTimeout(resolve, 20));
            log.push("stop handler returns");
          } else if (cmd === "slow") {
            await new Promise((resolve) => setTimeout(resolve, 50));
            log.push("slow done");
          } else {
            await stream.readUntil("\n");
          }
        } catch (err) {
          log.push(`${cmd}: ${(err as Error).name}`);
        }
      },
    });
    const { port } = server.listen(0, HOST);
    const clients: IOStream[] = [];
    for (const command of commands) {
      const client = await connect(port);
      clients.push(client);
      await client.write(`${command}\n`);
    }
    return { log, server, clients };
  }

  await t.step(
    "{ timeout: 0 } resolves and closes the other streams",
    async () => {
      const { log, server, clients } = await run(["idle", "stop 0"]);
      await server.close(); // from outside: waits for the stop handler too
      log.push("outside resolved");
      assert.deepEqual(log, [
        "idle: StreamClosedError",
        "stop resolved, own stream closed: true",
        "stop handler returns",
        "outside resolved",
      ]);
      for (const client of clients) client.close();
    },
  );

  await t.step(
    "no timeout: waits for the other handlers, not its own",
    async () => {
      const { log, server, clients } = await run(["slow", "stop"]);
      await server.close();
      assert.deepEqual(log, [
        "slow done",
        "stop resolved, own stream closed: true",
        "stop handler returns",
      ]);
      for (const client of clients) client.close();
    },
  );

  await t.step("before the handler's first await", async () => {
    for (const sync of [true, false]) {
      let returned = false;
      const entered = Promise.withResolvers<void>();
      const server: TCPServer = new TCPServer({
        handler: sync
          ? () => {
            entered.resolve();
            return server.close();
          }
          : async () => {
            entered.resolve();
            await server.close({ timeout: 0 });
            returned = true;
          },
      });
      const { port } = server.listen(0, HOST);
      const client = await connect(port);
      await entered.promise;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        server.close({ timeout: 100 }).then(() => "closed"),
        new Promise((resolve) => timer = setTimeout(resolve, 3000, "hung")),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, "closed", sync ? "sync handler" : "async handler");
      assert.equal(returned, !sync);
      client.close();
    }
  });

  await t.step(
    "a limit of a call from outside bounds the wait for it",
    async (t) => {
      // The handler calls close() itself, then waits on something other
      // than its stream until the test lets it go.
      const hangingCloser = () => heldServer((server) => server.close());
      const message = (cut: string) =>
        `1 TCPServer handler that called close() still running after close() ${cut}`;

      await t.step("timeout", async () => {
        using capture = captureReports();
        const { server, release } = await hangingCloser();
        await within(server.close({ timeout: 20 }), 2000, "close()");
        assert.deepEqual(
          capture.reports.map((
            [err, where],
          ) => [(err as Error).message, where]),
          [[message("timed out"), "TCPServer close"]],
        );
        await release();
        await server.close();
        assert.equal(capture.reports.length, 1);
      });

      await t.step("signal, after a close() without limits", async () => {
        using capture = captureReports();
        const { server, release } = await hangingCloser();
        let settled = false;
        const graceful = server.close().then(() => settled = true);
        await new Promise((resolve) => setTimeout(resolve, 30));
        assert.equal(settled, false, "close() without limits waits");
        const controller = new AbortController();
        const forced = server.close({ signal: controller.signal });
        controller.abort();
        await within(forced, 2000, "close({ signal })");
        await within(graceful, 2000, "the earlier close()");
        assert.deepEqual(
          capture.reports.map(([err]) => (err as Error).message),
          [message("was aborted")],
        );
        await release();
      });
    },
  );

  await t.step("two handlers calling it both get through", async () => {
    const { log, server, clients } = await run(["stop", "stop"]);
    await server.close();
    assert.deepEqual(log, [
      "stop resolved, own stream closed: true",
      "stop resolved, own stream closed: true",
      "stop handler returns",
      "stop handler returns",
    ]);
    for (const client of clients) client.close();
  });
});

Deno.test("TCPServer.listen() and close() read each option once and use the values they read", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/squall.sock`;
  try {
    const started = Promise.withResolvers<void>();
    const server = new TCPServer({
      async handler(stream) {
        started.resolve();
        await stream.readUntil("\n").catch(() => {}); // never sent
      },
    });
    // A port read again would now clash with the path.
    const listening = fickleOptions<TCPServerListenOptions>({ path }, {
      path: () => path,
      port: () => 8080,
      hostname: () => "localhost",
      reusePort: () => true,
    });
    server.listen(listening.options);
    assert.deepEqual(listening.overRead(), []);
    const client = await IOStream.connect({ transport: "unix", path });
    await started.promise;
    // The handler never returns: only the timeout read ends the grace.
    const closing = fickleOptions<TCPServerCloseOptions>({
      timeout: 20,
      signal: new AbortController().signal,
    }, { timeout: () => "never", signal: () => "not a signal" });
    await within(server.close(closing.options), 2000, "close({ timeout })");
    assert.deepEqual(closing.overRead(), []);
    assert.equal((await client.readUntilClose()).length, 0);
    client.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
