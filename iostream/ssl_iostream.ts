// Copyright the squall authors. MIT license.

import { quiet, rejected } from "../concurrent/_quiet.ts";
import type { StreamOptions } from "./base_iostream.ts";
import { StreamClosedError } from "./errors.ts";
import { IOStream, type StreamConnectOptions } from "./iostream.ts";
import type { WaitOptions } from "../locks/types.ts";
import {
  type GiveUp,
  giveUpOnMaking,
  giveUpWaiting,
  readGiveUp,
} from "./_give_up.ts";
import { handshaken } from "./_handshaken.ts";
import { ownStreamOptions } from "./_options.ts";
import { isTlsConn } from "./_tls_conn.ts";
import { typeName } from "./_type_name.ts";

/**
 * A buffered stream over a TLS connection (`Deno.TlsConn`).
 *
 * Tornado's `tornado.iostream.SSLIOStream`. Make one with
 * {@linkcode SSLIOStream.connect}, by wrapping a connection accepted from
 * `Deno.listenTls`, or with `IOStream.startTls`. Certificate chains are
 * always verified, against the system store or the given `caCerts`; no
 * option turns that off. The one relaxation is Deno's own
 * `unsafelyDisableHostnameVerification`, passed through as given, which
 * skips only the check of the server's name.
 *
 * @example A TLS client and server on loopback
 * ```ts
 * import { SSLIOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * const dir = new URL("../tests/testdata/", import.meta.url);
 * const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));
 * using listener = Deno.listenTls({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   cert: read("server.crt"),
 *   key: read("server.key"),
 *   alpnProtocols: ["echo/1"],
 * });
 * const accepting = listener.accept();
 * const client = await SSLIOStream.connect({
 *   hostname: "localhost",
 *   port: listener.addr.port,
 *   caCerts: [read("ca.crt")],
 *   alpnProtocols: ["echo/1"],
 * });
 * const server = new SSLIOStream(await accepting);
 * await server.waitForHandshake();
 * assert.equal(client.alpnProtocol, "echo/1");
 * await client.write("secret\n");
 * assert.equal(new TextDecoder().decode(await server.readUntil("\n")), "secret\n");
 * client.close();
 * server.close();
 * ```
 */
export class SSLIOStream extends IOStream {
  readonly #tls: Deno.TlsConn;
  #handshake: Promise<SSLIOStream> | null = null;
  #handshook = false;
  // The handshake's outcome is known (done, failed, or closed before it):
  // a give-up then has nothing to wait for.
  #handshakeSettled = false;
  #alpn: string | null = null;

  /**
   * Wraps a TLS connection; the stream owns it from now on.
   *
   * A connection accepted from `Deno.listenTls` (or made by
   * `Deno.connectTls`) keeps Nagle's algorithm on, and Deno 2.9 offers no
   * way to turn it off: `setNodelay()` is a no-op here. Small writes that
   * follow an unacknowledged one may then wait for the peer's delayed ACK
   * (up to ~40 ms); prefer one `write()` per message.
   *
   * @param conn A connection from `Deno.connectTls`, `Deno.listenTls` or
   * `Deno.startTls`.
   * @param options Buffer limits.
   * @throws {TypeError} When `conn` is not a TLS connection (it has no
   * `handshake()`): wrap a plain `Deno.Conn` in an `IOStream`, and upgrade
   * it with `IOStream.startTls` if need be. `conn` stays the caller's then.
   */
  constructor(conn: Deno.TlsConn, options: StreamOptions = {}) {
    // Checked before anything uses it: a plain conn would fail only at the
    // first handshake, read or write, with a message about a missing method.
    if (!isTlsConn(conn)) {
      throw new TypeError(
        `Cannot create SSLIOStream: expected a Deno.TlsConn, got ${
          typeName(conn)
        }`,
      );
    }
    super(conn, options);
    this.#tls = conn;
  }

