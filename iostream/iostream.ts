// Copyright the squall authors. MIT license.

import { BaseIOStream, type StreamOptions } from "./base_iostream.ts";
import { giveUpOnMaking } from "./_give_up.ts";
import { ownStreamOptions, stringList } from "./_options.ts";
import { handshaken } from "./_handshaken.ts";
import { isTlsConn } from "./_tls_conn.ts";
import { typeName } from "./_type_name.ts";
import type { SSLIOStream } from "./ssl_iostream.ts";
import type { WaitOptions } from "../locks/types.ts";

/**
 * TLS settings for {@linkcode IOStream.startTls}.
 *
 * @example Upgrade a plain connection (client side)
 * ```ts
 * import { IOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * const dir = new URL("../tests/testdata/", import.meta.url);
 * const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));
 * using listener = Deno.listenTls({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   cert: read("server.crt"),
 *   key: read("server.key"),
 * });
 * const accepting = listener.accept();
 * const plain = await IOStream.connect(listener.addr);
 * const server = await accepting;
 * const serverDone = server.handshake();
 * const tls = await plain.startTls(false, {
 *   hostname: "localhost",
 *   caCerts: [read("ca.crt")],
 * });
 * await serverDone;
 * assert.equal(plain.closed(), true);
 * tls.close();
 * server.close();
 * ```
 */
export interface StartTlsOptions {
  /**
   * The server name to verify the certificate against (and to send as SNI).
   *
   * @default {"127.0.0.1"} (Deno's default)
   */
  hostname?: string;
  /**
   * PEM certificates of the authorities to trust instead of the system
   * store.
   */
  caCerts?: string[];
  /**
   * Server side only: the PEM certificate chain. Unusable in Deno 2.9,
   * which has no server-side upgrade and whose `Deno.startTls` cannot send
   * a client certificate: `startTls` rejects with a `TypeError` when it is
   * set.
   */
  cert?: string;
  /** Server side only: the PEM private key; unusable, as `cert` is. */
  key?: string;
  /** Application protocols to offer through ALPN, most preferred first. */
  alpnProtocols?: string[];
}

/**
 * Options of {@linkcode IOStream.connect} and `SSLIOStream.connect`: the
 * new stream's buffer limits, and when to give up connecting. Giving up
 * closes whatever was made so far; nothing is left open.
 *
 * @example Let the user cancel a connect
 * ```ts
 * import { IOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const cancel = new AbortController();
 * cancel.abort(new Error("cancelled by the user"));
 * await assert.rejects(
 *   IOStream.connect(listener.addr, { signal: cancel.signal }),
 *   { message: "cancelled by the user" },
 * );
 * ```
 */
export interface StreamConnectOptions extends StreamOptions {
  /**
   * Give up after this many milliseconds, rejecting with `TimeoutError`.
   * It covers the whole connect: for `SSLIOStream.connect`, the TLS
   * handshake too. `0` (or less) fails at once without connecting;
   * `Infinity` waits as long as the system does (minutes for a host that
   * never answers).
   *
   * @default {Infinity}
   */
  timeout?: number;
  /**
   * Give up when aborted, rejecting with `signal.reason`. An already
   * aborted signal rejects without connecting.
   */
  signal?: AbortSignal;
}

/**
 * A buffered stream over a `Deno.Conn`: a TCP or Unix socket connection.
 *
 * Tornado's `tornado.iostream.IOStream`. TCP connections get Nagle's
 * algorithm turned off (`setNoDelay(true)`), since Deno leaves it on and
 * that adds ~40 ms to small request/response exchanges.
 *
 * @example Talk to a loopback server
 * ```ts
 * import { IOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await IOStream.connect(listener.addr);
 * const server = new IOStream(await listener.accept());
 * await client.write("hello\n");
 * const line = await server.readUntil("\n");
 * assert.equal(new TextDecoder().decode(line), "hello\n");
 * client.close();
 * server.close();
 * ```
 */
export class IOStream extends BaseIOStream {
  readonly #conn: Deno.Conn;
  readonly #options: StreamOptions;
  // Set when the conn was handed to a TLS stream: closing must not touch it.
  #detached = false;

