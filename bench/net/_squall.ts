// Copyright the squall authors. MIT license.

/**
 * squall's side of the harness: the same work as `_raw.ts`, written the way
 * a user writes it with `IOStream` (Tornado's idioms: `readBytes(n,
 * {partial: true})` + `write` for echo, `readUntil("\n")` per line,
 * `readBytes(32)` + `write` per request). `IOStream` turns Nagle off by
 * itself.
 *
 * @module
 */

import { IOStream, StreamClosedError } from "../../iostream/mod.ts";
import {
  checkEcho,
  checkReply,
  CHUNK,
  echoChunk,
  fillRequest,
  makeReply,
  MESSAGE_LENGTH,
} from "./_common.ts";
import type { NetImpl } from "./_impl.ts";

/** True for the error a read gets when the peer closed cleanly. */
function isCleanClose(err: unknown): boolean {
  return err instanceof StreamClosedError && err.realError === undefined;
}

/**
 * squall's `IOStream`.
 *
 * Echo reads are `readBytes(65536, {partial: true})` (fresh bytes), or
 * `readInto` one reused buffer (the filled part, valid until the next read;
 * each side awaits its write before reading again). The read is written out
 * in each loop, as a user writes it and as the raw side does, not behind a
 * helper: an extra `async` wrapper adds a promise hop per read, which in
 * this single-threaded loopback test reorders the reads and writes of one
 * tick and by itself cost up to ~15% of echo throughput.
 */
export const SQUALL: NetImpl = {
  name: "squall",

  async echoServer(conn, read) {
    const stream = new IOStream(conn);
    const buf = read === "into" ? new Uint8Array(CHUNK) : null;
    let echoed = 0;
    try {
      for (;;) {
        let data: Uint8Array;
        try {
          data = buf === null
            ? await stream.readBytes(CHUNK, { partial: true })
            : buf.subarray(0, await stream.readInto(buf, { partial: true }));
        } catch (err) {
          if (isCleanClose(err)) break;
          throw err;
        }
        await stream.write(data);
        echoed += data.length;
      }
    } finally {
      stream.close();
    }
    return echoed;
  },

  async echoClient(conn, chunks, check, read) {
    const stream = new IOStream(conn);
    const buf = read === "into" ? new Uint8Array(CHUNK) : null;
    const total = chunks * CHUNK;
    const writer = (async () => {
      for (let k = 0; k < chunks; k++) await stream.write(echoChunk(k));
    })();
    writer.catch(() => {}); // a failed read closes the stream under the writer
    let got = 0;
    try {
      while (got < total) {
        const data = buf === null
          ? await stream.readBytes(CHUNK, { partial: true })
          : buf.subarray(0, await stream.readInto(buf, { partial: true }));
        checkEcho(data, got, check);
        got += data.length;
      }
      await writer;
    } finally {
      stream.close();
    }
    return got;
  },

  lineReader(conn) {
    const stream = new IOStream(conn);
    return {
      readLine: () => stream.readUntil("\n"),
      close: () => stream.close(),
    };
  },

  async reqRepServer(conn) {
    const stream = new IOStream(conn);
    const reply = new Uint8Array(MESSAGE_LENGTH);
    let answered = 0;
    try {
      for (;;) {
        let request: Uint8Array;
        try {
          request = await stream.readBytes(MESSAGE_LENGTH);
        } catch (err) {
          if (isCleanClose(err)) break;
          throw err;
        }
        makeReply(request, reply);
        await stream.write(reply);
        answered++;
      }
    } finally {
      stream.close();
    }
    return answered;
  },

  async reqRepClient(conn, connIndex, count) {
    const stream = new IOStream(conn);
    const request = new Uint8Array(MESSAGE_LENGTH);
    try {
      for (let i = 0; i < count; i++) {
        fillRequest(request, connIndex, i);
        await stream.write(request);
        checkReply(await stream.readBytes(MESSAGE_LENGTH), connIndex, i);
      }
    } finally {
      stream.close();
    }
  },
};