  /**
   * Connects with TLS and resolves once the handshake is done. Unless the
   * options ask for more than `hostname`, `port`, `caCerts`, `alpnProtocols`
   * and `unsafelyDisableHostnameVerification` (e.g. a client certificate),
   * it connects over TCP, turns
   * Nagle's algorithm off and upgrades with `Deno.startTls`: a `TlsConn`
   * from `Deno.connectTls` keeps Nagle on and cannot turn it off.
   *
   * @param addr `hostname`, `port`, `caCerts`, `alpnProtocols`, … as for
   * `Deno.connectTls`.
   * @param options Buffer limits, and `timeout`/`signal` to give up
   * connecting, handshake included (see {@linkcode StreamConnectOptions}).
   * A connect made through `Deno.connectTls` (with a client certificate,
   * say) cannot be stopped once started: giving up rejects at once, and the
   * connection, if it still comes, is closed as it arrives.
   * @returns The connected stream. Connection and certificate failures
   * reject with Deno's error (`Deno.errors.InvalidData` for a certificate
   * that does not verify); giving up rejects with `TimeoutError` or the
   * signal's reason.
   *
   * @example A certificate from an unknown authority is refused
   * ```ts
   * import { SSLIOStream } from "@squall/io/iostream";
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
   * await assert.rejects(
   *   SSLIOStream.connect({ hostname: "localhost", port: listener.addr.port }),
   *   Deno.errors.InvalidData,
   * );
   * const server = await accepting;
   * await server.handshake().catch(() => {});
   * server.close();
   * ```
   */
  static override async connect(
    addr:
      | Deno.ConnectTlsOptions
      | (Deno.ConnectTlsOptions & Deno.TlsCertifiedKeyPem),
    options: StreamConnectOptions = {},
  ): Promise<SSLIOStream> {
    // Bad options fail before connecting; each is read once.
    const limits = ownStreamOptions(options);
    return await giveUpOnMaking(
      options,
      "a connect",
      "SSLIOStream.connect()",
      async (signal) =>
        await handshaken(
          new SSLIOStream(await connectTls(addr, signal), limits),
          signal,
        ),
    );
  }

  /**
   * The wrapped TLS connection.
   *
   * @example The connection is a TlsConn
   * ```ts
   * import { SSLIOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * const dir = new URL("../tests/testdata/", import.meta.url);
   * const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));
   * using listener = Deno.listenTls({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   cert: read("server.crt"),
   *   key: read("server.key"),
   *   alpnProtocols: ["h2", "http/1.1"],
   * });
   * const accepting = listener.accept();
   * const client = await SSLIOStream.connect({
   *   hostname: "localhost",
   *   port: listener.addr.port,
   *   caCerts: [read("ca.crt")],
   *   alpnProtocols: ["http/1.1"],
   * });
   * const server = new SSLIOStream(await accepting);
   * const info = await client.conn.handshake();
   * assert.equal(info.alpnProtocol, "http/1.1");
   * await server.waitForHandshake();
   * client.close();
   * server.close();
   * ```
   */
  override get conn(): Deno.TlsConn {
    return this.#tls;
  }

  /**
   * The protocol agreed through ALPN, once the handshake is done (`null`
   * before, or when none was agreed). Reads and writes wait for the
   * handshake, so it is known by the time any of them has completed.
   *
   * @example Read the negotiated protocol
   * ```ts
   * import { SSLIOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * const dir = new URL("../tests/testdata/", import.meta.url);
   * const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));
   * using listener = Deno.listenTls({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   cert: read("server.crt"),
   *   key: read("server.key"),
   *   alpnProtocols: ["h2", "http/1.1"],
   * });
   * const accepting = listener.accept();
   * const client = await SSLIOStream.connect({
   *   hostname: "localhost",
   *   port: listener.addr.port,
   *   caCerts: [read("ca.crt")],
   *   alpnProtocols: ["http/1.1"],
   * });
   * const server = new SSLIOStream(await accepting);
   * assert.equal(client.alpnProtocol, "http/1.1");
   * assert.equal(server.alpnProtocol, null); // handshake not awaited yet
   * await server.waitForHandshake();
   * assert.equal(server.alpnProtocol, "http/1.1");
   * client.close();
   * server.close();
   * ```
   */
  get alpnProtocol(): string | null {
    return this.#alpn;
  }

