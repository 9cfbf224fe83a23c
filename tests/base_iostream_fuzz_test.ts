// Copyright the squall authors. MIT license.

// A seeded, model-based randomized test of BaseIOStream's reads.
//
// A fake transport delivers a predetermined byte string in random chunks
// (1 byte to more than 64 KiB; counts written into the stream's buffer, fresh
// arrays of any size, views, BYOB-style transfers; resolved at once, after
// microtasks or after a macrotask), then ends with EOF, a rejection, or
// hangs until the stream is closed. A random program of reads runs against
// the stream, and a reference model written from API.md and the JSDoc (not
// from the implementation) predicts every outcome.
//
// The model sees what the transport delivered, in order (a log kept by the
// transport), because some outcomes legitimately depend on it: how much a
// partial read returns, what a regex matches before more data arrives, when
// `maxBufferSize` is exceeded. Everything else follows from the byte string
// and the position consumed so far.
//
// Replay one case: SQUALL_FUZZ_SEED=<seed> deno test -A <this file>.
// More cases: SQUALL_FUZZ_SCALE=<factor>.

import assert from "node:assert/strict";
import {
  BaseIOStream,
  StreamBufferFullError,
  StreamClosedError,
  type StreamOptions,
  UnsatisfiableReadError,
} from "../iostream/mod.ts";
import { seededRandom } from "./_rng.ts";

const WATCHDOG_MS = 2000;
const FILE = "tests/base_iostream_fuzz_test.ts";

// ------------------------------------------------------------ randomness

class Rand {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = seededRandom(seed);
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.#next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.#next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#next() * items.length)]!;
  }
  /** Picks a key of `weights` with probability proportional to its value. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const keys = Object.keys(weights) as K[];
    let total = 0;
    for (const k of keys) total += weights[k];
    let x = this.#next() * total;
    for (const k of keys) {
      x -= weights[k];
      if (x < 0) return k;
    }
    return keys[keys.length - 1]!;
  }
}

function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

function show(bytes: Uint8Array, limit = 40): string {
  const text = JSON.stringify(latin1(bytes.subarray(0, limit)));
  return bytes.length > limit ? `${text}… (${bytes.length} bytes)` : text;
}

function showError(err: unknown): string {
  if (err instanceof StreamClosedError) {
    return `StreamClosedError(realError: ${
      err.realError === undefined ? "none" : showError(err.realError)
    })`;
  }
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  if (err === undefined) return "undefined";
  return `${typeof err} ${JSON.stringify(err)}`;
}

// ------------------------------------------------------------ the case

type End = "eof" | "error" | "hang";
type Flavor = "socket" | "pipe" | "byob" | "mixed";
type Sizes = "tiny" | "mixed" | "large";
type Timing = "sync" | "micro" | "macro";

interface Case {
  seed: number;
  profile: string;
  data: Uint8Array;
  end: End;
  endError: unknown;
  options: StreamOptions;
  flavor: Flavor;
  sizes: Sizes;
  timing: Readonly<Record<Timing, number>>;
  ops: number;
}

interface Profile {
  name: string;
  /** Seeds of this profile are first + 0, 1, 2, … */
  first: number;
  cases: number;
  /** Bounds of the data's length. */
  length: readonly [number, number];
  sizes: readonly Sizes[];
  /** maxBufferSize values to pick from; none: the default. */
  maxBufferSizes: readonly number[];
}

function profile(
  index: number,
  name: string,
  cases: number,
  length: readonly [number, number],
  sizes: readonly Sizes[],
  maxBufferSizes: readonly number[] = [],
): Profile {
  return {
    name,
    first: index * 1_000_000,
    cases,
    length,
    sizes,
    maxBufferSizes,
  };
}

const PROFILES: readonly Profile[] = [
  profile(1, "short strings, small chunks", 4000, [0, 300], ["tiny", "mixed"]),
  profile(2, "a few KiB in chunks of every size", 2000, [300, 6000], [
    "mixed",
  ]),
  profile(3, "over 64 KiB in large chunks", 150, [65536, 200000], [
    "mixed",
    "large",
  ]),
  profile(
    4,
    "a small maxBufferSize",
    3000,
    [0, 3000],
    ["tiny", "mixed", "large"],
    [2, 3, 5, 16, 64, 100, 1000, 4096, 5000, 70000],
  ),
];

const ALPHABETS = ["ab\r\n", "aab\n", "ab", "\r\n", "abcdefgh\n", "a\n\n"];

function makeCase(seed: number, profile: Profile): Case {
  const r = new Rand(seed);
  const n = r.int(...profile.length);
  const alphabet = new TextEncoder().encode(r.pick(ALPHABETS));
  const noise = r.pick([0, 0, 0.02, 0.2]);
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (r.chance(noise)) {
      // Arbitrary bytes, and sometimes "é" (0xc3 0xa9) for string delimiters
      // that are not ASCII.
      if (i + 1 < n && r.chance(0.3)) {
        data[i++] = 0xc3;
        data[i] = 0xa9;
      } else data[i] = r.int(0, 255);
    } else data[i] = alphabet[r.int(0, alphabet.length - 1)]!;
  }
  const end = r.pick<End>(["eof", "error", "hang"]);
  const endError = end !== "error" ? undefined : r.pick([
    () => new Deno.errors.ConnectionReset("connection reset by peer"),
    () => new Deno.errors.BrokenPipe("broken pipe"),
    () => new TypeError("bad resource"),
    () => "a rejection that is not an Error",
  ])();
  const options: StreamOptions = {};
  if (profile.maxBufferSizes.length > 0) {
    options.maxBufferSize = r.pick(profile.maxBufferSizes);
  }
  // Regex reads rescan the buffer on every delivery: no byte-by-byte
  // delivery of large data.
  const small = n <= 6000;
  const chunk = r.pick([
    undefined,
    undefined,
    1024,
    5000,
    ...small ? [1, 7, 100] : [],
  ]);
  if (chunk !== undefined) options.readChunkSize = chunk;
  let sizes = r.pick(profile.sizes);
  if (!small && sizes === "tiny") sizes = "mixed";
  return {
    seed,
    profile: profile.name,
    data,
    end,
    endError,
    options,
    flavor: r.pick<Flavor>(["socket", "pipe", "byob", "mixed", "mixed"]),
    sizes,
    timing: r.pick([
      { sync: 1, micro: 0, macro: 0 },
      { sync: 0, micro: 0, macro: 1 },
      { sync: 2, micro: 1, macro: 1 },
      { sync: 1, micro: 2, macro: 0 },
    ]),
    ops: r.int(1, 14),
  };
}