  /**
   * Wraps a connection; the stream owns it from now on and closes it.
   *
   * @param conn A connection from `Deno.connect` or `Deno.listen`.
   * @param options Buffer limits.
   */
  constructor(conn: Deno.Conn, options: StreamOptions = {}) {
    // Read once: startTls() makes its stream from this copy.
    const own = ownStreamOptions(options);
    super(own);
    this.#conn = conn;
    this.#options = own;
    this.setNodelay(true);
  }

  /**
   * Connects to a TCP or Unix socket address.
   *
   * @param addr Where to connect: `{ hostname, port }` or
   * `{ transport: "unix", path }` (a listener's `addr` also works).
   * @param options Buffer limits, and `timeout`/`signal` to give up
   * connecting (see {@linkcode StreamConnectOptions}).
   * @returns The connected stream. Failures reject with the error Deno
   * raised, e.g. `Deno.errors.ConnectionRefused`; giving up rejects with
   * `TimeoutError` or the signal's reason.
   *
   * @example Connect over a Unix socket
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * const path = Deno.makeTempDirSync() + "/example.sock";
   * const listener = Deno.listen({ transport: "unix", path });
   * const client = await IOStream.connect({ transport: "unix", path });
   * const server = new IOStream(await listener.accept());
   * await client.write("over unix");
   * assert.equal(new TextDecoder().decode(await server.readBytes(9)), "over unix");
   * client.close();
   * server.close();
   * listener.close();
   * ```
   *
   * @example Give up connecting after two seconds
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import { TimeoutError } from "@squall/io/concurrent";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * try {
   *   using stream = await IOStream.connect(listener.addr, { timeout: 2000 });
   *   await stream.write("hello");
   * } catch (err) {
   *   if (!(err instanceof TimeoutError)) throw err;
   *   console.error("no connection within 2 s");
   * }
   * ```
   */
  static async connect(
    addr:
      | Deno.ConnectOptions
      | Deno.UnixConnectOptions
      | Deno.NetAddr
      | Deno.UnixAddr,
    options: StreamConnectOptions = {},
  ): Promise<IOStream> {
    // Bad options fail before connecting; each is read once.
    const limits = ownStreamOptions(options);
    if (addr.transport === "udp") {
      throw new TypeError("Cannot connect a stream over UDP");
    }
    return await giveUpOnMaking(
      options,
      "a connect",
      "IOStream.connect()",
      async (signal) => wrap(await openConn(addr, signal), limits),
    );
  }

  /**
   * The wrapped connection.
   *
   * @example Inspect the peer address
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using _server = await listener.accept();
   * assert.equal((stream.conn.remoteAddr as Deno.NetAddr).port, listener.addr.port);
   * stream.close();
   * ```
   */
  get conn(): Deno.Conn {
    return this.#conn;
  }

  /**
   * Turns Nagle's algorithm off (`true`, the default for TCP) or back on
   * (`false`). A no-op on Unix sockets and TLS connections, which have no
   * such option in Deno.
   *
   * @param value `true` to send small writes at once.
   *
   * @example Turn Nagle's algorithm back on for bulk transfers
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const stream = await IOStream.connect(listener.addr);
   * using _server = await listener.accept();
   * stream.setNodelay(false);
   * assert.equal(stream.closed(), false);
   * stream.close();
   * ```
   */
  override setNodelay(value: boolean): void {
    const conn = this.#conn as Partial<Deno.TcpConn>;
    if (typeof conn.setNoDelay === "function" && !this.closed()) {
      conn.setNoDelay(value);
    }
  }

