// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import { IOStream, SSLIOStream, StreamClosedError } from "../iostream/mod.ts";
import { TimeoutError } from "../concurrent/mod.ts";
import type { WaitOptions } from "../locks/mod.ts";
import { StuckListener } from "./_libc.ts";
import {
  assertWaitReadsOptionsOnce,
  fickleConnectOptions,
} from "./_fickle_options.ts";
import { type PairFactory, streamSuite } from "./_stream_suite.ts";

const dir = new URL("./testdata/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));
const CA = read("ca.crt");
const OTHER_CA = read("other_ca.crt");
const CERT = read("server.crt");
const KEY = read("server.key");

function listenTls(alpnProtocols?: string[]): Deno.TlsListener {
  return Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: CERT,
    key: KEY,
    ...(alpnProtocols ? { alpnProtocols } : {}),
  });
}

// A plain TCP client of `listener` that has not started its handshake, and
// the server's stream over the connection accepted from it.
async function silentClient(
  listener: Deno.TlsListener,
): Promise<{ tcp: Deno.TcpConn; server: SSLIOStream }> {
  const accepting = listener.accept();
  const tcp = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  return { tcp, server: new SSLIOStream(await accepting) };
}

// `from` and `to` still make a working pair: a line written arrives.
async function assertCarries(
  from: IOStream,
  to: IOStream,
  line: string,
): Promise<void> {
  await from.write(line);
  assert.equal(new TextDecoder().decode(await to.readUntil("\n")), line);
}

// A plain TCP client of `listener`, ready for startTls(), and the server's
// stream over the connection accepted from it.
async function plainClient(
  listener: Deno.TlsListener,
): Promise<{ plain: IOStream; server: SSLIOStream }> {
  const accepting = listener.accept();
  const plain = await IOStream.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  return { plain, server: new SSLIOStream(await accepting) };
}

const tlsPair: PairFactory = async (options = {}) => {
  const listener = listenTls();
  const accepting = listener.accept();
  const a = await SSLIOStream.connect(
    { hostname: "localhost", port: listener.addr.port, caCerts: [CA] },
    options.a,
  );
  const b = new SSLIOStream(await accepting, options.b);
  listener.close();
  await b.waitForHandshake();
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

streamSuite("SSLIOStream", tlsPair);

// A client that asked for "echo/1" and the server's stream over it, whose
// handshake nobody has awaited yet.
async function alpnPair(): Promise<
  { client: SSLIOStream; server: SSLIOStream }
> {
  using listener = listenTls(["h2", "echo/1"]);
  const accepting = listener.accept();
  const client = await SSLIOStream.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
    caCerts: [CA],
    alpnProtocols: ["echo/1"],
  });
  return { client, server: new SSLIOStream(await accepting) };
}

Deno.test("SSLIOStream: waitForHandshake() resolves with ALPN info on both sides", async () => {
  const { client, server } = await alpnPair();
  assert.equal(server.alpnProtocol, null);
  assert.equal(await server.waitForHandshake(), server);
  assert.equal(server.alpnProtocol, "echo/1");
  assert.equal(client.alpnProtocol, "echo/1");
  assert.equal(await client.waitForHandshake(), client);
  client.close();
  server.close();
});

Deno.test("SSLIOStream.alpnProtocol is known once a read or write completed the handshake", async (t) => {
  await t.step("a read", async () => {
    const { client, server } = await alpnPair();
    await client.write("hi\n");
    assert.equal(
      new TextDecoder().decode(await server.readUntil("\n")),
      "hi\n",
    );
    assert.equal(server.alpnProtocol, "echo/1");
    client.close();
    server.close();
  });
  await t.step("a write", async () => {
    const { client, server } = await alpnPair();
    await server.write("hi\n");
    assert.equal(server.alpnProtocol, "echo/1");
    await client.readUntil("\n");
    client.close();
    server.close();
  });
  await t.step("a failed handshake: reads report it as before", async () => {
    using listener = listenTls();
    const { tcp, server } = await silentClient(listener);
    const client = new SSLIOStream(
      await Deno.startTls(tcp, { hostname: "localhost", caCerts: [OTHER_CA] }),
    );
    const readErr = await client.readBytes(1).then(() => null, (e) => e);
    assert.ok(readErr instanceof StreamClosedError, `got ${readErr}`);
    assert.ok(readErr.realError instanceof Deno.errors.InvalidData);
    assert.equal(client.error, readErr.realError);
    const serverErr = await server.readBytes(1).then(() => null, (e) => e);
    assert.ok(serverErr instanceof StreamClosedError, `got ${serverErr}`);
    assert.ok(server.error instanceof Deno.errors.InvalidData);
    assert.equal(server.alpnProtocol, null);
  });
});