  /**
   * Resolves with this stream once the TLS handshake is done; the ALPN
   * result is then in {@linkcode alpnProtocol}. A failed handshake closes
   * the stream and rejects with Deno's error (which {@linkcode error} then
   * holds). On a stream closed before the handshake was done, it rejects
   * with `StreamClosedError`, whose `realError` is the error the stream
   * closed with, if any.
   *
   * With `timeout` or `signal` it gives up waiting (`TimeoutError`, or the
   * signal's reason); the stream stays open and the handshake goes on, so a
   * later call can still wait for it. A peer that never completes its
   * handshake is usually closed then. Once the handshake is over, every
   * call settles with its outcome at once, even with a timeout of 0 (or
   * less); an already aborted signal still rejects with its reason.
   *
   * @param options `timeout` (milliseconds) and `signal` to give up waiting.
   * @returns This stream.
   *
   * @example Wait for the server-side handshake
   * ```ts
   * import { SSLIOStream } from "@squall/io/iostream";
   * import assert from "node:assert/strict";
   *
   * const dir = new URL("../tests/testdata/", import.meta.url);
   * const read = (name: string) => Deno.readTextFileSync(new URL(name, dir));
   * using listener = Deno.listenTls({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   cert: read("server.crt"),
   *   key: read("server.key"),
   *   alpnProtocols: ["h2", "http/1.1"],
   * });
   * const accepting = listener.accept();
   * const client = await SSLIOStream.connect({
   *   hostname: "localhost",
   *   port: listener.addr.port,
   *   caCerts: [read("ca.crt")],
   *   alpnProtocols: ["http/1.1"],
   * });
   * const server = new SSLIOStream(await accepting);
   * assert.equal(await server.waitForHandshake(), server);
   * assert.equal(server.alpnProtocol, "http/1.1");
   * client.close();
   * server.close();
   * ```
   */
  waitForHandshake(options?: WaitOptions): Promise<SSLIOStream> {
    let giveUp: GiveUp | undefined;
    try {
      giveUp = readGiveUp(options, "a handshake");
    } catch (err) {
      return rejected(err);
    }
    if (this.#handshake === null) {
      if (this.closed()) {
        this.#handshakeSettled = true;
        this.#handshake = rejected(this.#closedError());
      } else {
        this.#handshake = quiet(
          this.#tls.handshake().then(
            (info) => {
              this.#alpn = info.alpnProtocol;
              this.#handshook = true;
              this.#handshakeSettled = true;
              return this;
            },
            (err) => {
              this.#handshakeSettled = true;
              // Closed under the handshake: Deno's Interrupted or BadResource
              // says nothing about why; report it as reads do.
              if (this.closed()) throw this.#closedError();
              this.close(err);
              throw err;
            },
          ),
        );
      }
    }
    // A known outcome is given at once, whatever the timeout: a timeout of
    // 0 succeeds (or fails) at once rather than never.
    if (giveUp === undefined || this.#handshakeSettled) return this.#handshake;
    return quiet(
      giveUpWaiting(this.#handshake, giveUp, "waitForHandshake()"),
    );
  }

  /**
   * Reads from the connection, once the handshake is done (so that
   * {@linkcode alpnProtocol} is known before the first bytes are).
   *
   * @param buf Where to read to.
   * @returns How many bytes were read, or `null` at end of stream.
   */
  protected override readFromFd(buf: Uint8Array): Promise<number | null> {
    if (this.#handshook) return super.readFromFd(buf);
    return this.waitForHandshake().then(() => super.readFromFd(buf));
  }

  /**
   * Writes to the connection, once the handshake is done.
   *
   * @param data The bytes to write.
   * @returns How many were written.
   */
  protected override writeToFd(data: Uint8Array): Promise<number> {
    if (this.#handshook) return super.writeToFd(data);
    return this.waitForHandshake().then(() => super.writeToFd(data));
  }

  #closedError(): StreamClosedError {
    const realError = this.error;
    return new StreamClosedError(realError === null ? {} : { realError });
  }
}

// What Deno.connectTls takes: with a client certificate (mTLS) or without.
type TlsConnectAddr =
  | Deno.ConnectTlsOptions
  | (Deno.ConnectTlsOptions & Deno.TlsCertifiedKeyPem);

// Deno.connectTls leaves Nagle's algorithm on and a TlsConn cannot turn it
// off. Connecting over TCP, turning it off, then upgrading gives the same
// verified TLS without ~40 ms stalls on small writes. Client certificates
// (mTLS) need Deno.connectTls itself.
async function connectTls(
  addr: TlsConnectAddr,
  signal?: AbortSignal,
): Promise<Deno.TlsConn> {
  const { caCerts, alpnProtocols, hostname, port } = addr;
  const unverifiedName = addr.unsafelyDisableHostnameVerification;
  // Anything else (client certificates, family selection, …) is left to
  // Deno.connectTls. Options set to undefined, and the `transport: "tcp"`
  // of a listener's address spread in, ask for nothing more.
  const needsConnectTls = Object.entries(addr).some(([k, v]) =>
    v !== undefined && !PLAIN_UPGRADE_KEYS.has(k) &&
    !(k === "transport" && v === "tcp")
  );
  if (needsConnectTls) return await Deno.connectTls(addr);
  const tcp = await Deno.connect({
    port,
    ...(hostname ? { hostname } : {}),
    ...(signal ? { signal } : {}),
  });
  try {
    tcp.setNoDelay(true);
    const opts: Deno.StartTlsOptions = {};
    if (hostname !== undefined) opts.hostname = hostname;
    if (caCerts !== undefined) opts.caCerts = caCerts;
    if (alpnProtocols !== undefined) opts.alpnProtocols = alpnProtocols;
    if (unverifiedName !== undefined) {
      opts.unsafelyDisableHostnameVerification = unverifiedName;
    }
    return await Deno.startTls(tcp, opts);
  } catch (err) {
    try {
      tcp.close();
    } catch {
      // Deno.startTls took the connection already.
    }
    throw err;
  }
}

const PLAIN_UPGRADE_KEYS = new Set([
  "hostname",
  "port",
  "caCerts",
  "alpnProtocols",
  "unsafelyDisableHostnameVerification",
]);