function describeCase(c: Case): string {
  const data = c.data.length <= 400
    ? JSON.stringify(latin1(c.data))
    : `${show(c.data, 60)} (made from the seed)`;
  const end = c.end === "error" ? `error ${showError(c.endError)}` : c.end;
  return [
    `profile: ${c.profile}`,
    `data: ${c.data.length} bytes ${data}`,
    `end: ${end}`,
    `options: ${JSON.stringify(c.options)}`,
    `transport: ${c.flavor}, ${c.sizes} chunks, timing ${
      JSON.stringify(c.timing)
    }`,
  ].join("\n");
}

// ------------------------------------------------------------ transport

/** What the transport did, in the order the stream saw it. */
type Event =
  | { t: "call"; size: number }
  | { t: "data"; n: number; how: string }
  | { t: "eof" }
  | { t: "fail"; error: unknown };

function showEvent(e: Event): string {
  switch (e.t) {
    case "call":
      return `call(${e.size})`;
    case "data":
      return `data ${e.n} (${e.how})`;
    case "eof":
      return "eof";
    case "fail":
      return `fail ${showError(e.error)}`;
  }
}

type Delivery = number | Uint8Array | null;

/**
 * A stream whose transport replays `c.data`. Events are logged by a
 * reaction registered before the stream's own, so each one is in the log
 * exactly when the stream handles it (the two reactions run back to back).
 */
class FuzzStream extends BaseIOStream {
  readonly #c: Case;
  readonly #r: Rand;
  readonly #log: Event[];
  #off = 0;
  #busy = false;
  #hang: PromiseWithResolvers<Delivery> | null = null;
  #timers = 0;
  /** Resolves once a read is hanging that only close() ends. */
  readonly hung: PromiseWithResolvers<void> = Promise.withResolvers();
  isHung = false;
  closeFdCalls = 0;
  /** Breaches of the readFromFd() contract by the stream. */
  readonly problems: string[] = [];
  /** The memory of the pending readInto()'s buffer, which may be lent. */
  intoMemory: ArrayBufferLike | null = null;
  readonly #chunkLimit: number;

  constructor(c: Case, log: Event[]) {
    super(c.options);
    this.#c = c;
    this.#r = new Rand(c.seed * 7 + 1);
    this.#log = log;
    const { readChunkSize = 65536, maxBufferSize = 104857600 } = c.options;
    this.#chunkLimit = Math.max(
      1,
      Math.min(readChunkSize, Math.floor(maxBufferSize / 2)),
    );
  }

  protected override readFromFd(buf: Uint8Array): Promise<Delivery> {
    this.#log.push({ t: "call", size: buf.length });
    if (this.#busy) this.problems.push("readFromFd() called while busy");
    if (buf.length === 0) this.problems.push("readFromFd() got no space");
    if (buf.length > this.#chunkLimit && buf.buffer !== this.intoMemory) {
      this.problems.push(
        `readFromFd() got ${buf.length} bytes of space, more than ` +
          `readChunkSize (${this.#chunkLimit})`,
      );
    }
    this.#busy = true;
    const p = this.#respond(buf);
    p.then((v) => {
      this.#busy = false;
      if (v === null) this.#log.push({ t: "eof" });
      else {
        const how = typeof v === "number" ? "count" : "array";
        this.#log.push({
          t: "data",
          n: typeof v === "number" ? v : v.length,
          how,
        });
      }
    }, (error) => {
      this.#busy = false;
      this.#log.push({ t: "fail", error });
    });
    return p;
  }

  #respond(buf: Uint8Array): Promise<Delivery> {
    const { data, end, endError } = this.#c;
    const r = this.#r;
    if (this.#off === data.length) {
      if (end === "hang") {
        this.#hang = Promise.withResolvers();
        this.isHung = true;
        this.hung.resolve();
        return this.#hang.promise;
      }
      return this.#later(() => {
        if (end === "error") throw endError;
        return null;
      });
    }
    const from = this.#off;
    const left = data.length - from;
    const want = this.#chunkSize();
    const flavor = this.#c.flavor;
    const mode = flavor === "socket"
      ? "count"
      : flavor === "pipe"
      ? "fresh"
      : flavor === "byob"
      ? "byob"
      : r.pick(["count", "count", "fresh", "view"] as const);
    // Only a fresh array may be larger than the space the stream gave.
    const n = Math.min(want, left, mode === "fresh" ? left : buf.length);
    this.#off += n;
    const bytes = data.subarray(from, from + n);
    switch (mode) {
      case "count":
        return this.#later(() => {
          buf.set(bytes);
          return n;
        });
      case "view":
        return this.#later(() => {
          buf.set(bytes);
          return buf.subarray(0, n);
        });
      case "fresh": {
        // Somewhere inside a larger block, like a view a reader hands out.
        const pad = r.int(0, 3);
        const block = new Uint8Array(n + 2 * pad).fill(0xee);
        return this.#later(() => {
          block.set(bytes, pad);
          return block.subarray(pad, pad + n);
        });
      }
      case "byob": {
        // A BYOB read takes the memory at once and hands it back filled.
        const at = buf.byteOffset;
        const moved = new Uint8Array(
          (buf.buffer as ArrayBuffer).transfer(),
          at,
          n,
        );
        return this.#later(() => {
          moved.set(bytes);
          return moved;
        });
      }
    }
  }

  #chunkSize(): number {
    const r = this.#r;
    switch (this.#c.sizes) {
      case "tiny":
        return r.chance(0.6) ? 1 : r.int(2, 8);
      case "mixed":
        switch (r.weighted({ one: 15, small: 35, medium: 30, large: 20 })) {
          case "one":
            return 1;
          case "small":
            return r.int(2, 64);
          case "medium":
            return r.int(65, 4096);
          default:
            return r.int(4097, 70000);
        }
      case "large":
        return r.chance(0.05)
          ? 1
          : r.chance(0.2)
          ? r.int(100, 4096)
          : r.int(4097, 140000);
    }
  }

  #later(produce: () => Delivery): Promise<Delivery> {
    switch (this.#r.weighted(this.#c.timing)) {
      case "sync":
        try {
          return Promise.resolve(produce());
        } catch (err) {
          return Promise.reject(err);
        }
      case "micro":
        return Promise.resolve().then(() => undefined).then(produce);
      case "macro":
        this.#timers++;
        return new Promise((resolve, reject) => {
          setImmediate(() => {
            this.#timers--;
            try {
              resolve(produce());
            } catch (err) {
              reject(err);
            }
          });
        });
    }
  }

  protected override writeToFd(data: Uint8Array): Promise<number> {
    return Promise.resolve(data.length);
  }

  protected override closeFd(): void {
    this.closeFdCalls++;
    const hang = this.#hang;
    if (hang === null) return;
    this.#hang = null;
    // A read still pending may settle in any way after close(): the stream
    // must ignore it.
    const r = this.#r;
    if (r.chance(1 / 3)) hang.resolve(null);
    else if (r.chance(0.5)) hang.resolve(new Uint8Array([1, 2, 3]));
    else hang.reject(new Deno.errors.Interrupted("read cancelled"));
  }

  /** Waits for every delayed delivery to have fired. */
  async drained(): Promise<void> {
    while (this.#timers > 0) await macrotask();
  }
}