Deno.test("SSLIOStream.connect() to a spread listener address still turns Nagle off (no Deno.connectTls)", async () => {
  // Deno.connectTls gives a TlsConn with Nagle on and no way to turn it
  // off; connect() must keep to TCP + setNoDelay + Deno.startTls when the
  // options ask for nothing more, as `transport: "tcp"` and undefined
  // fields do not.
  using listener = listenTls();
  const original = Deno.connectTls;
  let viaConnectTls = 0;
  Deno.connectTls = ((options: Deno.ConnectTlsOptions) => {
    viaConnectTls++;
    return original(options);
  }) as typeof Deno.connectTls;
  try {
    const accepting = listener.accept();
    // `undefined` fields as JavaScript (or looser TypeScript) passes them.
    const client = await SSLIOStream.connect({
      ...listener.addr,
      hostname: "localhost",
      caCerts: [CA],
      alpnProtocols: undefined,
    } as unknown as Deno.ConnectTlsOptions);
    const server = new SSLIOStream(await accepting);
    await client.write("over TLS\n");
    assert.equal(
      new TextDecoder().decode(await server.readUntil("\n")),
      "over TLS\n",
    );
    client.close();
    server.close();
  } finally {
    Deno.connectTls = original;
  }
  assert.equal(viaConnectTls, 0);
});

Deno.test("SSLIOStream.connect() with bad options rejects before connecting and leaks nothing", async () => {
  using listener = listenTls(); // never accepts: nothing may connect
  await assert.rejects(
    SSLIOStream.connect(
      { hostname: "localhost", port: listener.addr.port, caCerts: [CA] },
      { maxBufferSize: 1 },
    ),
    { name: "RangeError", message: /maxBufferSize/ },
  );
});

Deno.test("SSLIOStream.connect() gives up on a server that never answers the handshake, and closes", async (t) => {
  // A plain TCP listener: it accepts, reads the ClientHello and says
  // nothing. Once with the usual TCP + startTls route, once through
  // Deno.connectTls (a client certificate asks for it).
  const routes: [string, Partial<Deno.TlsCertifiedKeyPem>][] = [
    ["TCP, then Deno.startTls", {}],
    ["Deno.connectTls", { cert: CERT, key: KEY }],
  ];
  for (const [route, extra] of routes) {
    await t.step(route, async () => {
      using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const accepting = listener.accept();
      await assert.rejects(
        SSLIOStream.connect({
          hostname: "localhost",
          port: listener.addr.port,
          caCerts: [CA],
          ...extra,
        }, { timeout: 100 }),
        (err) => {
          assert.ok(err instanceof TimeoutError);
          assert.equal(
            err.message,
            "SSLIOStream.connect() timed out after 100 ms",
          );
          return true;
        },
      );
      using server = await accepting;
      const hello = new Uint8Array(4096);
      assert.ok((await server.read(hello) ?? 0) > 0, "no ClientHello");
      // Deno keeps the client's socket until the server speaks or hangs
      // up (see the README); the server's close ends it, and the
      // sanitizers check that nothing else is left.
    });
  }
});

Deno.test("SSLIOStream.connect() gives up while TCP connects when its signal is aborted", async () => {
  await using stuck = await StuckListener.open();
  const controller = new AbortController();
  const reason = new Error("no longer needed");
  const connecting = SSLIOStream.connect(
    { hostname: "localhost", port: stuck.port, caCerts: [CA] },
    { signal: controller.signal },
  );
  setTimeout(() => controller.abort(reason), 20);
  await assert.rejects(connecting, (err) => err === reason);
  // The op sanitizer fails this test if the TCP connect were still under way.
});

Deno.test("SSLIOStream.connect() with a timeout that does not fire connects and leaves no timer", async () => {
  using listener = listenTls();
  const accepting = listener.accept();
  const client = await SSLIOStream.connect(
    { hostname: "localhost", port: listener.addr.port, caCerts: [CA] },
    { timeout: 10_000 },
  );
  using server = new SSLIOStream(await accepting);
  using _client = client;
  await client.write("tls");
  assert.equal(new TextDecoder().decode(await server.readBytes(3)), "tls");
});

