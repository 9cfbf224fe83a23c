// Copyright the squall authors. MIT license.

/**
 * Shared pieces of the loopback harness: the data patterns every scenario
 * sends, the checks that make a fast-but-wrong implementation fail, and the
 * small pieces of plumbing (listeners, fd limit, RSS) the scenarios share.
 *
 * Every pattern is a pure function of the position in the stream, so a
 * receiver can check any byte in O(1) without keeping a copy of what was
 * sent: lost, duplicated, reordered or corrupted data all show up.
 *
 * @module
 */

import process from "node:process";

/** Chunk size of the echo scenario and of every raw read buffer. */
export const CHUNK = 64 * 1024;

/** Length of one line in the lines scenario, `\n` included. */
export const LINE_LENGTH = 100;

/** Size of one request and of one reply in the request/reply scenarios. */
export const MESSAGE_LENGTH = 32;

const NEWLINE = 10;

// ---------------------------------------------------------------- echo data

// Chunk k of the echo stream is ECHO_SOURCE[s, s + CHUNK) with
// s = (7 * k) % 256, so byte l of chunk k is (7 * k + l) & 0xff. Chunks
// differ from their neighbours, so a reordered or repeated chunk is caught.
const ECHO_SOURCE = new Uint8Array(CHUNK + 256).map((_, i) => i & 0xff);

/** The `k`-th 64 KiB chunk the echo client sends (a shared read-only view). */
export function echoChunk(k: number): Uint8Array {
  const start = (7 * k) % 256;
  return ECHO_SOURCE.subarray(start, start + CHUNK);
}

/** The byte the echo stream carries at `offset`. */
export function expectedEchoByte(offset: number): number {
  return (7 * Math.floor(offset / CHUNK) + offset % CHUNK) & 0xff;
}

/** How thoroughly a receiver checks echoed bytes. */
export type EchoCheck = "full" | "spot";

/**
 * Checks `data`, received at stream position `offset`, against the echo
 * pattern. "spot" looks at the first, middle and last byte (O(1) per chunk,
 * cheap enough for timed runs); "full" looks at every byte (the untimed
 * warm-up runs and the smoke test use it).
 */
export function checkEcho(
  data: Uint8Array,
  offset: number,
  mode: EchoCheck,
): void {
  const n = data.length;
  if (n === 0) return;
  if (mode === "full") {
    for (let i = 0; i < n; i++) {
      if (data[i] !== expectedEchoByte(offset + i)) echoMismatch(offset + i);
    }
    return;
  }
  const mid = n >> 1;
  if (
    data[0] !== expectedEchoByte(offset) ||
    data[mid] !== expectedEchoByte(offset + mid) ||
    data[n - 1] !== expectedEchoByte(offset + n - 1)
  ) {
    echoMismatch(offset);
  }
}

function echoMismatch(offset: number): never {
  throw new Error(`Echo data corrupted near stream offset ${offset}`);
}

// --------------------------------------------------------------- lines data

// Line i: 4 index characters (6 bits each, 0x30 + value, never "\n"), then
// 95 filler letters, then "\n". A receiver checks length, terminator and
// index of every line for a handful of loads.
const LINE_TEMPLATE = new Uint8Array(LINE_LENGTH).map((_, i) =>
  i === LINE_LENGTH - 1 ? NEWLINE : 0x61 + (i % 26)
);

/** Largest line count the 4-character index can number. */
export const MAX_LINES = 1 << 24;

/** `count` lines, numbered from 0, as one contiguous buffer. */
export function makeLines(count: number): Uint8Array {
  if (count > MAX_LINES) throw new RangeError(`Too many lines: ${count}`);
  const out = new Uint8Array(count * LINE_LENGTH);
  for (let i = 0; i < count; i++) {
    const at = i * LINE_LENGTH;
    out.set(LINE_TEMPLATE, at);
    out[at] = 0x30 + ((i >> 18) & 63);
    out[at + 1] = 0x30 + ((i >> 12) & 63);
    out[at + 2] = 0x30 + ((i >> 6) & 63);
    out[at + 3] = 0x30 + (i & 63);
  }
  return out;
}

/** Throws unless `line` is exactly line number `index`'s frame. */
export function checkLine(line: Uint8Array, index: number): void {
  if (
    line.length !== LINE_LENGTH ||
    line[LINE_LENGTH - 1] !== NEWLINE ||
    line[0] !== 0x30 + ((index >> 18) & 63) ||
    line[1] !== 0x30 + ((index >> 12) & 63) ||
    line[2] !== 0x30 + ((index >> 6) & 63) ||
    line[3] !== 0x30 + (index & 63) ||
    line[50] !== LINE_TEMPLATE[50]
  ) {
    throw new Error(`Line ${index} is wrong (length ${line.length})`);
  }
}

// ---------------------------------------------------- request/reply data