// ------------------------------------------------------------ reads

interface UntilOp {
  kind: "until";
  delim: string | Uint8Array;
  bytes: Uint8Array; // the delimiter's bytes
  max?: number;
}

interface RegexOp {
  kind: "regex";
  re: RegExp; // as given to the stream
  plain: RegExp; // without the g and y flags, which the stream ignores
  max?: number;
}

/** A streaming callback, which may throw or close the stream once. */
interface Callback {
  at: number; // after receiving this many bytes in all (0: never)
  action: "throw" | "close" | "closeWithError";
  error: Error; // what it throws or closes with
}

type ReadOp =
  | { kind: "bytes"; n: number; partial: boolean; cb: Callback | null }
  | UntilOp
  | RegexOp
  | { kind: "into"; size: number; partial: boolean; pad: number }
  | { kind: "close"; cb: Callback | null }
  | { kind: "next" };

function describeRead(op: ReadOp): string {
  const max = (m: number | undefined) =>
    m === undefined ? "" : `, { maxBytes: ${m} }`;
  const cb = (c: Callback | null) =>
    c === null
      ? ""
      : c.at === 0
      ? "streamingCallback"
      : `streamingCallback (${
        c.action === "throw"
          ? "throws"
          : c.action === "close"
          ? "calls close()"
          : "calls close(error)"
      } at ${c.at} bytes)`;
  switch (op.kind) {
    case "bytes": {
      const opts = [op.partial ? "partial" : "", cb(op.cb)].filter((s) => s);
      return `readBytes(${op.n}${
        opts.length > 0 ? `, { ${opts.join(", ")} }` : ""
      })`;
    }
    case "until":
      return `readUntil(${
        typeof op.delim === "string"
          ? JSON.stringify(op.delim)
          : `bytes ${show(op.delim)}`
      }${max(op.max)})`;
    case "regex":
      return `readUntilRegex(${op.re}${max(op.max)})`;
    case "into":
      return `readInto(${op.size}-byte buffer${op.partial ? ", partial" : ""})`;
    case "close":
      return `readUntilClose(${op.cb ? `{ ${cb(op.cb)} }` : ""})`;
    case "next":
      return "iterator.next()";
  }
}

/** What the model says a read settles with. */
type Expected =
  | { t: "bytes"; from: number; to: number } // data[from, to)
  | { t: "count"; from: number; to: number } // readInto: to - from bytes
  | { t: "chunk"; from: number; to: number } // iterator: { done: false }
  | { t: "done" }
  | { t: "closed" } // StreamClosedError, realError = stream.error
  | { t: "unsat"; own: boolean } // own: it became stream.error
  | { t: "full"; own: boolean }
  | { t: "thrown"; value: unknown };

/** Why the model's stream closed. */
type Cause =
  | { t: "none" }
  | { t: "given"; value: unknown } // transport, close(error), callback
  | { t: "unsat" }
  | { t: "full" };

const NO_CAUSE: Cause = { t: "none" };

/** The errors a limit closes the stream with. */
const LIMIT_ERRORS = {
  unsat: UnsatisfiableReadError,
  full: StreamBufferFullError,
} as const;

interface Pending {
  op: ReadOp;
  start: number; // position when the read started
  rem: number; // readBytes with a streaming callback: bytes still to come
  received: number; // bytes given to a streaming callback
  occ: number; // readUntil: where the delimiter first occurs, or -1
}

// ------------------------------------------------------------ the model

/**
 * The reference model. Reads are served from what was delivered and not yet
 * consumed (data[pos, delivered)); each delivery first serves the pending
 * read, then closes the stream with StreamBufferFullError when more than
 * maxBufferSize bytes stay buffered. Where the contract leaves room, it
 * reads it this way: readUntil() with maxBytes fails once maxBytes bytes
 * are buffered and no delimiter ends within them; readUntilRegex() once
 * more than maxBytes are (a lookahead may need one more byte); a streaming
 * callback gets all that is buffered (up to what is left to read) at each
 * delivery; an iterator's next() gets all that is buffered.
 */
class Model {
  readonly data: Uint8Array;
  readonly text: string;
  readonly maxBuffer: number;
  pos = 0;
  delivered = 0;
  closed = false;
  cause: Cause = NO_CAUSE;
  callOut = false;
  closeCb = false;
  closeCbDone = false;
  closeCbRuns = 0;
  iterActive = false;
  pending: Pending | null = null;
  result: Expected | null = null;
  /** For a read with a streaming callback: what the callback got. */
  streamed: [number, number] | null = null;
  #seen = 0;

  constructor(c: Case) {
    this.data = c.data;
    this.text = latin1(c.data);
    this.maxBuffer = c.options.maxBufferSize ?? 104857600;
  }

  get buffered(): number {
    return this.delivered - this.pos;
  }

  /** Whether the stream must have a transport read in flight. */
  wanted(): boolean {
    return !this.closed &&
      (this.pending !== null ||
        ((this.closeCb || this.iterActive) && this.buffered === 0));
  }

