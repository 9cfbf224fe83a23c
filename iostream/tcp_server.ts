// Copyright the squall authors. MIT license.

import { AsyncLocalStorage } from "node:async_hooks";
import { setLongTimeout } from "../concurrent/_timer.ts";
import { reportCallbackError } from "../ioloop/_report.ts";
import { streamLimits, stringList } from "./_options.ts";
import { isTlsConn } from "./_tls_conn.ts";
import { typeName } from "./_type_name.ts";
import type { StreamOptions } from "./base_iostream.ts";
import { StreamClosedError } from "./errors.ts";
import { IOStream } from "./iostream.ts";
import { SSLIOStream } from "./ssl_iostream.ts";

/**
 * The function a {@linkcode TCPServer} calls for each accepted connection.
 *
 * It owns the stream: the server closes the stream when the handler throws
 * or rejects, and on {@linkcode TCPServer.close}. What it throws is
 * reported through the IOLoop's error handler, except a
 * {@linkcode StreamClosedError} once its stream is closed: the client left
 * (hung up mid-read, reset, or a TLS client left without `close_notify`),
 * or the server closed the stream; that is no bug, so a handler need not
 * catch it.
 */
export type StreamHandler = (
  stream: IOStream,
  address: Deno.Addr,
) => Promise<void> | void;

/** Options for {@linkcode TCPServer}. */
export interface TCPServerOptions extends StreamOptions {
  /**
   * Called for each accepted connection. Required unless a subclass
   * overrides {@linkcode TCPServer.handleStream}.
   */
  handler?: StreamHandler;
  /**
   * PEM certificate chain. With `key`, every listener made by
   * {@linkcode TCPServer.listen} speaks TLS and handlers get
   * {@linkcode SSLIOStream}s, handed over once their handshake is done.
   * {@linkcode TCPServer.addListener} then takes only TLS listeners: no
   * connection reaches a handler in plain text.
   *
   * Deno 2.9 caveats:
   * - A client that connects but never starts its handshake keeps its TCP
   *   connection open on Deno's side, even after
   *   {@linkcode TCPServer.close} closed its stream, until it sends
   *   something or hangs up.
   * - Accepted TLS connections keep Nagle's algorithm on: a `TlsConn` has
   *   no `setNoDelay` and `Deno.listenTls` no option for it, so
   *   `setNodelay()` cannot help. A small write sent while an earlier one
   *   is still unacknowledged can wait for the client's delayed ACK (up to
   *   ~40 ms); write each response with one `write()` call.
   */
  cert?: string;
  /** PEM private key that goes with `cert`. */
  key?: string;
  /** ALPN protocols offered by TLS listeners, most preferred first. */
  alpnProtocols?: string[];
  /**
   * TLS connections only: how many milliseconds a client may take to
   * complete its handshake. One that takes longer is closed without
   * reaching the handler, so the streams of clients that connect and never
   * speak do not pile up. (Deno 2.9 keeps the socket itself open until
   * such a client sends a whole TLS record or hangs up: closing a TLS
   * connection whose handshake is under way does not reach the socket.)
   * `Infinity` waits for ever (Tornado has no such limit; Node's
   * `tls.Server` has the same default).
   *
   * @default {120000}
   */
  handshakeTimeout?: number;
}

/** Where {@linkcode TCPServer.listen} listens. */
export interface TCPServerListenOptions {
  /**
   * TCP port; `0` picks a free one (read it from the return value or
   * {@linkcode TCPServer.addrs}).
   *
   * @default {0}
   */
  port?: number;
  /**
   * Interface to bind. As in `Deno.listen`, the default listens on every
   * IPv4 interface; pass `"127.0.0.1"` to stay local.
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * Listen on this Unix socket path instead of TCP (needs `--allow-read`
   * and `--allow-write` for the path). Excludes `port`, `hostname` and
   * `reusePort`.
   *
   * As with Tornado's `bind_unix_socket`, a socket file already at the path
   * is removed first: a server that crashed (or called `Deno.exit()`)
   * without closing its listener leaves one behind, and binding would fail
   * with `AddrInUse`. Anything else at the path (a file, a directory, a
   * symlink) is left alone and `listen()` throws an `Error` that says the
   * path is not a socket. `listen()` is synchronous and Deno has no
   * synchronous connect, so it cannot tell a stale socket from one a live
   * server still listens on: that server would quietly stop getting new
   * connections, and when it later closes its listener Deno deletes the
   * path, this server's socket included. Give each server its own path.
   * Closing the listener (`stop()`, `close()`) removes the socket file.
   */
  path?: string;
  /**
   * Set `SO_REUSEPORT` so several processes can accept on one port (Linux
   * spreads connections over them). Deno needs `--unstable-net` (or
   * `"unstable": ["net"]` in deno.json) for this.
   *
   * @default {false}
   */
  reusePort?: boolean;
}