/** Writes request number `i` of connection `conn` into `buf` (32 bytes). */
export function fillRequest(buf: Uint8Array, conn: number, i: number): void {
  const view = new DataView(buf.buffer, buf.byteOffset, MESSAGE_LENGTH);
  view.setUint32(0, i);
  view.setUint32(4, conn);
  for (let j = 8; j < MESSAGE_LENGTH; j++) buf[j] = (i + j) & 0xff;
}

/**
 * The server's reply to a request: the request with every byte inverted, so
 * a client that reads its own request back (or a stale buffer) fails.
 */
export function makeReply(request: Uint8Array, out: Uint8Array): void {
  for (let j = 0; j < MESSAGE_LENGTH; j++) out[j] = ~request[j]! & 0xff;
}

/** Throws unless `reply` answers request `i` of connection `conn`. */
export function checkReply(reply: Uint8Array, conn: number, i: number): void {
  if (reply.length !== MESSAGE_LENGTH) {
    throw new Error(`Reply ${i} has ${reply.length} bytes, not 32`);
  }
  const view = new DataView(reply.buffer, reply.byteOffset, MESSAGE_LENGTH);
  if (
    (~view.getUint32(0) >>> 0) !== i || (~view.getUint32(4) >>> 0) !== conn
  ) {
    throw new Error(`Reply ${i} on connection ${conn} answers another request`);
  }
  for (let j = 8; j < MESSAGE_LENGTH; j++) {
    if (reply[j] !== (~(i + j) & 0xff)) {
      throw new Error(`Reply ${i} on connection ${conn}: byte ${j} is wrong`);
    }
  }
}

// ------------------------------------------------------------------ plumbing

/** A loopback listener on an ephemeral port. */
export function listenLoopback(): Deno.TcpListener {
  return Deno.listen({ hostname: "127.0.0.1", port: 0 });
}

/** Connects to `listener` and returns both ends: `[client, server]`. */
export async function connectedPair(
  listener: Deno.TcpListener,
): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const { port } = listener.addr;
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port }),
    listener.accept(),
  ]);
  return [client, server];
}

/** Writes all of `data` to a raw conn (Deno's `write` may be partial). */
export async function writeAll(
  conn: Deno.Conn,
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** Closes a conn, ignoring the error Deno throws when it is already closed. */
export function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}

/** Reads a `Vm*` field (in KiB) from `/proc/self/status`; NaN if absent. */
export function procStatusKiB(field: "VmHWM" | "VmRSS"): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const m = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) : NaN;
}

/**
 * CPU time (user + system, all threads: `getrusage(RUSAGE_SELF)` through
 * `node:process`, microsecond resolution; it agrees with `/proc/self/stat`)
 * this process used so far, in seconds. Unlike wall time it barely moves
 * when other processes load the machine, so the harness reports throughput
 * per CPU-second beside the wall-clock figures.
 */
export function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** The soft and hard open-file limits of this process. */
export function fdLimits(): { soft: number; hard: number } {
  const limits = Deno.readTextFileSync("/proc/self/limits");
  const m = limits.match(/^Max open files\s+(\S+)\s+(\S+)/m);
  const num = (s: string | undefined) =>
    s === "unlimited" ? Infinity : Number(s);
  return { soft: num(m?.[1]), hard: num(m?.[2]) };
}

/**
 * Checks that this process may open `needed` files and returns a sentence
 * for the report; throws a clear error when it may not. Nothing to raise
 * here: Deno itself raises the soft open-files limit to the hard limit at
 * startup (measured: after `ulimit -Sn 1024` under a hard limit of 20000, a
 * Deno process reads a soft limit of 20000), so only the hard limit counts.
 */
export function ensureFdLimit(needed: number): string {
  const { soft, hard } = fdLimits();
  if (soft < needed) {
    throw new Error(
      `Need ~${needed} open files but the limit is ${soft} (hard ${hard}): ` +
        `raise it with "ulimit -n ${needed}" (as root if above the hard limit)`,
    );
  }
  return `open files: ${soft} allowed (need ~${needed})`;
}

// -------------------------------------------------------------- statistics

/** The median of `xs` (mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Awaits every promise, then throws the failure of the earliest one in the
 * list that failed: unlike `Promise.all` it leaves no rejection unhandled
 * and no side still running when a scenario fails.
 */
export async function settleAll<T extends readonly unknown[]>(
  promises: { [K in keyof T]: Promise<T[K]> },
): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return results.map((r) =>
    (r as PromiseFulfilledResult<unknown>).value
  ) as unknown as T;
}

/** Throws unless `actual === expected`. */
export function expectCount(
  what: string,
  actual: number,
  expected: number,
): void {
  if (actual !== expected) {
    throw new Error(`${what}: got ${actual}, expected ${expected}`);
  }
}