Deno.test("SSLIOStream.waitForHandshake() gives up waiting on a silent client, and the handshake goes on", async () => {
  using listener = listenTls();
  const { tcp, server } = await silentClient(listener);
  using _server = server;
  await assert.rejects(server.waitForHandshake({ timeout: 50 }), (err) => {
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.message, "waitForHandshake() timed out after 50 ms");
    return true;
  });
  const controller = new AbortController();
  const reason = new Error("shutting down");
  const aborted = server.waitForHandshake({ signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(aborted, (err) => err === reason);
  await assert.rejects(
    server.waitForHandshake({ timeout: "soon" } as never),
    { name: "TypeError", message: /a handshake timeout/ },
  );
  assert.equal(server.closed(), false, "giving up does not close");
  // The client speaks at last: the same handshake completes.
  using client = await Deno.startTls(tcp, {
    hostname: "localhost",
    caCerts: [CA],
  });
  const [done] = await Promise.all([
    server.waitForHandshake({ timeout: 10_000 }),
    client.handshake(),
  ]);
  assert.equal(done, server);
});

Deno.test("SSLIOStream.connect() rejects a certificate from the wrong CA, and with no CA", async () => {
  using listener = listenTls();
  for (const caCerts of [[OTHER_CA], undefined]) {
    const accepting = listener.accept();
    await assert.rejects(
      SSLIOStream.connect({
        hostname: "localhost",
        port: listener.addr.port,
        ...(caCerts ? { caCerts } : {}),
      }),
      Deno.errors.InvalidData,
    );
    const server = new SSLIOStream(await accepting);
    await assert.rejects(server.waitForHandshake(), Deno.errors.InvalidData);
    assert.equal(server.closed(), true);
    assert.ok(server.error instanceof Deno.errors.InvalidData);
  }
});

Deno.test("SSLIOStream.waitForHandshake() on a closed stream rejects with StreamClosedError", async () => {
  using listener = listenTls();
  for (const why of [undefined, new Error("bye")]) {
    const { tcp, server } = await silentClient(listener);
    server.close(why);
    const err = await server.waitForHandshake().then(() => null, (e) => e);
    assert.ok(err instanceof StreamClosedError, String(err));
    assert.equal(err.realError, why);
    // Asking again gives the same answer.
    await assert.rejects(server.waitForHandshake(), StreamClosedError);
    tcp.close();
  }
});

Deno.test("SSLIOStream.waitForHandshake() pending when the stream is closed rejects with StreamClosedError", async () => {
  using listener = listenTls();
  const { tcp, server } = await silentClient(listener); // never shakes hands
  const handshake = server.waitForHandshake().then(() => null, (e) => e);
  await new Promise((r) => setTimeout(r, 10));
  const why = new Error("shutting down");
  server.close(why);
  const err = await handshake;
  assert.ok(err instanceof StreamClosedError, String(err));
  assert.equal(err.realError, why);
  assert.equal(server.error, why);
  tcp.close();
});

Deno.test("SSLIOStream.waitForHandshake() that fails (wrong CA) rejects with Deno's error and closes with it", async () => {
  using listener = listenTls();
  const { tcp, server } = await silentClient(listener);
  const client = new SSLIOStream(
    await Deno.startTls(tcp, { hostname: "localhost", caCerts: [OTHER_CA] }),
  );
  const serverSide = server.waitForHandshake().then(() => null, (e) => e);
  await assert.rejects(client.waitForHandshake(), Deno.errors.InvalidData);
  assert.equal(client.closed(), true);
  assert.ok(client.error instanceof Deno.errors.InvalidData);
  // Reads and writes then report the handshake failure as the cause.
  const readErr = await client.readBytes(1).then(() => null, (e) => e);
  assert.ok(readErr instanceof StreamClosedError);
  assert.equal(readErr.realError, client.error);
  assert.ok((await serverSide) instanceof Deno.errors.InvalidData);
  assert.equal(server.closed(), true);
  assert.ok(server.error instanceof Deno.errors.InvalidData);
});

Deno.test("new SSLIOStream() refuses a connection that is not TLS and leaves it to the caller", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  using _server = await listener.accept();
  assert.throws(() => new SSLIOStream(conn as never), {
    name: "TypeError",
    message: "Cannot create SSLIOStream: expected a Deno.TlsConn, got TcpConn",
  });
  assert.throws(() => new SSLIOStream(null as never), {
    name: "TypeError",
    message: /got null/,
  });
  // Still open and usable.
  assert.equal(await conn.write(new Uint8Array(1)), 1);
});

