// Copyright the squall authors. MIT license.

/**
 * The contract each side of the harness implements: the raw `Deno.Conn`
 * baseline (`_raw.ts`) and squall's `IOStream` (`_squall.ts`). A scenario
 * sets up the connections, times, and checks; the implementation only moves
 * bytes. Both get the same freshly connected loopback `Deno.TcpConn`s.
 *
 * @module
 */

import type { EchoCheck } from "./_common.ts";

/**
 * How an echo side reads: `"bytes"` takes fresh bytes per read (squall's
 * `readBytes(65536, {partial: true})`), `"into"` fills one reused buffer
 * (squall's `readInto(buf, {partial: true})`). The raw baseline always
 * reads into one reused buffer.
 */
export type EchoRead = "bytes" | "into";

/** Hands out one line per call, `\n` included; rejects at end of stream. */
export interface LineReader {
  /** The next line, `\n` included. */
  readLine(): Promise<Uint8Array>;
  /** Releases the connection. */
  close(): void;
}

/** One way of doing the network work of every scenario. */
export interface NetImpl {
  /** Short name printed in the report. */
  readonly name: string;
  /**
   * Echoes whatever it reads, awaiting each write before the next read,
   * until the peer closes; closes `conn`; resolves with the bytes echoed.
   */
  echoServer(conn: Deno.TcpConn, read: EchoRead): Promise<number>;
  /**
   * Sends echo chunks 0..chunks-1 while reading everything back, checking
   * the data as it arrives; closes `conn`; resolves with the bytes received.
   */
  echoClient(
    conn: Deno.TcpConn,
    chunks: number,
    check: EchoCheck,
    read: EchoRead,
  ): Promise<number>;
  /** Wraps `conn` for reading one line at a time. */
  lineReader(conn: Deno.TcpConn): LineReader;
  /**
   * Answers 32-byte requests (read exactly 32, write the 32-byte reply)
   * until the peer closes; closes `conn`; resolves with the count answered.
   */
  reqRepServer(conn: Deno.TcpConn): Promise<number>;
  /**
   * Sends `count` requests one after the other, reading and checking each
   * reply before the next request; closes `conn`.
   */
  reqRepClient(
    conn: Deno.TcpConn,
    connIndex: number,
    count: number,
  ): Promise<void>;
}