/** Options for {@linkcode TCPServer.close}. */
export interface TCPServerCloseOptions {
  /**
   * How long (ms) to let running handlers finish before their streams are
   * closed under them; `0` closes them at once. Then handlers get one turn
   * of the event loop to wind up, and `close()` resolves even if some still
   * run (waiting on a queue or a lock, say): those are reported once
   * through the IOLoop's error handler and left to finish on their own.
   * Without it (and without `signal`) `close()` waits for the handlers
   * however long they take: a handler waiting to read from an idle client
   * keeps it waiting until that client sends or hangs up. A later `close()`
   * call with a timeout (or a signal) can still cut the wait short.
   *
   * @default {Infinity}
   */
  timeout?: number;
  /** Aborting it ends the wait for handlers early, like `timeout`. */
  signal?: AbortSignal;
}

// Delay after an accept() failure that is not the listener closing (EMFILE,
// ENFILE…): retrying at once would spin.
const ACCEPT_RETRY_DELAY = 50;

// accept() failed for one connection only, which its client reset before it
// was accepted: Linux hands the connection out and Deno's address lookup on
// it then fails with ENOTCONN; other systems fail accept() with ECONNABORTED.
function isGoneBeforeAccept(err: unknown): boolean {
  return err instanceof Deno.errors.NotConnected ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.ConnectionReset;
}

/**
 * A non-blocking TCP (or TLS, or Unix socket) server: Tornado's
 * `TCPServer`.
 *
 * Give it a handler in the options, or subclass it and override
 * {@linkcode TCPServer.handleStream}. Each accepted connection becomes an
 * {@linkcode IOStream} ({@linkcode SSLIOStream} with TLS) handed to the
 * handler with the peer's address. A handler that throws or rejects is
 * reported through the IOLoop's error handler (unless it is a
 * {@linkcode StreamClosedError} from its own closed stream: the client
 * left) and its stream is closed; other connections and the server go on.
 *
 * @example Echo one line over TCP
 * ```ts
 * import { IOStream, TCPServer } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * await using server = new TCPServer({
 *   async handler(stream) {
 *     const line = await stream.readUntil("\n");
 *     await stream.write(line);
 *     stream.close();
 *   },
 * });
 * const addr = server.listen({ port: 0, hostname: "127.0.0.1" });
 * assert.equal(addr.transport, "tcp");
 *
 * const client = await IOStream.connect({ hostname: "127.0.0.1", port: addr.port });
 * await client.write("hello\n");
 * assert.equal(new TextDecoder().decode(await client.readUntil("\n")), "hello\n");
 * client.close();
 * ```
 *
 * @example Subclass instead of passing a handler
 * ```ts
 * import { IOStream, TCPServer } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * class Greeter extends TCPServer {
 *   override async handleStream(stream: IOStream): Promise<void> {
 *     await stream.write("hi\n");
 *     stream.close();
 *   }
 * }
 * const server = new Greeter();
 * const { port } = server.listen(0, "127.0.0.1");
 * const client = await IOStream.connect({ hostname: "127.0.0.1", port });
 * assert.equal(new TextDecoder().decode(await client.readUntil("\n")), "hi\n");
 * client.close();
 * await server.close();
 * ```
 */
export class TCPServer {
  #handler: StreamHandler | undefined;
  #streamOptions: StreamOptions;
  #tls: { cert: string; key: string; alpnProtocols?: string[] } | undefined;
  #handshakeTimeout: number;
  #listeners = new Set<Deno.Listener>();
  #acceptLoops = new Set<Promise<void>>();
  #retries = new Map<ReturnType<typeof setTimeout>, () => void>();
  #tasks = new Set<Promise<void>>();
  // Tasks whose handler called close(): that call's wait leaves them out,
  // as they wait for it.
  #closers = new Set<Promise<void>>();
  #closerJoined = Promise.withResolvers<void>();
  #streams = new Set<IOStream>();
  // TLS streams still in their handshake (no handler runs for them yet),
  // each with that handshake settled.
  #handshaking = new Map<IOStream, Promise<unknown>>();
  // Handlers still running when a timeout or signal ended close(): nobody
  // waits for them any more.
  #abandoned = new Set<Promise<void>>();
  #pruneAt = 64;
  #closed = false;
  // The shutdown, done once handlers that called close() are left; then
  // once every handler has returned.
  #closing: Promise<void> | undefined;
  #settled: Promise<void> | undefined;
  // The grace period close() gives running handlers: any close() call's
  // timeout or signal can end it; once over, later calls arm nothing.
  // It resolves with how the grace period was cut short.
  #graceEnd = Promise.withResolvers<string>();
  #graceOver = false;
  #graceCleanups: Array<() => void> = [];
  // The same for the wait of calls from outside for handlers that called
  // close() themselves, which only outside calls' limits can end.
  #outsideEnd = Promise.withResolvers<string>();
  #outsideOver = false;
  #outsideCleanups: Array<() => void> = [];

