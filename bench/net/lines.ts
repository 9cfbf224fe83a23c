// Copyright the squall authors. MIT license.

/**
 * Scenario 2: many short lines read one at a time. A raw sender writes
 * pre-made 100-byte lines in 1 MB batches; the reader under test hands them
 * out one per awaited call and every line's frame and number is checked.
 * Timed from the first write to the last line read.
 *
 * @module
 */

import {
  checkLine,
  closeQuietly,
  connectedPair,
  LINE_LENGTH,
  listenLoopback,
  settleAll,
  writeAll,
} from "./_common.ts";
import type { NetImpl } from "./_impl.ts";

/** Lines per write of the sender. */
const BATCH_LINES = 10_000;

/** One lines run. */
export interface LinesResult {
  /** Wall time in seconds, first write to last line read. */
  seconds: number;
  /** Lines read (all of them checked). */
  lines: number;
}

/** Sends every line of `data` (from `makeLines`) and reads them via `impl`. */
export async function runLines(
  impl: NetImpl,
  data: Uint8Array,
): Promise<LinesResult> {
  if (data.length % LINE_LENGTH !== 0) {
    throw new RangeError(
      `Line data must hold whole lines: ${data.length} bytes`,
    );
  }
  const count = data.length / LINE_LENGTH;
  using listener = listenLoopback();
  const [sender, receiver] = await connectedPair(listener);
  sender.setNoDelay(true);
  const reader = impl.lineReader(receiver);
  let end = 0;
  const start = performance.now();
  const send = async () => {
    const batch = BATCH_LINES * LINE_LENGTH;
    for (let off = 0; off < data.length; off += batch) {
      await writeAll(sender, data.subarray(off, off + batch));
    }
  };
  const read = async () => {
    for (let i = 0; i < count; i++) checkLine(await reader.readLine(), i);
    end = performance.now();
  };
  try {
    await settleAll([read(), send()]); // the reader's error first
  } finally {
    reader.close();
    closeQuietly(sender);
  }
  return { seconds: (end - start) / 1000, lines: count };
}