Deno.test("SSLIOStream.waitForHandshake({ timeout: 0 }) settles with a known outcome at once", async (t) => {
  await t.step(
    "done: resolves, with 0 and with a negative timeout",
    async () => {
      const { client, server } = await alpnPair();
      using _client = client;
      using _server = server;
      await server.waitForHandshake();
      for (const stream of [client, server]) {
        for (const timeout of [0, -5]) {
          assert.equal(await stream.waitForHandshake({ timeout }), stream);
        }
      }
      // An aborted signal is checked first, as reads do.
      const reason = new Error("aborted");
      await assert.rejects(
        server.waitForHandshake({ signal: AbortSignal.abort(reason) }),
        (err) => err === reason,
      );
    },
  );
  await t.step(
    "closed before it: StreamClosedError, not TimeoutError",
    async () => {
      using listener = listenTls();
      const { tcp, server } = await silentClient(listener);
      using _tcp = tcp;
      server.close();
      await assert.rejects(
        server.waitForHandshake({ timeout: 0 }),
        StreamClosedError,
      );
    },
  );
  await t.step("failed: Deno's error, not TimeoutError", async () => {
    using listener = listenTls();
    const { tcp, server } = await silentClient(listener);
    using _server = server;
    const client = new SSLIOStream(
      await Deno.startTls(tcp, { hostname: "localhost", caCerts: [OTHER_CA] }),
    );
    const serverSide = server.waitForHandshake().catch(() => {});
    await assert.rejects(client.waitForHandshake(), Deno.errors.InvalidData);
    await assert.rejects(
      client.waitForHandshake({ timeout: 0 }),
      Deno.errors.InvalidData,
    );
    await serverSide;
  });
});

Deno.test("IOStream.startTls() refuses while a close callback keeps a read in flight", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const plain = await IOStream.connect(listener.addr);
  const server = await listener.accept();
  let closes = 0;
  plain.setCloseCallback(() => closes++);
  await assert.rejects(plain.startTls(false), /read is pending or in flight/);
  // Deno.startTls was never called: the plain stream still works.
  assert.equal(plain.closed(), false);
  await server.write(new Uint8Array([7]));
  assert.deepEqual([...await plain.readBytes(1)], [7]);
  server.close();
  plain.close();
  await new Promise((r) => setTimeout(r, 1));
  assert.equal(closes, 1);
});

Deno.test("IOStream.startTls() upgrades a client connection and retires the old stream", async () => {
  using listener = listenTls(["x-proto"]);
  const { plain, server } = await plainClient(listener);
  const serverHandshake = server.waitForHandshake();
  const secure = await plain.startTls(false, {
    hostname: "localhost",
    caCerts: [CA],
    alpnProtocols: ["x-proto"],
  });
  await serverHandshake;
  assert.ok(secure instanceof SSLIOStream);
  assert.equal(secure.alpnProtocol, "x-proto");
  assert.equal(plain.closed(), true);
  await assert.rejects(plain.write("x"), StreamClosedError);
  await secure.write("over tls\n");
  assert.equal(
    new TextDecoder().decode(await server.readUntil("\n")),
    "over tls\n",
  );
  secure.close();
  server.close();
});

Deno.test("IOStream.startTls() rejects a server certificate from the wrong CA", async () => {
  using listener = listenTls();
  const { plain, server } = await plainClient(listener);
  const serverHandshake = server.waitForHandshake().then(
    () => null,
    (e) => e,
  );
  await assert.rejects(
    plain.startTls(false, { hostname: "localhost", caCerts: [OTHER_CA] }),
    Deno.errors.InvalidData,
  );
  assert.ok((await serverHandshake) instanceof Deno.errors.InvalidData);
  assert.equal(plain.closed(), true);
  server.close();
});