  /** Replays what the transport did since last time. */
  consume(log: readonly Event[]): void {
    for (; this.#seen < log.length; this.#seen++) {
      const e = log[this.#seen]!;
      if (e.t === "call") this.#onCall();
      else if (this.closed) continue; // after close: ignored
      else if (e.t === "data") this.#onData(e.n);
      else {
        this.callOut = false;
        this.#close(e.t === "eof" ? NO_CAUSE : { t: "given", value: e.error });
      }
    }
  }

  /** Checks that the stream reads from the transport when it must. */
  checkInFlight(): void {
    if (this.wanted() && !this.callOut) {
      throw new Error(
        this.pending !== null
          ? "No transport read in flight while a read waits for data"
          : "No transport read in flight while idle with a listener " +
            "(close callback or iterator) and nothing buffered",
      );
    }
  }

  #onCall(): void {
    if (this.closed) throw new Error("Transport read after close");
    if (!this.wanted()) {
      throw new Error(
        `Transport read while nobody wants data (${this.buffered} bytes ` +
          `buffered, ${this.pending ? "a read pending" : "no read pending"}, ` +
          `${this.closeCb ? "a" : "no"} close callback, ` +
          `${this.iterActive ? "an" : "no"} iterator)`,
      );
    }
    this.callOut = true;
  }

  #onData(n: number): void {
    this.callOut = false;
    this.delivered += n;
    if (this.delivered > this.data.length) throw new Error("Overdelivered");
    if (this.pending !== null) this.#serve();
    if (!this.closed && this.buffered > this.maxBuffer) {
      if (this.pending !== null) this.#settle({ t: "full", own: true });
      this.#close({ t: "full" });
    }
  }

  startRead(op: ReadOp): void {
    this.result = null;
    this.streamed = null;
    if (op.kind === "next" && !this.iterActive) {
      this.result = { t: "done" };
      return;
    }
    if (
      op.kind === "bytes" && !op.partial && op.cb === null &&
      op.n > this.maxBuffer
    ) {
      // It could never fit: it fails at once, open or closed, and changes
      // nothing.
      this.result = { t: "unsat", own: false };
      return;
    }
    const p: Pending = {
      op,
      start: this.pos,
      rem: op.kind === "bytes" ? op.n : 0,
      received: 0,
      occ: op.kind === "until"
        ? this.text.indexOf(latin1(op.bytes), this.pos)
        : -1,
    };
    this.pending = p;
    this.#serve();
    if (this.pending === p && this.closed) this.#closedValue();
  }

  userClose(error: unknown): void {
    this.#close(
      error === undefined || error === null
        ? NO_CAUSE
        : { t: "given", value: error },
    );
  }

  setCloseCallback(): void {
    if (!this.closed) this.closeCb = true;
    else if (!this.closeCbDone) {
      this.closeCbDone = true;
      this.closeCbRuns = 1;
    }
  }

  clearCloseCallback(): void {
    this.closeCb = false;
  }

  iterCreate(): void {
    this.iterActive = true;
  }

  /** The iterator's return(): ends its next() if that still waits. */
  iterReturn(): void {
    if (!this.iterActive) return;
    this.iterActive = false;
    if (this.pending?.op.kind === "next") this.#settle({ t: "done" });
  }

  #settle(e: Expected): void {
    const p = this.pending!;
    if ((p.op.kind === "bytes" || p.op.kind === "close") && p.op.cb) {
      this.streamed = [p.start, p.start + p.received];
    }
    if (p.op.kind === "next" && e.t !== "chunk" && e.t !== "done") {
      this.iterActive = false; // a failed next() ends the iteration
    }
    this.pending = null;
    this.result = e;
  }

  #take(n: number): void {
    const from = this.pos;
    this.pos += n;
    this.#settle({ t: "bytes", from, to: this.pos });
  }

  #unsatisfiable(): void {
    this.#settle({ t: "unsat", own: !this.closed });
    this.#close({ t: "unsat" });
  }

  // Gives buffered bytes to a streaming callback; false if that settled the
  // read (the callback threw, or closed the stream).
  #feed(p: Pending, cb: Callback): boolean {
    const m = p.op.kind === "bytes"
      ? Math.min(p.rem, this.buffered)
      : this.buffered;
    if (m === 0) return true;
    this.pos += m;
    p.rem -= m;
    const before = p.received;
    p.received += m;
    if (cb.at === 0 || before >= cb.at || p.received < cb.at) return true;
    if (cb.action === "throw") {
      this.#settle({ t: "thrown", value: cb.error });
      this.#close({ t: "given", value: cb.error });
      return false;
    }
    this.#close(
      cb.action === "close" ? NO_CAUSE : { t: "given", value: cb.error },
    );
    return this.pending === p;
  }

  // Completes the pending read if the buffered bytes allow it.
  #serve(): void {
    const p = this.pending!;
    const op = p.op;
    const b = this.buffered;
    switch (op.kind) {
      case "bytes":
        if (op.cb !== null) {
          if (this.#feed(p, op.cb) && p.rem === 0) {
            this.#settle({ t: "bytes", from: 0, to: 0 });
          }
        } else if (b >= op.n) this.#take(op.n);
        else if (op.partial && b > 0) this.#take(b);
        return;
      case "until": {
        const end = p.occ + op.bytes.length;
        if (p.occ >= 0 && end <= this.delivered) {
          if (op.max !== undefined && end - this.pos > op.max) {
            this.#unsatisfiable();
          } else this.#take(end - this.pos);
        } else if (op.max !== undefined && b >= op.max) {
          // Any match still to come ends past the buffered bytes.
          this.#unsatisfiable();
        }
        return;
      }
      case "regex": {
        if (b > 0) {
          const m = op.plain.exec(this.text.slice(this.pos, this.delivered));
          if (m !== null) {
            const end = m.index + m[0].length;
            if (op.max !== undefined && end > op.max) this.#unsatisfiable();
            else this.#take(end);
            return;
          }
        }
        // A lookahead may need one more byte to match within the limit.
        if (op.max !== undefined && b > op.max) this.#unsatisfiable();
        return;
      }
      case "into": {
        const need = op.size - (this.pos - p.start);
        if (b >= need || (op.partial && b > 0)) {
          this.pos += Math.min(need, b);
          this.#settle({ t: "count", from: p.start, to: this.pos });
        } else if (!op.partial) this.pos += b; // moved into the buffer
        return;
      }
      case "close":
        if (op.cb !== null) this.#feed(p, op.cb);
        return;
      case "next":
        if (b > 0) {
          const from = this.pos;
          this.pos = this.delivered;
          this.#settle({ t: "chunk", from, to: this.pos });
        }
        return;
    }
  }

  // The pending read on a closed stream: nothing more will arrive.
  #closedValue(): void {
    const p = this.pending!;
    const op = p.op;
    if (op.kind === "close") {
      if (op.cb === null) this.#take(this.buffered);
      else if (this.#feed(p, op.cb)) {
        this.#settle({ t: "bytes", from: 0, to: 0 });
      }
    } else if (op.kind === "next" && this.cause.t === "none") {
      this.#settle({ t: "done" });
    } else this.#settle({ t: "closed" });
  }

  #close(cause: Cause): void {
    if (this.closed) return;
    this.closed = true;
    this.cause = cause;
    if (this.closeCb && !this.closeCbDone) {
      this.closeCb = false;
      this.closeCbDone = true;
      this.closeCbRuns = 1;
    }
    const p = this.pending;
    if (p === null) return;
    if (p.op.kind !== "close") this.#serve();
    if (this.pending === p) this.#closedValue();
  }
}

