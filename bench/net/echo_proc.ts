// Copyright the squall authors. MIT license.

/**
 * Scenario 1b (informational): the echo server alone. The server under test
 * runs in this process; the client is always the raw echo client, in a
 * child process of its own (`deno run -A bench/net/echo_proc.ts PORT
 * CHUNKS [spot|full]`, checking the data as told), which times itself from its connect to the last byte read back
 * and prints one JSON line: {@linkcode EchoClientReport}.
 *
 * Why it exists: in scenario 1 both ends share one JavaScript thread, so
 * the order in which one tick's continuations issue their reads and writes
 * shapes the TCP flow; a single extra promise hop in the reading loop moves
 * echo throughput by ~15% there. With the client in its own process only
 * the server's cost is compared, as for a real server, and its CPU time
 * per byte is measured alone.
 *
 * @module
 */

import { positiveIntArg, withChildPeer } from "./_child_peer.ts";
import { CHUNK, closeQuietly, type EchoCheck, expectCount } from "./_common.ts";
import type { EchoRead, NetImpl } from "./_impl.ts";
import { RAW } from "./_raw.ts";

/** What the child client prints. */
export interface EchoClientReport {
  /** Wall time in seconds, connect to the last byte read back. */
  seconds: number;
  /** Bytes received back (all spot-checked). */
  bytes: number;
}

/** One run of the echo server under test against the child client. */
export interface EchoProcResult {
  /** The client's wall time in seconds. */
  seconds: number;
  /** Bytes echoed. */
  bytes: number;
  /** CPU time of this process (the server) during the run, seconds. */
  serverCpuSeconds: number;
}

/**
 * Serves one echo connection with `impl` (reading as `read` says) to a raw
 * client sending `chunks` × 64 KiB from a child process.
 */
export async function runEchoProc(
  impl: NetImpl,
  chunks: number,
  read: EchoRead = "bytes",
  check: EchoCheck = "spot",
): Promise<EchoProcResult> {
  const run = await withChildPeer(
    new URL("./echo_proc.ts", import.meta.url),
    [String(chunks), check],
    (conn) => impl.echoServer(conn, read),
  );
  const report = JSON.parse(run.report) as EchoClientReport;
  const bytes = chunks * CHUNK;
  expectCount(`${impl.name} echo bytes echoed by server`, run.value, bytes);
  expectCount("echo bytes received by the child client", report.bytes, bytes);
  return { seconds: report.seconds, bytes, serverCpuSeconds: run.cpuSeconds };
}

if (import.meta.main) {
  const [portArg, chunksArg, checkArg = "spot"] = Deno.args;
  const port = positiveIntArg(portArg, "PORT");
  const chunks = positiveIntArg(chunksArg, "CHUNKS");
  if (checkArg !== "spot" && checkArg !== "full") {
    throw new RangeError(`The check must be spot or full, got "${checkArg}"`);
  }
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const start = performance.now();
  let bytes: number;
  try {
    bytes = await RAW.echoClient(conn, chunks, checkArg, "bytes");
  } finally {
    closeQuietly(conn);
  }
  const report: EchoClientReport = {
    seconds: (performance.now() - start) / 1000,
    bytes,
  };
  console.log(JSON.stringify(report));
}
