// Copyright the squall authors. MIT license.

/**
 * Buffered, promise-based byte streams over Deno connections and web
 * streams, after Tornado's `tornado.iostream`: read a line, then a counted
 * body, then upgrade to TLS, on one connection, with limits on every buffer.
 *
 * - {@linkcode IOStream}: TCP and Unix sockets (`Deno.Conn`).
 * - {@linkcode SSLIOStream}: TLS (`Deno.TlsConn`).
 * - {@linkcode PipeIOStream}: `ReadableStream`/`WritableStream` pairs.
 * - {@linkcode BaseIOStream}: the shared read and write machinery.
 *
 * @example Line-based request and reply
 * ```ts
 * import { IOStream } from "@squall/io/iostream";
 * import assert from "node:assert/strict";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await IOStream.connect(listener.addr);
 * const server = new IOStream(await listener.accept());
 * await client.write("PING\r\n");
 * assert.equal(new TextDecoder().decode(await server.readUntil("\r\n")), "PING\r\n");
 * await server.write("PONG\r\n");
 * assert.equal(new TextDecoder().decode(await client.readUntil("\r\n")), "PONG\r\n");
 * client.close();
 * server.close();
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./base_iostream.ts";
export * from "./iostream.ts";
export * from "./ssl_iostream.ts";
export * from "./pipe_iostream.ts";
export * from "./tcp_server.ts";
// A type that startTls() and waitForHandshake() name, for users of this
// entry point alone.
export type { WaitOptions } from "../locks/types.ts";
