// Copyright the squall authors. MIT license.

/**
 * Scenario 2b: the line reader alone. The reader under test runs in this
 * process; the sender is a raw writer in a child process of its own
 * (`deno run -A bench/net/lines_proc.ts PORT COUNT`), which makes its lines
 * before it connects and then writes them in 1 MB batches.
 *
 * In scenario 2 the sender shares the reader's thread (its writes cost the
 * same on both sides, which pulls the ratio towards 1) and keeps all the
 * line data alive in the reader's process, where that much external memory
 * leaves V8 little room before a full GC. Here only the reader is measured:
 * wall time from accepting the sender to the last line, and this process's
 * CPU time. Every line is checked, as in scenario 2.
 *
 * @module
 */

import { positiveIntArg, withChildPeer } from "./_child_peer.ts";
import { checkLine, LINE_LENGTH, makeLines, writeAll } from "./_common.ts";
import type { NetImpl } from "./_impl.ts";

/** Lines per write of the sender. */
const BATCH_LINES = 10_000;

/** One run of the reader under test against the child sender. */
export interface LinesProcResult {
  /** Wall time in seconds, accept to the last line read. */
  seconds: number;
  /** Lines read, all checked. */
  lines: number;
  /** CPU time of this process (the reader) during the run, seconds. */
  readerCpuSeconds: number;
}

/** Reads `count` lines, sent from a child process, through `impl`. */
export async function runLinesProc(
  impl: NetImpl,
  count: number,
): Promise<LinesProcResult> {
  let seconds = 0;
  const run = await withChildPeer(
    new URL("./lines_proc.ts", import.meta.url),
    [String(count)],
    async (conn) => {
      const start = performance.now();
      const reader = impl.lineReader(conn);
      try {
        for (let i = 0; i < count; i++) checkLine(await reader.readLine(), i);
      } finally {
        reader.close();
      }
      seconds = (performance.now() - start) / 1000;
    },
  );
  return { seconds, lines: count, readerCpuSeconds: run.cpuSeconds };
}

if (import.meta.main) {
  const port = positiveIntArg(Deno.args[0], "PORT");
  const count = positiveIntArg(Deno.args[1], "COUNT");
  const data = makeLines(count);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  try {
    const batch = BATCH_LINES * LINE_LENGTH;
    for (let off = 0; off < data.length; off += batch) {
      await writeAll(conn, data.subarray(off, off + batch));
    }
  } finally {
    conn.close();
  }
  console.log(JSON.stringify({ sent: count }));
}