// ------------------------------------------------------------ programs

type HangAction = "close" | "closeWithError" | "return";

type Op =
  | { kind: "read"; read: ReadOp; clash: boolean; onHang: HangAction }
  | { kind: "iterate"; steps: number; onHang: HangAction; nextAfter: boolean }
  | { kind: "setCloseCallback" }
  | { kind: "clearCloseCallback" }
  | { kind: "close"; error: unknown }
  | { kind: "badArgs"; which: number };

const REGEXES: readonly RegExp[] = [
  /\r?\n\r?\n/,
  /\n/,
  /\r\n/,
  /a+b/,
  /b{2,}/,
  /[\x80-\xff]/,
  /ab|ba/,
  /a.b/s,
  /(?:ab)+/,
  /x*/,
  /b(?=a)/,
  /a$/,
  /^b/,
  /\n/g,
  /a\r/y,
  /\xc3\xa9/,
  /[^ab\r\n]/,
  /A{3}/i,
];

const FIXED_DELIMS = ["\n", "\n", "\r\n", "ab", "\r\n\r\n", "aab", "é"];

/** Sizes near the interesting points: what is left, what is buffered. */
function sizeNear(r: Rand, m: Model, cap: number): number {
  const left = m.data.length - m.pos;
  const b = m.buffered;
  const n = r.pick([
    0,
    1,
    2,
    left - 1,
    left,
    left,
    left + 1,
    b,
    b + 1,
    r.int(1, left + 2),
    r.int(1, left + 2),
    r.int(1, 16),
    r.int(1, 200000),
  ]);
  return Math.max(0, Math.min(n, cap));
}

function maxNear(r: Rand, m: Model, end: number): number | undefined {
  if (r.chance(0.45)) return undefined;
  const left = m.data.length - m.pos;
  const near = end >= 0 ? [end - 1, end, end, end + 1] : [];
  const n = r.pick([
    ...near,
    ...near,
    0,
    1,
    left,
    left + 1,
    m.buffered,
    m.maxBuffer - 1,
    m.maxBuffer + 1,
    r.int(0, 2 * left + 2),
  ]);
  return Math.max(0, n);
}

function genCallback(r: Rand, m: Model, seq: number): Callback {
  const left = m.data.length - m.pos;
  return {
    at: r.chance(0.2) ? r.int(1, Math.max(1, left)) : 0,
    action: r.pick(["throw", "close", "closeWithError"] as const),
    error: new Error(`streaming callback ${seq} failed`),
  };
}

function genRead(r: Rand, m: Model, seq: number): ReadOp {
  const left = m.data.length - m.pos;
  switch (
    r.weighted({ bytes: 6, until: 6, regex: 3, into: 4, close: 2 })
  ) {
    case "bytes": {
      const cb = r.chance(0.2) ? genCallback(r, m, seq) : null;
      return {
        kind: "bytes",
        n: sizeNear(r, m, 300000),
        partial: cb === null && r.chance(0.3),
        cb,
      };
    }
    case "until": {
      let bytes: Uint8Array;
      if (left > 0 && r.chance(0.6)) {
        // A piece of what is to come, so it is found, often across chunks.
        const at = m.pos + r.int(0, left - 1);
        bytes = m.data.slice(at, Math.min(m.data.length, at + r.int(1, 4)));
      } else bytes = new TextEncoder().encode(r.pick(FIXED_DELIMS));
      const ascii = bytes.every((x) => x < 0x80);
      const text = new TextDecoder().decode(bytes);
      let delim: string | Uint8Array;
      if (text === "é" || (ascii && r.chance(0.5))) delim = text;
      else if (r.chance(0.5)) delim = bytes;
      else {
        // A view into a larger array.
        const big = new Uint8Array(bytes.length + 4).fill(0x61);
        big.set(bytes, 2);
        delim = big.subarray(2, 2 + bytes.length);
      }
      const at = m.text.indexOf(latin1(bytes), m.pos);
      const end = at < 0 ? -1 : at + bytes.length - m.pos;
      const op: UntilOp = { kind: "until", delim, bytes };
      const max = maxNear(r, m, end);
      if (max !== undefined) op.max = max;
      return op;
    }
    case "regex": {
      const re = r.pick(REGEXES);
      const plain = new RegExp(re.source, re.flags.replace(/[gy]/g, ""));
      const match = plain.exec(m.text.slice(m.pos));
      const op: RegexOp = { kind: "regex", re, plain };
      const max = maxNear(
        r,
        m,
        match === null ? -1 : match.index + match[0].length,
      );
      if (max !== undefined) op.max = max;
      return op;
    }
    case "into":
      return {
        kind: "into",
        size: sizeNear(r, m, 300000),
        partial: r.chance(0.4),
        pad: r.int(0, 8),
      };
    default:
      return {
        kind: "close",
        cb: r.chance(0.4) ? genCallback(r, m, seq) : null,
      };
  }
}

