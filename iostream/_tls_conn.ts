// Copyright the squall authors. MIT license.

/**
 * Telling TLS connections from plain ones. Private to squall.
 *
 * @module
 */

/**
 * Whether `conn` is a TLS connection: Deno has no `TlsConn` class to test
 * with `instanceof`, but only TLS connections have `handshake()`.
 */
export function isTlsConn(conn: unknown): conn is Deno.TlsConn {
  return typeof (conn as Partial<Deno.TlsConn> | null)?.handshake ===
    "function";
}
