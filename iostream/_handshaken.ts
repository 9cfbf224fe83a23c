// Copyright the squall authors. MIT license.

/**
 * Waiting for the handshake of a TLS stream just made, shared by
 * `SSLIOStream.connect()` and `IOStream.startTls()`. Private to squall.
 *
 * @module
 */

// Type only: ssl_iostream.ts imports iostream.ts, which imports this file.
import type { SSLIOStream } from "./ssl_iostream.ts";

/**
 * Resolves with `stream` once its handshake is done. A failed handshake, or
 * `signal` aborting (already, or while it waits), closes the stream, so the
 * caller giving up leaves nothing open.
 */
export async function handshaken(
  stream: SSLIOStream,
  signal?: AbortSignal,
): Promise<SSLIOStream> {
  const onAbort = (): void => stream.close();
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await stream.waitForHandshake();
  } catch (err) {
    stream.close();
    throw err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