function genOp(r: Rand, m: Model, seq: number): Op {
  const onHang = r.pick<HangAction>(["close", "close", "closeWithError"]);
  switch (
    r.weighted({
      read: 40,
      iterate: 3,
      setCloseCallback: 2,
      clearCloseCallback: 1,
      close: 1,
      badArgs: 1,
    })
  ) {
    case "read": {
      const read = genRead(r, m, seq);
      return { kind: "read", read, clash: r.chance(0.15), onHang };
    }
    case "iterate":
      return {
        kind: "iterate",
        steps: r.int(1, 4),
        onHang: r.pick<HangAction>(["return", "return", "close"]),
        nextAfter: r.chance(0.5),
      };
    case "setCloseCallback":
      return { kind: "setCloseCallback" };
    case "clearCloseCallback":
      return { kind: "clearCloseCallback" };
    case "close":
      return {
        kind: "close",
        error: r.pick([undefined, null, closeError(), "not an Error"]),
      };
    default:
      return { kind: "badArgs", which: r.int(0, 5) };
  }
}

function closeError(): Error {
  return new Error("protocol violation");
}

function describeOp(op: Op): string {
  switch (op.kind) {
    case "read":
      return describeRead(op.read) + (op.clash ? " + a clashing read" : "");
    case "iterate":
      return `iterate: ${op.steps} steps, then return()`;
    case "close":
      return `close(${
        op.error === undefined
          ? ""
          : op.error === null
          ? "null"
          : showError(op.error)
      })`;
    case "badArgs":
      return `bad arguments #${op.which}`;
    default:
      return `${op.kind}()`;
  }
}

// ------------------------------------------------------------ running

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Tracked {
  settled: Settled | null;
  done: Promise<void>;
}

function track(p: Promise<unknown>): Tracked {
  const t: Tracked = { settled: null, done: Promise.resolve() };
  t.done = p.then(
    (value) => void (t.settled = { ok: true, value }),
    (error) => void (t.settled = { ok: false, error }),
  );
  return t;
}

function showSettled(s: Settled | null): string {
  if (s === null) return "still pending";
  if (!s.ok) return `rejects ${showError(s.error)}`;
  const v = s.value;
  if (v instanceof Uint8Array) return `resolves ${show(v)}`;
  if (typeof v === "number") return `resolves ${v}`;
  if (typeof v === "object" && v !== null && "done" in v) {
    const r = v as IteratorResult<unknown>;
    return r.done
      ? "resolves done"
      : `resolves chunk ${
        r.value instanceof Uint8Array ? show(r.value) : String(r.value)
      }`;
  }
  return `resolves ${String(v)}`;
}

function sameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  if (got.length === want.length && got.every((x, i) => x === want[i])) return;
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  throw new Error(
    `${what}: got ${show(got)}, want ${show(want)} (differ at byte ${i})`,
  );
}