  /**
   * Makes a server; it accepts nothing until {@linkcode TCPServer.listen}
   * or {@linkcode TCPServer.addListener}.
   *
   * @param options The handler, TLS material and stream options.
   */
  constructor(options: TCPServerOptions = {}) {
    const {
      handler,
      cert,
      key,
      alpnProtocols,
      handshakeTimeout = 120_000,
      ...streamOptions
    } = options;
    if (handler !== undefined && typeof handler !== "function") {
      throw new TypeError(
        `Cannot create TCPServer: handler must be a function, got ${
          typeName(handler)
        }`,
      );
    }
    if (
      handler === undefined &&
      this.handleStream === TCPServer.prototype.handleStream
    ) {
      throw new TypeError(
        "Cannot create TCPServer: pass options.handler or override handleStream()",
      );
    }
    if ((cert === undefined) !== (key === undefined)) {
      throw new TypeError(
        "Cannot create TCPServer: TLS needs both cert and key",
      );
    }
    if (alpnProtocols !== undefined && cert === undefined) {
      // Without TLS there is no ALPN: fail rather than serve plain TCP.
      throw new TypeError(
        "Cannot create TCPServer: alpnProtocols needs cert and key (TLS)",
      );
    }
    if (cert !== undefined && key !== undefined) {
      if (typeof cert !== "string" || typeof key !== "string") {
        throw new TypeError(
          "Cannot create TCPServer: cert and key must be PEM strings",
        );
      }
      // Checked here: Deno.listenTls would throw only at listen(), with a
      // message about v8 types.
      this.#tls = alpnProtocols === undefined ? { cert, key } : {
        cert,
        key,
        alpnProtocols: stringList(
          alpnProtocols,
          "Cannot create TCPServer: alpnProtocols",
        ),
      };
    }
    if (typeof handshakeTimeout !== "number") {
      throw new TypeError(
        `Cannot create TCPServer: handshakeTimeout must be a number of milliseconds, got ${
          typeName(handshakeTimeout)
        }`,
      );
    }
    if (!(handshakeTimeout > 0)) {
      throw new RangeError(
        `Cannot create TCPServer: handshakeTimeout must be positive, got ${handshakeTimeout}`,
      );
    }
    this.#handshakeTimeout = handshakeTimeout;
    // Bad stream options fail here, not on every accepted connection.
    streamLimits(streamOptions);
    this.#handler = handler;
    this.#streamOptions = streamOptions;
  }

  /**
   * Opens a listener and starts accepting on it.
   *
   * @param port TCP port; `0` picks a free one.
   * @param hostname Interface to bind (default: every IPv4 interface).
   * @returns The address actually bound (with the real port).
   */
  listen(port: number, hostname?: string): Deno.NetAddr;
  /**
   * Opens a TCP or Unix socket listener and starts accepting on it.
   *
   * @param options Port and hostname, or a Unix socket path.
   * @returns The address actually bound.
   *
   * @example Listen on a Unix socket
   * ```ts
   * import { IOStream, TCPServer } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * const dir = await Deno.makeTempDir();
   * const server = new TCPServer({
   *   handler: (stream) => stream.write("hi").finally(() => stream.close()),
   * });
   * const addr = server.listen({ path: `${dir}/app.sock` });
   * assert.equal(addr.transport, "unix");
   * const client = await IOStream.connect(addr);
   * assert.equal(new TextDecoder().decode(await client.readUntilClose()), "hi");
   * client.close();
   * await server.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  listen(options: TCPServerListenOptions & { path: string }): Deno.UnixAddr;
  /**
   * Opens a TCP or Unix socket listener and starts accepting on it.
   *
   * @param options Port and hostname, or a Unix socket path.
   * @returns The address actually bound.
   */
  listen(options: TCPServerListenOptions & { path?: undefined }): Deno.NetAddr;
  /**
   * Opens a TCP or Unix socket listener and starts accepting on it.
   *
   * @param options Port and hostname, or a Unix socket path.
   * @returns The address actually bound.
   */
  listen(options: TCPServerListenOptions): Deno.NetAddr | Deno.UnixAddr;
  listen(
    portOrOptions: number | TCPServerListenOptions,
    hostname?: string,
  ): Deno.NetAddr | Deno.UnixAddr {
    if (this.#closed) throw new Error("Cannot listen: the TCPServer is closed");
    const options: TCPServerListenOptions = typeof portOrOptions === "number"
      ? (hostname === undefined ? { port: portOrOptions } : {
        port: portOrOptions,
        hostname,
      })
      : portOrOptions;
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        `Cannot listen: expected a port number or options, got ${
          typeName(portOrOptions)
        }`,
      );
    }
    const listener = this.#open(options);
    this.#start(listener);
    return listener.addr as Deno.NetAddr | Deno.UnixAddr;
  }

  #open(options: TCPServerListenOptions): Deno.Listener {
    // Each option read once: a getter could give another value later.
    const { port: givenPort, hostname, path, reusePort = false } = options;
    if (path !== undefined) {
      if (typeof path !== "string" || path === "") {
        throw new TypeError(
          `Cannot listen: path must be a non-empty string, got ${
            typeName(path)
          }`,
        );
      }
      if (givenPort !== undefined || hostname !== undefined || reusePort) {
        throw new TypeError(
          "Cannot listen: path excludes port, hostname and reusePort",
        );
      }
      if (this.#tls) {
        throw new TypeError(
          "Cannot listen: Deno cannot serve TLS on a Unix socket",
        );
      }
      removeStaleSocket(path);
      return Deno.listen({ transport: "unix", path });
    }
    const port = givenPort === undefined ? 0 : givenPort;
    if (typeof port !== "number" || !Number.isInteger(port)) {
      throw new TypeError(
        `Cannot listen: port must be an integer, got ${typeName(port)}`,
      );
    }
    if (port < 0 || port > 65535) {
      throw new RangeError(
        `Cannot listen: port must be between 0 and 65535, got ${port}`,
      );
    }
    if (hostname !== undefined && typeof hostname !== "string") {
      throw new TypeError(
        `Cannot listen: hostname must be a string, got ${typeName(hostname)}`,
      );
    }
    if (reusePort && !unstableNetEnabled()) {
      // Deno.listen({ reusePort }) without the flag ends the whole process
      // (exit code 70) instead of throwing, so check first.
      throw new Error(
        "Cannot listen with reusePort: Deno needs the --unstable-net flag " +
          '(or "unstable": ["net"] in deno.json) for it',
      );
    }
    const tcp: Deno.TcpListenOptions = { port };
    if (hostname !== undefined) tcp.hostname = hostname;
    if (reusePort) tcp.reusePort = true;
    if (this.#tls) {
      const tls: Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem = {
        ...tcp,
        cert: this.#tls.cert,
        key: this.#tls.key,
      };
      if (this.#tls.alpnProtocols) {
        tls.alpnProtocols = this.#tls.alpnProtocols;
      }
      return Deno.listenTls(tls);
    }
    return Deno.listen(tcp);
  }

  /**
   * Starts accepting on a listener the caller opened (`Deno.listen`,
   * `Deno.listenTls`, a Unix socket…). The server closes it on
   * {@linkcode TCPServer.stop}. Connections from a TLS listener become
   * {@linkcode SSLIOStream}s (handed over once their handshake is done,
   * within `handshakeTimeout`), on any server.
   *
   * A server given `cert` and `key` serves TLS only: it takes only
   * listeners from `Deno.listenTls` (a plain one throws a `TypeError`), and
   * closes, unserved, any connection that is not TLS all the same.
   *
   * @param listener An open listener nobody else accepts on.
   * @throws {TypeError} When `listener` is not a listener, or is not a TLS
   * listener while the server has `cert` and `key`. The listener stays the
   * caller's then.
   *
   * @example Serve on a listener you made
   * ```ts
   * import { IOStream, TCPServer } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
   * await using server = new TCPServer({
   *   handler: (stream) => stream.write("ok").finally(() => stream.close()),
   * });
   * server.addListener(listener);
   * const client = await IOStream.connect(listener.addr);
   * assert.equal(new TextDecoder().decode(await client.readUntilClose()), "ok");
   * ```
   */
  addListener(listener: Deno.Listener): void {
    if (
      typeof listener !== "object" || listener === null ||
      typeof listener.accept !== "function"
    ) {
      throw new TypeError("Cannot add a listener: expected a Deno.Listener");
    }
    if (this.#closed) {
      throw new Error("Cannot add a listener: the TCPServer is closed");
    }
    if (this.#listeners.has(listener)) {
      throw new Error("Cannot add a listener: it was already added");
    }
    if (this.#tls && !isTlsListener(listener)) {
      // Its clients would talk to the handler in plain text, which the
      // server's cert and key promise they never do (Tornado wraps every
      // connection when ssl_options is set; Deno cannot upgrade a plain
      // accepted connection).
      throw new TypeError(
        "Cannot add a listener: this TCPServer has cert and key, so it " +
          "serves TLS only, and the listener is not a Deno.TlsListener " +
          `(got ${typeName(listener)}); make it with Deno.listenTls`,
      );
    }
    this.#start(listener);
  }

  /**
   * The addresses of the open listeners, in the order they were added
   * (with real ports where port 0 was asked for).
   *
   * @example Find the port the system picked
   * ```ts
   * import { TCPServer } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * await using server = new TCPServer({ handler: (s) => s.close() });
   * server.listen({ port: 0, hostname: "127.0.0.1" });
   * const [addr] = server.addrs as Deno.NetAddr[];
   * assert.ok(addr!.port > 0);
   * ```
   */
  get addrs(): Deno.Addr[] {
    return [...this.#listeners].map((listener) => listener.addr);
  }

  /**
   * Handles one accepted connection. The default calls the `handler`
   * option; subclasses override it instead. Its stream is closed if it
   * throws or rejects.
   *
   * @param stream The connection, already through its TLS handshake.
   * @param address The peer's address.
   * @returns Whatever the handler returns; the server waits for it in
   * {@linkcode TCPServer.close}.
   */
  handleStream(stream: IOStream, address: Deno.Addr): Promise<void> | void {
    // The constructor guarantees a handler when this is not overridden.
    return this.#handler!(stream, address);
  }

  /**
   * Stops accepting: closes every listener. Running connections go on;
   * use {@linkcode TCPServer.close} to end them and wait for the release
   * of everything.
   *
   * @example Stop accepting
   * ```ts
   * import { TCPServer } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * const server = new TCPServer({ handler: (s) => s.close() });
   * server.listen(0, "127.0.0.1");
   * server.stop();
   * assert.deepEqual(server.addrs, []);
   * await server.close(); // waits for the listener's release
   * ```
   */
  stop(): void {
    for (const listener of this.#listeners) {
      try {
        listener.close();
      } catch {
        // Already closed by its owner: nothing to release.
      }
    }
    this.#listeners.clear();
    for (const [id, resume] of this.#retries) {
      clearTimeout(id);
      resume();
    }
    this.#retries.clear();
  }

  /**
   * Shuts down gracefully: stops accepting, lets running handlers finish
   * (up to `timeout` ms), then closes the streams still open and resolves
   * once every handler has returned.
   *
   * Without a `timeout` or `signal` the wait has no limit, as with
   * asyncio's `Server.wait_closed()`: handlers blocked reading from idle
   * clients keep it waiting until those clients send or hang up. Pass
   * `timeout` to bound it, or `{ timeout: 0 }` to close every stream at
   * once (Tornado's `close_all_connections()`). Calling it again joins the
   * same shutdown, and that call's `timeout` or `signal` can end the wait
   * earlier (say, on a second Ctrl-C).
   *
   * Once a timeout or signal has ended the wait and the streams are
   * closed, handlers get one turn of the event loop to react (their reads
   * and writes fail, close callbacks run), and `close()` resolves then,
   * even if some handler still runs because it waits on something other
   * than its stream (a queue, a lock, a timer). Those handlers are left to
   * finish on their own and reported once through the IOLoop's error
   * handler ("N TCPServer handlers still running after close() timed
   * out"). (Tornado's `TCPServer.stop()` does not wait for handlers at
   * all.)
   *
   * TLS clients still in their handshake are closed at once: no handler
   * runs for them, so there is nothing to wait for. Called from inside a
   * handler (say, on a "shutdown" command), or from work that handler
   * started (its promises and timers, but not IOLoop callbacks), `close()`
   * waits for every handler but that one, which is waiting for it. Its
   * stream is closed like the others when the grace period ends: reply
   * before calling `close()`. Calls from outside also wait for such a
   * handler to return: what it does once its `close()` has resolved is
   * part of the shutdown. The `timeout` or `signal` of a call from outside
   * bounds that wait too (the handler gets one turn of the event loop once
   * the limit is reached, then is left and reported once, apart from the
   * others: "N TCPServer handlers that called close() still running after
   * close() timed out"); the handler's own limit bounds only its wait for
   * the others.
   *
   * @param options How long to wait for handlers.
   * @returns A promise that resolves when every listener, stream and
   * handler is done (but handlers a timeout or signal gave up on, see
   * above).
   *
   * @example Close idle connections after a grace period
   * ```ts
   * import { IOStream, StreamClosedError, TCPServer } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * let handlerSaw: unknown;
   * const server = new TCPServer({
   *   async handler(stream) {
   *     try {
   *       await stream.readUntil("\n"); // the client never sends a line
   *     } catch (err) {
   *       handlerSaw = err;
   *     }
   *   },
   * });
   * const { port } = server.listen(0, "127.0.0.1");
   * const client = await IOStream.connect({ hostname: "127.0.0.1", port });
   * await client.write("no newline");
   * await server.close({ timeout: 50 });
   * assert.ok(handlerSaw instanceof StreamClosedError);
   * assert.equal((await client.readUntilClose()).length, 0);
   * ```
   */
  close(options: TCPServerCloseOptions = {}): Promise<void> {
    let limits: TCPServerCloseOptions;
    try {
      limits = readCloseOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const caller = callerTask.getStore();
    const fromHandler = caller !== undefined && this.#tasks.has(caller);
    if (fromHandler && !this.#closers.has(caller)) {
      this.#closers.add(caller);
      this.#closerJoined.resolve();
      this.#closerJoined = Promise.withResolvers();
    }
    this.#closing ??= this.#shutdown();
    if (!this.#graceOver) {
      armLimits(limits, this.#graceEnd.resolve, this.#graceCleanups);
    }
    if (fromHandler) return this.#closing;
    if (!this.#outsideOver) {
      armLimits(limits, this.#outsideEnd.resolve, this.#outsideCleanups);
    }
    return this.#settled ??= this.#closing.then(() => this.#settle());
  }

  // After the shutdown: waits for the handlers that called close() (and
  // for ones still running). A limit of a call from outside ends that wait
  // too: those handlers then get one turn of the event loop, as the others
  // did, and the ones still running are left and reported. A handler's own
  // limit bounds only its wait for the others.
  async #settle(): Promise<void> {
    try {
      const cut = await Promise.race([
        this.#allTasks().then(() => undefined),
        this.#outsideEnd.promise,
      ]);
      if (cut !== undefined) {
        this.#reportLeft(await this.#oneTurn(), " that called close()", cut);
      }
    } finally {
      this.#outsideOver = true;
      for (const cleanup of this.#outsideCleanups) cleanup();
      this.#outsideCleanups.length = 0;
    }
  }

  // Gives the handlers not left behind yet one turn of the event loop to
  // return; resolves with those that did not.
  async #oneTurn(): Promise<Array<Promise<void>>> {
    const turn = nextTurn();
    try {
      await Promise.race([this.#allTasks(), turn.done]);
    } finally {
      turn.cancel();
    }
    return [...this.#tasks].filter((t) => !this.#abandoned.has(t));
  }

  // Leaves `left` running and reports them once (`which`: what they did).
  #reportLeft(left: Array<Promise<void>>, which: string, cut: string): void {
    if (left.length === 0) return;
    for (const task of left) this.#abandoned.add(task);
    reportCallbackError(
      new Error(
        `${left.length} TCPServer handler${
          left.length === 1 ? "" : "s"
        }${which} still running after close() ${cut}`,
      ),
      "TCPServer close",
    );
  }

  async #shutdown(): Promise<void> {
    this.#closed = true;
    this.stop();
    await Promise.allSettled(this.#acceptLoops);
    // Clients still in their TLS handshake have been served nothing yet:
    // waiting for them could take up to handshakeTimeout.
    for (const stream of this.#handshaking.keys()) stream.close();
    let cut: string | undefined;
    try {
      cut = await Promise.race([
        this.#handlersDone().then(() => undefined),
        this.#graceEnd.promise,
      ]);
    } finally {
      this.#graceOver = true;
      for (const cleanup of this.#graceCleanups) cleanup();
      this.#graceCleanups.length = 0;
    }
    for (const stream of this.#streams) stream.close();
    this.#streams.clear();
    if (cut === undefined) {
      await this.#handlersDone();
    } else {
      await this.#handlersReact(cut);
    }
  }

  // After a timeout or signal cut the grace period short and the streams
  // were closed: handlers that only wait on their stream have failed by
  // now, and get a turn of the event loop (close callbacks included) to
  // wind up. One that waits on something else (a queue, a lock, a timer)
  // could hold close() for ever, which the timeout is there to prevent:
  // it is left running and reported.
  async #handlersReact(cut: string): Promise<void> {
    // Those handshakes end with their closed streams: Deno's handshake op
    // must be over before close() resolves.
    await Promise.allSettled(this.#handshaking.values());
    const turn = nextTurn();
    try {
      await Promise.race([this.#handlersDone(), turn.done]);
    } finally {
      turn.cancel();
    }
    this.#reportLeft(
      [...this.#tasks].filter((t) => !this.#closers.has(t)),
      "",
      cut,
    );
  }

  // Every handler has returned, except the ones waiting in close().
  async #handlersDone(): Promise<void> {
    for (;;) {
      const running = [...this.#tasks].filter((t) => !this.#closers.has(t));
      if (running.length === 0) return;
      await Promise.race([
        Promise.allSettled(running),
        this.#closerJoined.promise,
      ]);
    }
  }

  // Every handler has returned, except the ones close() gave up on.
  async #allTasks(): Promise<void> {
    for (;;) {
      const running = [...this.#tasks].filter((t) => !this.#abandoned.has(t));
      if (running.length === 0) return;
      await Promise.allSettled(running);
    }
  }

  /**
   * Same as {@linkcode TCPServer.close} with no timeout: leaving an
   * `await using` block waits for every running handler.
   *
   * @returns The shutdown's promise.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #start(listener: Deno.Listener): void {
    this.#listeners.add(listener);
    const loop = this.#acceptLoop(listener);
    this.#acceptLoops.add(loop);
    loop.finally(() => this.#acceptLoops.delete(loop));
  }

  async #acceptLoop(listener: Deno.Listener): Promise<void> {
    while (this.#listeners.has(listener)) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (
          !this.#listeners.has(listener) ||
          err instanceof Deno.errors.BadResource ||
          err instanceof Deno.errors.Interrupted
        ) {
          this.#listeners.delete(listener);
          return;
        }
        // That one connection died in the accept queue (the client reset
        // it): nothing to report or wait for, as in Tornado. Any client
        // can do this, so a pause here would let it stall the server.
        if (isGoneBeforeAccept(err)) continue;
        reportCallbackError(err, "TCPServer accept");
        // stop() clears the timer and resumes the loop, which then ends.
        await new Promise<void>((resolve) => {
          const id = setTimeout(() => {
            this.#retries.delete(id);
            resolve();
          }, ACCEPT_RETRY_DELAY);
          this.#retries.set(id, resolve);
        });
        continue;
      }
      if (!this.#listeners.has(listener)) {
        conn.close();
        return;
      }
      this.#accepted(conn);
    }
  }

  #accepted(conn: Deno.Conn): void {
    let stream: IOStream;
    const tls = isTlsConn(conn);
    if (this.#tls && !tls) {
      // addListener() refuses plain listeners; this one passed for a TLS
      // listener yet gave a plain connection. Never serve it in plain text.
      try {
        conn.close();
      } catch {
        // Already closed: nothing to release.
      }
      reportCallbackError(
        new Error(
          "TCPServer with cert and key closed a connection that is not TLS " +
            "(its listener gives plain connections)",
        ),
        "TCPServer accept",
      );
      return;
    }
    try {
      stream = tls
        ? new SSLIOStream(conn, this.#streamOptions)
        : new IOStream(conn, this.#streamOptions);
    } catch (err) {
      try {
        conn.close();
      } catch {
        // The stream constructor may have closed it already.
      }
      reportCallbackError(err, "TCPServer stream setup");
      return;
    }
    this.#prune();
    this.#streams.add(stream);
    // The handler runs with its task in callerTask, so that close() called
    // from it knows not to wait for it. The task is known (and counted)
    // before the handler runs: it may call close() before its first await.
    const { promise: task, resolve } = Promise.withResolvers<void>();
    this.#tasks.add(task);
    task.then(() => {
      this.#tasks.delete(task);
      this.#closers.delete(task);
      this.#abandoned.delete(task);
    });
    callerTask.run(task, () => this.#serve(stream, conn.remoteAddr, tls))
      .then(resolve, (err) => {
        reportCallbackError(err, "TCPServer connection"); // a bug of ours
        resolve();
      });
  }

  async #serve(
    stream: IOStream,
    address: Deno.Addr,
    tls: boolean,
  ): Promise<void> {
    if (tls) {
      const handshake = (stream as SSLIOStream).waitForHandshake({
        timeout: this.#handshakeTimeout,
      });
      this.#handshaking.set(stream, handshake);
      try {
        await handshake;
      } catch {
        // One client's failed (or too slow) handshake concerns only that
        // client.
        stream.close();
        this.#streams.delete(stream);
        return;
      } finally {
        this.#handshaking.delete(stream);
      }
      // A handler starting once close() began would miss its grace period.
      if (stream.closed() || this.#closed) {
        stream.close();
        this.#streams.delete(stream);
        return;
      }
    }
    try {
      await this.handleStream(stream, address);
    } catch (err) {
      // A read or write failing on the handler's own closed stream means
      // the client went away (a reset, a TLS client leaving without
      // close_notify) or close() ended it: not a bug to report, as Tornado
      // does not log connection resets.
      if (!(err instanceof StreamClosedError && stream.closed())) {
        reportCallbackError(
          err,
          `TCPServer handler for ${formatAddr(address)}`,
        );
      }
      stream.close();
    }
    if (stream.closed()) this.#streams.delete(stream);
  }

  // Streams a handler kept open stay tracked so close() can end them; drop
  // the ones closed since, at a cost amortized over accepts.
  #prune(): void {
    if (this.#streams.size < this.#pruneAt) return;
    for (const stream of this.#streams) {
      if (stream.closed()) this.#streams.delete(stream);
    }
    this.#pruneAt = Math.max(64, this.#streams.size * 2);
  }
}

// Arms close()'s `timeout` and `signal` (as read by readCloseOptions) to
// call `end` with how the wait was cut short; the first limit reached, of
// any close() call, ends it. What is armed goes in `cleanups`.
function armLimits(
  { timeout, signal }: TCPServerCloseOptions,
  end: (how: string) => void,
  cleanups: Array<() => void>,
): void {
  if (signal?.aborted || timeout === 0) {
    end(signal?.aborted ? "was aborted" : "timed out");
    return;
  }
  // setTimeout fires at once for delays past 2^31 - 1 ms.
  if (timeout !== undefined) {
    cleanups.push(setLongTimeout(() => end("timed out"), timeout));
  }
  if (signal !== undefined) {
    const aborted = () => end("was aborted");
    signal.addEventListener("abort", aborted, { once: true });
    cleanups.push(() => signal.removeEventListener("abort", aborted));
  }
}

// A turn of the event loop: what close() gives handlers to react to their
// closed streams. It ends after the immediates queued so far (close
// callbacks among them) and what they set off, then a timer turn for good
// measure. `cancel` drops what is still pending (the sanitizers count it).
function nextTurn(): { done: Promise<void>; cancel(): void } {
  let immediate: ReturnType<typeof setImmediate> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<void>((resolve) => {
    immediate = setImmediate(() => {
      immediate = undefined;
      timer = setTimeout(resolve, 0);
    });
  });
  return {
    done,
    cancel() {
      if (immediate !== undefined) clearImmediate(immediate);
      clearTimeout(timer);
    },
  };
}

// The task of the handler running, for close() called from inside one.
const callerTask = new AsyncLocalStorage<Promise<void>>();

// Whether `listener` comes from Deno.listenTls. Deno exposes no TlsListener
// class to test with `instanceof`, and a TLS listener has no member a plain
// one lacks, so its class name is what tells them apart.
function isTlsListener(listener: Deno.Listener): boolean {
  for (
    let proto: unknown = Object.getPrototypeOf(listener);
    proto !== null && proto !== undefined;
    proto = Object.getPrototypeOf(proto)
  ) {
    if (
      (proto as { constructor?: { name?: unknown } }).constructor?.name ===
        "TlsListener"
    ) {
      return true;
    }
  }
  return false;
}

// Clears the way for a Unix socket listener: a socket file at `path` (left
// by a server that died without closing its listener) goes; anything else
// there is not ours to delete.
function removeStaleSocket(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (info.isSocket === null) return; // unknown here: let Deno.listen decide
  if (!info.isSocket) {
    throw new Error(`Cannot listen on ${path}: it exists and is not a socket`);
  }
  try {
    Deno.removeSync(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

function unstableNetEnabled(): boolean {
  // Deno.listenDatagram exists only when the "net" unstable feature is on.
  return typeof (Deno as { listenDatagram?: unknown }).listenDatagram ===
    "function";
}

function formatAddr(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return addr.hostname.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }
  return "path" in addr ? `${addr.transport}:${addr.path ?? ""}` : "peer";
}

// Reads the options of close() once and checks them; the values read are
// what the call uses (a getter could give others on a second read).
function readCloseOptions(
  options: TCPServerCloseOptions,
): TCPServerCloseOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot close TCPServer: options must be an object, got ${
        typeName(options)
      }`,
    );
  }
  const { timeout, signal } = options;
  if (timeout !== undefined) {
    if (typeof timeout !== "number") {
      throw new TypeError(
        `Cannot close TCPServer: timeout must be a number, got ${
          typeName(timeout)
        }`,
      );
    }
    if (!(timeout >= 0)) {
      throw new RangeError(
        `Cannot close TCPServer: timeout must be a non-negative number of milliseconds, got ${timeout}`,
      );
    }
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(
      `Cannot close TCPServer: signal must be an AbortSignal, got ${
        typeName(signal)
      }`,
    );
  }
  const limits: TCPServerCloseOptions = {};
  if (timeout !== undefined) limits.timeout = timeout;
  if (signal !== undefined) limits.signal = signal;
  return limits;
}