  /**
   * Upgrades this client connection to TLS with `Deno.startTls` and
   * resolves with the new stream once the handshake is done. This stream is
   * unusable afterwards (it counts as closed, without running its close
   * callback: it cannot have one, see below).
   *
   * Rejects with an `Error` when a read is pending or in flight (a close
   * callback or an iterator keeps one in flight, and clearing the callback
   * or ending the iteration cannot call back a read already started: it
   * stays in flight until the peer sends or closes, so set a close callback
   * only after the upgrade), data is
   * buffered or a write is in progress (Deno's upgrade would consume the
   * connection and strand the read), on non-TCP connections, and always for
   * `serverSide: true`: Deno 2.9 has no way to upgrade an accepted plain
   * `Deno.Conn` to a TLS server (only `node:tls` over a `node:net` socket
   * can). It also rejects with an `Error` on a stream that is already TLS
   * (an `SSLIOStream`), and with a `TypeError` for badly typed options or
   * for `cert`/`key` (Deno cannot send a client certificate here). All of
   * these leave this stream as it was. Certificates are verified.
   *
   * With `timeout` or `signal` in `options` it gives up (`TimeoutError`,
   * or the signal's reason) when the handshake takes too long: a server
   * that never answers it would otherwise keep it waiting for good. Giving
   * up closes the new TLS stream, so nothing is left open; this stream was
   * retired when the upgrade began. A timeout of 0 (or less), an already
   * aborted signal and bad values reject before the upgrade begins and leave
   * this stream usable. (API.md's `startTls` takes two parameters; this
   * optional third one is squall's addition, shaped like the give-up
   * options of reads and `connect()`.)
   *
   * @param serverSide Must be `false`.
   * @param tls `hostname` (a string), `caCerts` and `alpnProtocols` (arrays
   * of strings).
   * @param options `timeout` (milliseconds) and `signal` to give up.
   * @returns The TLS stream.
   *
   * @example Server-side upgrades are refused
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * const client = await IOStream.connect(listener.addr);
   * const server = new IOStream(await listener.accept());
   * await assert.rejects(server.startTls(true), /cannot upgrade an accepted/);
   * client.close();
   * server.close();
   * ```
   *
   * @example Give up on a server that never answers the handshake
   * ```ts
   * import { IOStream } from "@squall/io/iostream";
   * import { TimeoutError } from "@squall/io/concurrent";
   * import assert from "node:assert/strict";
   *
   * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 }); // no TLS
   * const plain = await IOStream.connect(listener.addr);
   * using server = await listener.accept();
   * await assert.rejects(
   *   plain.startTls(false, { hostname: "localhost" }, { timeout: 50 }),
   *   TimeoutError,
   * );
   * assert.equal(plain.closed(), true);
   * await server.read(new Uint8Array(4096)); // the ClientHello, unanswered
   * ```
   */
  async startTls(
    serverSide: boolean,
    tls: StartTlsOptions = {},
    options: WaitOptions = {},
  ): Promise<SSLIOStream> {
    // Loaded lazily: ssl_iostream.ts extends this module's class. Loaded
    // first: the checks below and the upgrade must happen in one turn.
    const { SSLIOStream } = await import("./ssl_iostream.ts");
    if (typeof serverSide !== "boolean") {
      throw new TypeError(
        `Cannot start TLS: serverSide must be a boolean, got ${
          typeName(serverSide)
        }`,
      );
    }
    if (isTlsConn(this.#conn)) {
      throw new Error("Cannot start TLS: the stream is already TLS");
    }
    if (serverSide) {
      throw new Error(
        "Deno 2.9 cannot upgrade an accepted plain Deno.Conn to a TLS server: " +
          "Deno.startTls is client-only (only node:tls over a node:net socket " +
          "can do a server-side upgrade); accept TLS with Deno.listenTls instead",
      );
    }
    if (this.closed()) {
      throw new Error("Cannot start TLS on a closed stream");
    }
    if (this.reading() || this.readInFlight()) {
      throw new Error(
        "Cannot start TLS while a read is pending or in flight: " +
          "Deno.startTls would consume the connection and strand the read",
      );
    }
    if (this.readBufferSize > 0) {
      throw new Error(
        `Cannot start TLS with ${this.readBufferSize} unread bytes buffered`,
      );
    }
    if (this.writing()) {
      throw new Error("Cannot start TLS while a write is in progress");
    }
    if (this.#conn.remoteAddr.transport !== "tcp") {
      throw new Error(
        `Cannot start TLS on a ${this.#conn.remoteAddr.transport} connection`,
      );
    }
    const opts = clientTlsOptions(tls);
    // Bad give-up options, an aborted signal or a timeout of 0 reject
    // before the upgrade starts: this stream is left as it was.
    return await giveUpOnMaking(
      options,
      "a TLS upgrade",
      "startTls()",
      (signal) => this.#upgrade(SSLIOStream, opts, signal),
    );
  }

  // Hands the connection to Deno.startTls and waits for the handshake; this
  // stream is retired at once. `signal` aborting closes the new stream.
  async #upgrade(
    TlsStream: typeof SSLIOStream,
    opts: Deno.StartTlsOptions,
    signal?: AbortSignal,
  ): Promise<SSLIOStream> {
    this.#detached = true;
    this.close();
    let tlsConn: Deno.TlsConn;
    try {
      tlsConn = await Deno.startTls(this.#conn as Deno.TcpConn, opts);
    } catch (err) {
      try {
        this.#conn.close();
      } catch {
        // Deno.startTls already took the connection: nothing left to close.
      }
      throw err;
    }
    return await handshaken(new TlsStream(tlsConn, this.#options), signal);
  }

  /**
   * Reads from the connection.
   *
   * @param buf Where to read to.
   * @returns How many bytes were read, or `null` at end of stream.
   */
  protected override readFromFd(buf: Uint8Array): Promise<number | null> {
    return this.#conn.read(buf);
  }

  /**
   * Writes to the connection.
   *
   * @param data The bytes to write.
   * @returns How many were written.
   */
  protected override writeToFd(data: Uint8Array): Promise<number> {
    return this.#conn.write(data);
  }

  /** Closes the connection (unless a TLS upgrade took it over). */
  protected override closeFd(): void {
    if (this.#detached) return;
    try {
      this.#conn.close();
    } catch {
      // Already closed underneath us (BadResource): nothing to release.
    }
  }
}

// Reads the options of a client-side startTls() once and checks them, so
// that bad ones fail before the plain stream is given up (Deno's own checks
// come after, with v8's messages).
function clientTlsOptions(tls: StartTlsOptions): Deno.StartTlsOptions {
  if (typeof tls !== "object" || tls === null) {
    throw new TypeError(
      `Cannot start TLS: options must be an object, got ${typeName(tls)}`,
    );
  }
  const { hostname, caCerts, alpnProtocols, cert, key } = tls;
  if (cert !== undefined || key !== undefined) {
    // Deno.startTls would drop them silently.
    throw new TypeError(
      "Cannot start TLS: cert and key are for the server side, and " +
        "Deno.startTls cannot present a client certificate " +
        "(SSLIOStream.connect can, through Deno.connectTls)",
    );
  }
  const opts: Deno.StartTlsOptions = {};
  if (hostname !== undefined) {
    if (typeof hostname !== "string") {
      throw new TypeError(
        `Cannot start TLS: hostname must be a string, got ${
          typeName(hostname)
        }`,
      );
    }
    opts.hostname = hostname;
  }
  if (caCerts !== undefined) {
    opts.caCerts = stringList(caCerts, "Cannot start TLS: caCerts");
  }
  if (alpnProtocols !== undefined) {
    opts.alpnProtocols = stringList(
      alpnProtocols,
      "Cannot start TLS: alpnProtocols",
    );
  }
  return opts;
}

// Opens a TCP or Unix connection; `signal` stops a TCP connect still under
// way (Deno cannot stop a Unix one, which never waits anyway).
function openConn(
  addr:
    | Deno.ConnectOptions
    | Deno.UnixConnectOptions
    | Deno.NetAddr
    | Deno.UnixAddr,
  signal?: AbortSignal,
): Promise<Deno.Conn> {
  if (addr.transport === "unix") {
    return Deno.connect({ transport: "unix", path: addr.path });
  }
  const tcp = addr as Deno.ConnectOptions;
  if (signal === undefined) return Deno.connect(tcp);
  return Deno.connect({
    ...tcp,
    signal: tcp.signal ? AbortSignal.any([tcp.signal, signal]) : signal,
  });
}

// The stream over a new connection, which it closes if it cannot be made.
function wrap(conn: Deno.Conn, options: StreamOptions): IOStream {
  try {
    return new IOStream(conn, options);
  } catch (err) {
    conn.close();
    throw err;
  }
}