/** Waits for `p`, or WATCHDOG_MS if it takes longer. */
async function withWatchdog(p: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watchdog = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, WATCHDOG_MS);
  });
  try {
    await Promise.race([p, watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

class Run {
  readonly c: Case;
  readonly log: Event[] = [];
  readonly stream: FuzzStream;
  readonly model: Model;
  readonly trace: string[] = [];
  readonly r: Rand;
  closeCbCalls = 0;
  readonly #closeCbRan = Promise.withResolvers<void>();
  readonly cbProblems: string[] = [];
  readonly reads = new Set<Tracked>();
  #it: AsyncIterator<Uint8Array> | null = null;

  constructor(c: Case) {
    this.c = c;
    this.stream = new FuzzStream(c, this.log);
    this.model = new Model(c);
    this.r = new Rand(c.seed * 7 + 2);
  }

  readonly onClose = (): void => {
    this.closeCbCalls++;
    this.#closeCbRan.resolve();
    if (!this.stream.closed()) {
      this.cbProblems.push("the close callback ran on an open stream");
    }
    for (const t of this.reads) {
      if (t.settled === null) {
        this.cbProblems.push(
          "the close callback ran before a read's awaiter saw its outcome",
        );
      }
    }
  };

  async run(): Promise<void> {
    let afterEnd = 0;
    for (let i = 0; i < this.c.ops; i++) {
      // A few reads of a closed, empty stream are enough.
      if (this.model.closed && this.model.buffered === 0 && afterEnd++ === 2) {
        break;
      }
      const op = genOp(this.r, this.model, i);
      this.trace.push(describeOp(op));
      await this.#op(op);
    }
    await this.#finish();
  }

  #note(text: string): void {
    this.trace[this.trace.length - 1] += `\n      ${text}`;
  }

  async #op(op: Op): Promise<void> {
    const { stream, model } = this;
    model.consume(this.log);
    switch (op.kind) {
      case "read":
        await this.#read(op.read, op.onHang, op.clash);
        break;
      case "iterate": {
        model.iterCreate();
        this.#it = stream[Symbol.asyncIterator]();
        for (let i = 0; i < op.steps; i++) {
          // Other reads may run while an iterator is alive.
          const read: ReadOp = this.r.chance(0.3)
            ? genRead(this.r, model, i)
            : { kind: "next" };
          this.#note(describeRead(read));
          await this.#read(read, op.onHang, false);
        }
        model.consume(this.log);
        model.iterReturn();
        assert.deepEqual(await this.#it.return!(), {
          done: true,
          value: undefined,
        });
        if (op.nextAfter) {
          this.#note("iterator.next()");
          await this.#read({ kind: "next" }, "close", false);
        }
        this.#it = null;
        break;
      }
      case "setCloseCallback":
        model.setCloseCallback();
        stream.setCloseCallback(this.onClose);
        break;
      case "clearCloseCallback":
        model.clearCloseCallback();
        stream.setCloseCallback(null);
        break;
      case "close":
        model.userClose(op.error);
        stream.close(op.error);
        break;
      case "badArgs":
        await this.#badArgs(op.which);
        break;
    }
    this.#checkState();
  }

  async #badArgs(which: number): Promise<void> {
    const s = this.stream;
    const cases: [() => Promise<unknown>, string][] = [
      [() => s.readBytes(-1), "RangeError"],
      [() => s.readBytes(1.5), "RangeError"],
      [() => s.readUntil(""), "TypeError"],
      [() => s.readUntil("a", { maxBytes: -1 }), "RangeError"],
      [() => s.readUntilRegex(/a/, { maxBytes: 0.5 }), "RangeError"],
      [() => s.readInto(new Uint16Array(2) as never), "TypeError"],
    ];
    const [call, name] = cases[which]!;
    await assert.rejects(call(), { name });
  }

  // Starts a read the model also starts, waits for it (or for the transport
  // to hang, then ends it as `onHang` says), and compares.
  async #read(op: ReadOp, onHang: HangAction, clash: boolean): Promise<void> {
    const { stream, model } = this;
    model.consume(this.log);
    model.startRead(op);
    const chunks: Uint8Array[] = [];
    let received = 0;
    const clashes: Promise<void>[] = [];
    const cb = op.kind === "bytes" || op.kind === "close" ? op.cb : null;
    const callback = (chunk: Uint8Array): void => {
      const before = received;
      chunks.push(chunk.slice());
      received += chunk.length;
      // The read is still pending while its callback runs.
      if (clash) clashes.push(this.#clash());
      if (cb === null || cb.at === 0 || before >= cb.at || received < cb.at) {
        return;
      }
      if (cb.action === "throw") throw cb.error;
      stream.close(cb.action === "close" ? undefined : cb.error);
    };
    let into: Uint8Array | null = null;
    let block: Uint8Array | null = null;
    let promise: Promise<unknown>;
    switch (op.kind) {
      case "bytes":
        promise = stream.readBytes(op.n, {
          ...(op.partial ? { partial: true } : {}),
          ...(op.cb ? { streamingCallback: callback } : {}),
        });
        break;
      case "until":
        promise = stream.readUntil(
          op.delim,
          op.max === undefined ? undefined : { maxBytes: op.max },
        );
        break;
      case "regex":
        promise = stream.readUntilRegex(
          op.re,
          op.max === undefined ? {} : { maxBytes: op.max },
        );
        break;
      case "into":
        block = new Uint8Array(op.size + 2 * op.pad).fill(0xee);
        into = block.subarray(op.pad, op.pad + op.size);
        stream.intoMemory = block.buffer;
        promise = stream.readInto(into, { partial: op.partial });
        break;
      case "close":
        promise = stream.readUntilClose(
          op.cb ? { streamingCallback: callback } : {},
        );
        break;
      case "next":
        promise = this.#it!.next();
        break;
    }
    const t = track(promise);
    this.reads.add(t);
    if (clash && model.pending !== null) clashes.push(this.#clash());
    await Promise.all(clashes);
    let waited = await this.#wait(t);
    if (!waited) {
      model.consume(this.log);
      if (model.pending === null) {
        throw new Error(
          `Still pending, but the model says: ${this.#expected()}`,
        );
      }
      if (onHang === "return" && op.kind === "next") {
        this.#note("(pending: return())");
        model.iterReturn();
        await this.#it!.return!();
      } else {
        const error = onHang === "closeWithError" ? closeError() : undefined;
        this.#note(`(pending: close(${error ? "error" : ""}))`);
        model.userClose(error);
        stream.close(error);
      }
      waited = await this.#wait(t);
      if (!waited) throw new Error("Still pending after close()");
    }
    model.consume(this.log);
    stream.intoMemory = null;
    const got = t.settled!;
    this.#note(`-> ${showSettled(got)}`);
    this.#compare(got, op, into, block);
    if (model.streamed !== null) {
      const [from, to] = model.streamed;
      const all = new Uint8Array(received);
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.length;
      }
      sameBytes(all, model.data.subarray(from, to), "streamed bytes");
    } else if (chunks.length > 0) {
      throw new Error("The streaming callback got bytes the model did not");
    }
    await Promise.all(clashes);
    this.#checkState();
  }

  async #clash(): Promise<void> {
    const s = this.stream;
    const call = this.r.pick([
      () => s.readBytes(1),
      () => s.readUntil("\n"),
      () => s.readUntilRegex(/a/),
      () => s.readInto(new Uint8Array(1)),
      () => s.readUntilClose(),
    ]);
    await assert.rejects(call(), (err: unknown) => {
      assert.ok(err instanceof Error && err.constructor === Error);
      assert.match(err.message, /another read is pending/);
      return true;
    });
  }

  // True once `t` settled; false when the transport hangs with `t` pending.
  async #wait(t: Tracked): Promise<boolean> {
    if (t.settled === null) {
      await withWatchdog(Promise.race([t.done, this.stream.hung.promise]));
      // A read the hanging transport read could have served is settled
      // already; let its reactions run.
      if (t.settled === null) await macrotask();
      if (t.settled === null && !this.stream.isHung) {
        throw new Error(
          `Stalled: the read is pending after ${WATCHDOG_MS} ms, though ` +
            `the transport is not hanging`,
        );
      }
    }
    return t.settled !== null;
  }

  #expected(): string {
    const e = this.model.result;
    if (e === null) return "still pending";
    const d = this.model.data;
    switch (e.t) {
      case "bytes":
        return `resolves ${show(d.subarray(e.from, e.to))}`;
      case "count":
        return `resolves ${e.to - e.from}`;
      case "chunk":
        return `resolves chunk ${show(d.subarray(e.from, e.to))}`;
      case "done":
        return "resolves done";
      case "closed":
        return "rejects StreamClosedError";
      case "unsat":
        return "rejects UnsatisfiableReadError";
      case "full":
        return "rejects StreamBufferFullError";
      case "thrown":
        return `rejects what the callback threw: ${showError(e.value)}`;
    }
  }

  #compare(
    got: Settled,
    op: ReadOp,
    into: Uint8Array | null,
    block: Uint8Array | null,
  ): void {
    const { model, stream } = this;
    const e = model.result;
    const mismatch = () =>
      new Error(`Got: ${showSettled(got)}\nwant: ${this.#expected()}`);
    if (e === null) throw mismatch();
    if (block !== null && op.kind === "into") {
      const pad = op.pad;
      const outside = [
        ...block.subarray(0, pad),
        ...block.subarray(pad + op.size),
      ];
      if (outside.some((x) => x !== 0xee)) {
        throw new Error("readInto() wrote outside the buffer it was given");
      }
    }
    switch (e.t) {
      case "bytes":
        if (!got.ok || !(got.value instanceof Uint8Array)) throw mismatch();
        sameBytes(got.value, model.data.subarray(e.from, e.to), "value");
        return;
      case "count":
        if (!got.ok || got.value !== e.to - e.from) throw mismatch();
        sameBytes(
          into!.subarray(0, e.to - e.from),
          model.data.subarray(e.from, e.to),
          "buffer",
        );
        return;
      case "chunk": {
        const v = got.ok ? got.value as IteratorResult<Uint8Array> : null;
        if (v === null || v.done !== false) throw mismatch();
        sameBytes(v.value, model.data.subarray(e.from, e.to), "chunk");
        return;
      }
      case "done":
        if (!got.ok) throw mismatch();
        assert.deepEqual(got.value, { done: true, value: undefined });
        return;
      case "closed": {
        if (got.ok || !(got.error instanceof StreamClosedError)) {
          throw mismatch();
        }
        const real = got.error.realError;
        const want = model.cause.t === "none" ? undefined : stream.error;
        if (real !== want) {
          throw new Error(
            `realError is ${showError(real)}, want ${showError(want)}`,
          );
        }
        return;
      }
      case "unsat":
      case "full": {
        if (got.ok || !(got.error instanceof LIMIT_ERRORS[e.t])) {
          throw mismatch();
        }
        if (e.own && stream.error !== got.error) {
          throw new Error("stream.error is not the error the read failed with");
        }
        return;
      }
      case "thrown":
        if (got.ok || got.error !== e.value) throw mismatch();
        return;
    }
  }

  #checkState(): void {
    const { model, stream } = this;
    model.consume(this.log);
    const state = (what: string, got: unknown, want: unknown) => {
      if (got !== want) {
        throw new Error(`${what} is ${String(got)}, want ${String(want)}`);
      }
    };
    state("closed()", stream.closed(), model.closed);
    state("readBufferSize", stream.readBufferSize, model.buffered);
    state("reading()", stream.reading(), model.pending !== null);
    const err = stream.error;
    const cause = model.cause;
    switch (cause.t) {
      case "none":
        if (err !== null) {
          throw new Error(`stream.error is ${showError(err)}, want null`);
        }
        break;
      case "given": {
        const ok = cause.value instanceof Error
          ? err === cause.value
          : err instanceof Error && err.message === String(cause.value);
        if (!ok) {
          throw new Error(
            `stream.error is ${showError(err)}, want ${showError(cause.value)}`,
          );
        }
        break;
      }
      case "unsat":
      case "full": {
        const cls = LIMIT_ERRORS[cause.t];
        if (!(err instanceof cls)) {
          throw new Error(
            `stream.error is ${showError(err)}, want ${cls.name}`,
          );
        }
        break;
      }
    }
    model.checkInFlight();
    if (stream.problems.length > 0) throw new Error(stream.problems[0]);
    if (this.cbProblems.length > 0) throw new Error(this.cbProblems[0]);
  }

  async #finish(): Promise<void> {
    const { model, stream } = this;
    this.trace.push("(end of program)");
    model.consume(this.log);
    // A close callback on an idle, empty stream notices the end by itself.
    if (
      model.closeCb && !model.closed && model.buffered === 0 &&
      model.delivered === model.data.length && this.c.end !== "hang"
    ) {
      await withWatchdog(this.#closeCbRan.promise);
      model.consume(this.log);
      if (!stream.closed()) {
        throw new Error(
          "A close callback is set and nothing is buffered, but the stream " +
            "did not notice the transport's end",
        );
      }
    }
    if (!model.closed) {
      this.trace.push("close()");
      model.userClose(undefined);
      stream.close();
    }
    await this.#quiesce();
    this.#checkState();
    if (this.closeCbCalls !== model.closeCbRuns) {
      throw new Error(
        `The close callback ran ${this.closeCbCalls} times, want ${model.closeCbRuns}`,
      );
    }
    if (stream.closeFdCalls !== 1) {
      throw new Error(`closeFd() ran ${stream.closeFdCalls} times, want 1`);
    }
  }

  /** Lets every delayed delivery and the close callback run. */
  async #quiesce(): Promise<void> {
    await this.stream.drained();
    await macrotask();
    await macrotask();
  }

  /** Leaves nothing running, whatever happened. */
  async cleanUp(): Promise<void> {
    this.stream.close();
    await this.#quiesce();
  }

  report(err: unknown): string {
    const steps = this.trace.map((s, i) => `  ${i + 1}. ${s}`).join("\n");
    const events = this.log.slice(-40).map(showEvent).join(", ");
    return [
      `Seed ${this.c.seed}: ${err instanceof Error ? err.message : err}`,
      describeCase(this.c),
      `program:\n${steps}`,
      `last transport events (${this.log.length} in all): ${events}`,
      `replay: SQUALL_FUZZ_SEED=${this.c.seed} deno test -A ${FILE}`,
    ].join("\n");
  }
}