Deno.test("IOStream.startTls() refuses while a read is pending and leaves the stream usable", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const plain = await IOStream.connect(listener.addr);
  const server = new IOStream(await listener.accept());
  const pending = plain.readUntil("\n");
  await assert.rejects(
    plain.startTls(false, { hostname: "localhost", caCerts: [CA] }),
    (err: Error) =>
      err.constructor === Error && /read is pending/.test(err.message),
  );
  await server.write("still plain\n");
  assert.equal(new TextDecoder().decode(await pending), "still plain\n");
  plain.close();
  server.close();
});

Deno.test("IOStream.startTls() refuses when data is buffered", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const plain = await IOStream.connect(listener.addr);
  const server = new IOStream(await listener.accept());
  await server.write("line\nextra");
  await plain.readUntil("\n");
  await assert.rejects(
    plain.startTls(false, { hostname: "localhost", caCerts: [CA] }),
    /5 unread bytes buffered/,
  );
  assert.equal(new TextDecoder().decode(await plain.readBytes(5)), "extra");
  plain.close();
  server.close();
});

Deno.test("IOStream.startTls(true) rejects: Deno cannot upgrade an accepted conn", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await IOStream.connect(listener.addr);
  const server = new IOStream(await listener.accept());
  const err = await server.startTls(true, { cert: CERT, key: KEY }).then(
    () => null,
    (e) => e,
  );
  assert.ok(err instanceof Error);
  assert.match(err.message, /Deno 2\.9 cannot upgrade an accepted plain/);
  assert.match(err.message, /node:tls/);
  assert.equal(server.closed(), false);
  await client.write("ok");
  assert.equal(new TextDecoder().decode(await server.readBytes(2)), "ok");
  client.close();
  server.close();
});

Deno.test("IOStream.startTls() on a stream that is already TLS rejects and leaves it untouched", async () => {
  const { client, server } = await alpnPair();
  using _client = client;
  using _server = server;
  await server.waitForHandshake();
  for (const stream of [client, server]) {
    for (const serverSide of [false, true]) {
      await assert.rejects(stream.startTls(serverSide), {
        name: "Error",
        message: "Cannot start TLS: the stream is already TLS",
      });
      assert.equal(stream.closed(), false);
    }
  }
  await assertCarries(client, server, "still tls\n");
});

Deno.test("IOStream.startTls() rejects badly typed options before touching the stream", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using plain = await IOStream.connect(listener.addr);
  using server = new IOStream(await listener.accept());
  const cases: [unknown, RegExp][] = [
    [null, /options must be an object, got null/],
    [{ hostname: 42 }, /hostname must be a string, got number 42/],
    [{ caCerts: CA }, /caCerts must be an array of strings, got string/],
    [
      { caCerts: [CA, 7] },
      /caCerts must be an array of strings, got number 7 at index 1/,
    ],
    [{ alpnProtocols: "h2" }, /alpnProtocols must be an array of strings/],
    // Deno.startTls has no client certificate: it would drop them silently.
    [{ cert: CERT, key: KEY }, /cert and key are for the server side/],
    [{ cert: CERT }, /cert and key are for the server side/],
  ];
  for (const [tls, message] of cases) {
    await assert.rejects(
      plain.startTls(false, tls as never),
      { name: "TypeError", message },
    );
    assert.equal(plain.closed(), false, JSON.stringify(tls));
  }
  await assert.rejects(plain.startTls("client" as never), {
    name: "TypeError",
    message: /serverSide must be a boolean, got string "client"/,
  });
  await assertCarries(plain, server, "still plain\n");
});

Deno.test("IOStream.startTls() gives up on a server that never answers the handshake, and closes", async (t) => {
  // A plain TCP server: it takes the ClientHello and says nothing.
  async function silentServer(
    giveUp: WaitOptions,
    expected: (err: unknown) => boolean,
  ): Promise<void> {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const plain = await IOStream.connect(listener.addr);
    using server = await listener.accept();
    await assert.rejects(
      plain.startTls(false, { hostname: "localhost", caCerts: [CA] }, giveUp),
      expected,
    );
    assert.equal(plain.closed(), true);
    const hello = new Uint8Array(4096);
    assert.ok((await server.read(hello) ?? 0) > 0, "no ClientHello");
    // The sanitizers fail the step if the TLS connection or its handshake
    // were left behind (Deno keeps the socket until the server hangs up,
    // which `using` does).
  }
  await t.step("timeout", async () => {
    await silentServer({ timeout: 100 }, (err) => {
      assert.ok(err instanceof TimeoutError);
      assert.equal(err.message, "startTls() timed out after 100 ms");
      return true;
    });
  });
  await t.step("signal", async () => {
    const controller = new AbortController();
    const reason = new Error("no longer needed");
    setTimeout(() => controller.abort(reason), 20);
    await silentServer({ signal: controller.signal }, (err) => err === reason);
  });
});

