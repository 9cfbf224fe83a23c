// Copyright the squall authors. MIT license.

/**
 * Scenario 3: sequential 32-byte request/replies on one connection, Nagle
 * off on both ends. Each reply is checked against its request. Timed from
 * the first request to the last reply.
 *
 * @module
 */

import {
  connectedPair,
  expectCount,
  listenLoopback,
  settleAll,
} from "./_common.ts";
import type { NetImpl } from "./_impl.ts";

/** One request/reply run. */
export interface ReqRepResult {
  /** Wall time in seconds, first request to last reply. */
  seconds: number;
  /** Round trips done (each reply checked). */
  roundTrips: number;
}

/** Runs `count` round trips through `impl` on both ends. */
export async function runReqRep(
  impl: NetImpl,
  count: number,
): Promise<ReqRepResult> {
  using listener = listenLoopback();
  const [client, server] = await connectedPair(listener);
  let end = 0;
  const start = performance.now();
  // The client first: its failed check, not the server's resulting reset,
  // is the error worth reporting.
  const [, answered] = await settleAll<[void, number]>([
    impl.reqRepClient(client, 0, count).then(() => {
      end = performance.now();
    }),
    impl.reqRepServer(server),
  ]);
  expectCount(`${impl.name} requests answered`, answered, count);
  return { seconds: (end - start) / 1000, roundTrips: count };
}
