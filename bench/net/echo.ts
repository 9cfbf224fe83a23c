// Copyright the squall authors. MIT license.

/**
 * Scenario 1: echo over one loopback connection. The client writes `chunks`
 * 64 KiB chunks while reading everything back; the server echoes each read
 * before reading again. Timed from the first write to the last byte read.
 *
 * @module
 */

import {
  CHUNK,
  connectedPair,
  type EchoCheck,
  expectCount,
  listenLoopback,
  settleAll,
} from "./_common.ts";
import type { EchoRead, NetImpl } from "./_impl.ts";

/** One echo run. */
export interface EchoResult {
  /** Wall time in seconds, first write to last byte read back. */
  seconds: number;
  /** Bytes sent (and received back). */
  bytes: number;
}

/**
 * Echoes `chunks` × 64 KiB through `impl` on both ends, reading as `read`
 * says, and checks it.
 */
export async function runEcho(
  impl: NetImpl,
  chunks: number,
  check: EchoCheck,
  read: EchoRead = "bytes",
): Promise<EchoResult> {
  using listener = listenLoopback();
  const [client, server] = await connectedPair(listener);
  const bytes = chunks * CHUNK;
  let end = 0;
  const start = performance.now();
  // The client first: when its checks fail, its error is the one reported,
  // not the reset the server sees when the client hangs up on it.
  const [received, echoed] = await settleAll<[number, number]>([
    impl.echoClient(client, chunks, check, read).then((n) => {
      end = performance.now();
      return n;
    }),
    impl.echoServer(server, read),
  ]);
  expectCount(`${impl.name} echo bytes received`, received, bytes);
  expectCount(`${impl.name} echo bytes echoed by server`, echoed, bytes);
  return { seconds: (end - start) / 1000, bytes };
}