Deno.test("IOStream.startTls() that gives up at once, or with bad give-up options, leaves the plain stream usable", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using plain = await IOStream.connect(listener.addr);
  using server = new IOStream(await listener.accept());
  const tls = { hostname: "localhost", caCerts: [CA] };
  const reason = new Error("already aborted");
  const cases: [WaitOptions, (err: unknown) => boolean][] = [
    [{ timeout: 0 }, (err) => err instanceof TimeoutError],
    [{ timeout: -1 }, (err) => err instanceof TimeoutError],
    [{ signal: AbortSignal.abort(reason) }, (err) => err === reason],
    [{ timeout: NaN }, (err) => err instanceof RangeError],
    [{ timeout: "1" as never }, (err) => err instanceof TypeError],
    [{ signal: {} as never }, (err) => err instanceof TypeError],
  ];
  for (const [giveUp, expected] of cases) {
    await assert.rejects(plain.startTls(false, tls, giveUp), expected);
    assert.equal(plain.closed(), false);
  }
  await assertCarries(plain, server, "still plain\n");
});

Deno.test("IOStream.startTls() with a timeout that does not fire upgrades and leaves no timer", async () => {
  using listener = listenTls();
  const { plain, server: accepted } = await plainClient(listener);
  using server = accepted;
  const serverHandshake = server.waitForHandshake();
  using secure = await plain.startTls(
    false,
    { hostname: "localhost", caCerts: [CA] },
    { timeout: 10_000, signal: new AbortController().signal },
  );
  await serverHandshake;
  await secure.write("tls");
  assert.equal(new TextDecoder().decode(await server.readBytes(3)), "tls");
});

Deno.test("IOStream.startTls() refuses on a Unix socket", async () => {
  const tmp = await Deno.makeTempDir();
  const path = `${tmp}/t.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const client = await IOStream.connect({ transport: "unix", path });
  const server = await listener.accept();
  await assert.rejects(client.startTls(false), /unix connection/);
  client.close();
  server.close();
  listener.close();
  await Deno.remove(tmp, { recursive: true });
});

Deno.test("SSLIOStream.waitForHandshake() reads each option once and waits on the values it read", async () => {
  using listener = listenTls();
  const { tcp, server } = await silentClient(listener);
  using _server = server;
  using _tcp = tcp;
  await assertWaitReadsOptionsOnce(
    (options) => server.waitForHandshake(options),
    (waiting) =>
      assert.rejects(waiting, {
        name: "TimeoutError",
        message: "waitForHandshake() timed out after 5 ms",
      }),
  );
});

Deno.test("SSLIOStream.connect() and IOStream.startTls() read the stream options once", async () => {
  using listener = listenTls();
  const addr = { hostname: "localhost", port: listener.addr.port };
  const tooMuch = new Uint8Array(100);
  // The maxBufferSize read applies to the stream made.
  const limitApplies = (stream: SSLIOStream) =>
    assert.rejects(stream.readBytes(100), { name: "UnsatisfiableReadError" });

  const connecting = fickleConnectOptions();
  const accepting = listener.accept();
  using client = await SSLIOStream.connect(
    { ...addr, caCerts: [CA] },
    connecting.options,
  );
  using server = new SSLIOStream(await accepting);
  await server.write(tooMuch);
  await limitApplies(client);
  assert.deepEqual(connecting.overRead(), []);

  // A stream keeps the options it read for the stream startTls() makes.
  const upgrading = fickleConnectOptions();
  const acceptingPlain = listener.accept();
  const plain = new IOStream(await Deno.connect(addr), upgrading.options);
  using serverOfPlain = new SSLIOStream(await acceptingPlain);
  const [secure] = await Promise.all([
    plain.startTls(false, { hostname: "localhost", caCerts: [CA] }),
    serverOfPlain.waitForHandshake(),
  ]);
  using _secure = secure;
  await serverOfPlain.write(tooMuch);
  await limitApplies(secure);
  assert.deepEqual(upgrading.overRead(), []);
});