async function runCase(seed: number, profile: Profile): Promise<void> {
  const run = new Run(makeCase(seed, profile));
  let failure: unknown = null;
  try {
    await run.run();
  } catch (err) {
    failure = err;
  } finally {
    await run.cleanUp();
  }
  if (failure !== null) {
    throw new Error(run.report(failure), { cause: failure });
  }
}

// ------------------------------------------------------------ the test

function envNumber(name: string): number | undefined {
  const granted =
    Deno.permissions.querySync({ name: "env", variable: name }).state ===
      "granted";
  const value = granted ? Deno.env.get(name) : undefined;
  return value === undefined || value === "" ? undefined : Number(value);
}

function profileOf(seed: number): Profile {
  const p = [...PROFILES].reverse().find((p) => seed >= p.first);
  if (p === undefined) throw new RangeError(`No profile for seed ${seed}`);
  return p;
}

Deno.test("BaseIOStream reads match a reference model over random chunkings", async (t) => {
  const only = envNumber("SQUALL_FUZZ_SEED");
  if (only !== undefined) {
    await t.step(`seed ${only}`, () => runCase(only, profileOf(only)));
    return;
  }
  const scale = envNumber("SQUALL_FUZZ_SCALE") ?? 1;
  for (const profile of PROFILES) {
    const cases = Math.round(profile.cases * scale);
    await t.step(`${cases} programs: ${profile.name}`, async () => {
      for (let i = 0; i < cases; i++) await runCase(profile.first + i, profile);
    });
  }
});
