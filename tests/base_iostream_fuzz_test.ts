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
// Reads may also give up (`timeout`, `signal`): a timeout of 0 or less, an
// already aborted signal, a signal the program aborts later (at a transport
// delivery, from the streaming callback, when only close() could end the
// read, during the next read), or a short real timeout. Each abort, and each
// firing of a read's timer (seen through a wrapped setTimeout), is logged in
// order with the transport's events, so the model knows exactly what the
// read had received when it gave up.
//
// Replay one case: SQUALL_FUZZ_SEED=<seed> deno test -A <this file> (a
// program with a real timer may take another path when replayed).
// More cases: SQUALL_FUZZ_SCALE=<factor>.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  BaseIOStream,
  type ReadWaitOptions,
  StreamBufferFullError,
  StreamClosedError,
  type StreamOptions,
  UnsatisfiableReadError,
} from "../iostream/mod.ts";
import { TimeoutError } from "../concurrent/mod.ts";
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
  | { t: "fail"; error: unknown }
  // Not the transport's: the program aborted the signal of `op`, or the
  // timer of `op` fired (or, for a timeout of 0 or less, was due at once).
  | { t: "abort"; op: ReadOp }
  | { t: "expire"; op: ReadOp };

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
    case "abort":
      return `abort ${describeRead(e.op)}`;
    case "expire":
      return `timeout of ${describeRead(e.op)}`;
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
  /** The memory of a pending readInto() that may give up: never lent. */
  keepOut: ArrayBufferLike | null = null;
  /** Called as each delivery (data, end or failure) reaches the stream. */
  onDelivery: (() => void) | null = null;
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
    if (buf.buffer === this.keepOut) {
      this.problems.push(
        "readFromFd() got the memory of a readInto() that may give up",
      );
    }
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
      this.onDelivery?.();
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
      this.onDelivery?.();
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

/** Whether a read may give up, and how. */
interface Wait {
  // 0 or less: at once; 1 to 3: a real timer; 60 s or Infinity: never.
  timeout?: number;
  signal?: AbortPlan;
}

/** A signal for one read, and when the program aborts it. */
interface AbortPlan {
  controller: AbortController;
  reason: unknown; // given to abort(); undefined: the default AbortError
  at: AbortAt;
  /** If still not aborted once the read settled: abort it then, or right
   * after the next read started (its listener must be gone either way). */
  late: "no" | "now" | "next";
  /** Abort listeners the stream added to the signal and did not remove. */
  listeners: () => number;
}

type AbortAt =
  | { t: "already" } // aborted before the read starts
  | { t: "start" } // right after the read method returns
  | { t: "delivery"; n: number; before: boolean } // at the n-th delivery
  | { t: "callback" } // from the streaming callback (its action "abort")
  | { t: "hang"; close: "no" | "before" | "after" } // instead of close()
  | { t: "never" };

interface UntilOp {
  kind: "until";
  delim: string | Uint8Array;
  bytes: Uint8Array; // the delimiter's bytes
  max?: number;
  wait: Wait | null;
}

interface RegexOp {
  kind: "regex";
  re: RegExp; // as given to the stream
  plain: RegExp; // without the g and y flags, which the stream ignores
  max?: number;
  wait: Wait | null;
}

/** A streaming callback, which may throw, close or abort once. */
interface Callback {
  at: number; // after receiving this many bytes in all (0: never)
  action: "throw" | "close" | "closeWithError" | "abort";
  error: Error; // what it throws or closes with
}

type ReadOp =
  | {
    kind: "bytes";
    n: number;
    partial: boolean;
    cb: Callback | null;
    wait: Wait | null;
  }
  | UntilOp
  | RegexOp
  | {
    kind: "into";
    size: number;
    partial: boolean;
    pad: number;
    wait: Wait | null;
  }
  | { kind: "close"; cb: Callback | null; wait: Wait | null }
  | { kind: "next" };

/** What each kind of read is called in a TimeoutError's message. */
const READ_NAMES = {
  bytes: "readBytes()",
  until: "readUntil()",
  regex: "readUntilRegex()",
  into: "readInto()",
  close: "readUntilClose()",
} as const;

function describeWait(w: Wait): string[] {
  const out: string[] = [];
  if (w.timeout !== undefined) out.push(`timeout: ${w.timeout}`);
  const plan = w.signal;
  if (plan === undefined) return out;
  const at = plan.at;
  const when = at.t === "already"
    ? "aborted already"
    : at.t === "delivery"
    ? `aborted ${at.before ? "as" : "after"} delivery ${at.n} arrives`
    : at.t === "hang"
    ? `aborted when the transport hangs${
      at.close === "no" ? "" : `, ${at.close} close()`
    }`
    : at.t === "never"
    ? "not aborted"
    : `aborted ${at.t === "start" ? "at once" : "by the callback"}`;
  const late = plan.late === "no"
    ? ""
    : `; if not, aborted ${plan.late === "now" ? "once settled" : "later"}`;
  out.push(`signal (${when}${late}, reason ${showError(plan.reason)})`);
  return out;
}

function describeRead(op: ReadOp): string {
  if (op.kind === "next") return "iterator.next()";
  const opts: string[] = [];
  let arg = "";
  switch (op.kind) {
    case "bytes":
      arg = `${op.n}`;
      if (op.partial) opts.push("partial");
      break;
    case "until":
      arg = typeof op.delim === "string"
        ? JSON.stringify(op.delim)
        : `bytes ${show(op.delim)}`;
      break;
    case "regex":
      arg = `${op.re}`;
      break;
    case "into":
      arg = `${op.size}-byte buffer`;
      if (op.partial) opts.push("partial");
      break;
  }
  if ((op.kind === "until" || op.kind === "regex") && op.max !== undefined) {
    opts.push(`maxBytes: ${op.max}`);
  }
  const cb = op.kind === "bytes" || op.kind === "close" ? op.cb : null;
  if (cb !== null) {
    const action = cb.action === "throw"
      ? "throws"
      : cb.action === "close"
      ? "calls close()"
      : cb.action === "closeWithError"
      ? "calls close(error)"
      : "aborts";
    opts.push(
      cb.at === 0
        ? "streamingCallback"
        : `streamingCallback (${action} at ${cb.at} bytes)`,
    );
  }
  if (op.wait !== null) opts.push(...describeWait(op.wait));
  const all = opts.length > 0 ? `{ ${opts.join(", ")} }` : "";
  return `${READ_NAMES[op.kind].slice(0, -2)}(${
    [arg, all].filter((x) => x).join(", ")
  })`;
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
  | { t: "thrown"; value: unknown }
  | { t: "timeout"; name: string; ms: number } // TimeoutError
  | { t: "reason"; signal: AbortSignal }; // rejects with signal.reason

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
  // Listening (for the peer's close) from its first accepted next() on.
  iterListening = false;
  pending: Pending | null = null;
  result: Expected | null = null;
  /** For a read with a streaming callback: what the callback got. */
  streamed: [number, number] | null = null;
  #seen = 0;
  /** From startRead() to started(): the read method is running. */
  #starting = false;
  // Whether the read gave up while its method ran (its streaming callback
  // aborted): it may have asked the transport for data first.
  #gaveUpAtStart = false;

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
        ((this.closeCb || (this.iterActive && this.iterListening)) &&
          this.buffered === 0));
  }

  /** Replays what the transport did since last time. */
  consume(log: readonly Event[]): void {
    for (; this.#seen < log.length; this.#seen++) {
      const e = log[this.#seen]!;
      if (e.t === "call") this.#onCall();
      else if (e.t === "abort" || e.t === "expire") {
        // Too late (or early) for a read that is not pending.
        if (this.pending?.op === e.op) this.#gaveUp(e);
      } else if (this.closed) continue; // after close: ignored
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
    if (!this.wanted() && !this.#gaveUpAtStart) {
      throw new Error(
        `Transport read while nobody wants data (${this.buffered} bytes ` +
          `buffered, ${this.pending ? "a read pending" : "no read pending"}, ` +
          `${this.closeCb ? "a" : "no"} close callback, ` +
          `${
            this.iterActive && this.iterListening ? "a" : "no"
          } listening iterator)`,
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
    this.#starting = true;
    const signal = op.kind === "next" ? undefined : op.wait?.signal;
    if (signal?.at.t === "already") {
      // Before anything else, even buffered data that could serve it.
      this.result = { t: "reason", signal: signal.controller.signal };
      return;
    }
    if (op.kind === "next" && !this.iterActive) {
      this.result = { t: "done" };
      return;
    }
    if (op.kind === "next") this.iterListening = true;
    if (
      op.kind === "bytes" && !op.partial && op.cb === null &&
      op.n > this.maxBuffer && op.n > this.buffered
    ) {
      // It could never fit: it fails at once, open or closed, and changes
      // nothing. (Bytes already buffered past the limit, say from a
      // transport that returned more than asked, are served all the same.)
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

  /** The read method returned (and what it did is consumed). */
  started(): void {
    this.#starting = false;
    this.#gaveUpAtStart = false;
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
    this.iterListening = false;
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

  // The pending read gives up: it consumes nothing, except what its
  // streaming callback already got (a readInto() puts back what it had
  // moved into its buffer).
  #gaveUp(e: Event & { t: "abort" | "expire" }): void {
    const p = this.pending!;
    const op = e.op;
    if (op.kind === "next") throw new Error("An iterator's next() gave up");
    if (p.op.kind === "into") this.pos = p.start;
    if (this.#starting) this.#gaveUpAtStart = true;
    this.#settle(
      e.t === "abort"
        ? { t: "reason", signal: op.wait!.signal!.controller.signal }
        : { t: "timeout", name: READ_NAMES[op.kind], ms: op.wait!.timeout! },
    );
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
    if (cb.action === "abort") {
      this.#gaveUp({ t: "abort", op: p.op });
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
    } else {
      // A readInto() that fails puts back what it had moved into its buffer.
      if (op.kind === "into") this.pos = p.start;
      this.#settle({ t: "closed" });
    }
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

/** A read that may give up: any but an iterator's next(). */
type GivingRead = Exclude<ReadOp, { kind: "next" }>;

function genRead(r: Rand, m: Model, seq: number): GivingRead {
  const op = genPlainRead(r, m, seq);
  if (r.chance(0.3)) op.wait = genWait(r, m, op, seq);
  return op;
}

function genWait(r: Rand, m: Model, op: GivingRead, seq: number): Wait {
  switch (r.weighted({ zero: 4, already: 3, abort: 10, timer: 1, never: 2 })) {
    case "zero":
      return { timeout: r.pick([0, 0, -1, -250]) };
    case "timer":
      // Real time: rare and short.
      return { timeout: r.int(1, 3) };
    case "already": {
      const w: Wait = { signal: genAbort(r, { t: "already" }, seq) };
      if (r.chance(0.3)) w.timeout = r.pick([0, 1, 60_000]);
      return w;
    }
    case "never": {
      const w: Wait = { timeout: r.pick([60_000, Infinity]) };
      if (r.chance(0.5)) w.signal = genAbort(r, { t: "never" }, seq);
      return w;
    }
  }
  const cbAllowed = op.kind === "bytes" || op.kind === "close";
  let at: AbortAt;
  switch (
    r.weighted({ start: 2, delivery: 6, callback: cbAllowed ? 3 : 0, hang: 3 })
  ) {
    case "start":
      at = { t: "start" };
      break;
    case "delivery":
      at = { t: "delivery", n: r.int(1, 4), before: r.chance(0.5) };
      break;
    case "callback": {
      at = { t: "callback" };
      const left = m.data.length - m.pos;
      const cb: Callback = {
        at: r.int(1, Math.max(1, left)),
        action: "abort",
        error: new Error("unused"),
      };
      if (op.kind === "bytes") {
        op.cb = cb;
        op.partial = false;
      } else if (op.kind === "close") op.cb = cb;
      break;
    }
    default:
      at = { t: "hang", close: r.pick(["no", "no", "before", "after"]) };
  }
  const w: Wait = { signal: genAbort(r, at, seq) };
  // A timer that must go away when the read gives up on its signal.
  if (r.chance(0.2)) w.timeout = 60_000;
  return w;
}

function genAbort(r: Rand, at: AbortAt, seq: number): AbortPlan {
  const controller = new AbortController();
  const listeners = watchListeners(controller.signal);
  const reason = r.pick([
    undefined,
    new Error(`read ${seq} aborted`),
    new DOMException(`read ${seq} timed out`, "TimeoutError"),
    `read ${seq}: a reason that is not an Error`,
  ]);
  if (at.t === "already") controller.abort(reason);
  const late = r.pick(["no", "now", "next"] as const);
  return { controller, reason, at, late, listeners };
}

/** Counts the abort listeners added to `signal` and not yet removed. */
function watchListeners(signal: AbortSignal): () => number {
  const live = new Map<unknown, boolean>(); // listener -> whether once
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  // Added first, so it runs first: once-listeners are gone after the abort.
  add("abort", () => {
    for (const [listener, once] of live) if (once) live.delete(listener);
  });
  Object.assign(signal, {
    addEventListener(type: string, listener: unknown, options?: unknown) {
      if (type === "abort") {
        live.set(
          listener,
          typeof options === "object" && options !== null &&
            (options as AddEventListenerOptions).once === true,
        );
      }
      add(type, listener as EventListener, options as AddEventListenerOptions);
    },
    removeEventListener(type: string, listener: unknown, options?: unknown) {
      if (type === "abort") live.delete(listener);
      remove(type, listener as EventListener, options as EventListenerOptions);
    },
  });
  return () => live.size;
}

function genPlainRead(r: Rand, m: Model, seq: number): GivingRead {
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
        wait: null,
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
      const op: UntilOp = { kind: "until", delim, bytes, wait: null };
      const max = maxNear(r, m, end);
      if (max !== undefined) op.max = max;
      return op;
    }
    case "regex": {
      const re = r.pick(REGEXES);
      const plain = new RegExp(re.source, re.flags.replace(/[gy]/g, ""));
      const match = plain.exec(m.text.slice(m.pos));
      const op: RegexOp = { kind: "regex", re, plain, wait: null };
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
        // Below 512 bytes, or from 512 on, where the transport could read
        // straight into it (not when the read may give up).
        size: r.chance(0.7) ? sizeNear(r, m, 300000) : r.pick([
          r.int(1, 511),
          r.int(512, 20000),
        ]),
        partial: r.chance(0.4),
        pad: r.int(0, 8),
        wait: null,
      };
    default:
      return {
        kind: "close",
        cb: r.chance(0.4) ? genCallback(r, m, seq) : null,
        wait: null,
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
      return { kind: "badArgs", which: r.int(0, BAD_ARGS.length - 1) };
  }
}

/** Calls with bad arguments, which must change nothing, and their errors. */
const BAD_ARGS: readonly [
  string,
  (s: BaseIOStream, buf: Uint8Array) => Promise<unknown>,
][] = [
  ["RangeError", (s) => s.readBytes(-1)],
  ["RangeError", (s) => s.readBytes(1.5)],
  ["TypeError", (s) => s.readUntil("")],
  ["RangeError", (s) => s.readUntil("a", { maxBytes: -1 })],
  ["RangeError", (s) => s.readUntilRegex(/a/, { maxBytes: 0.5 })],
  ["TypeError", (s) => s.readInto(new Uint16Array(2) as never)],
  ["TypeError", (s) => s.readBytes(1, { timeout: "5" as never })],
  ["RangeError", (s) => s.readUntil("\n", { timeout: NaN })],
  ["TypeError", (s) => s.readUntilRegex(/a/, { signal: {} as never })],
  ["RangeError", (s, buf) => s.readInto(buf, { timeout: NaN })],
  ["TypeError", (s, buf) => s.readInto(buf, { signal: "abort" as never })],
  ["TypeError", (s) => s.readUntilClose({ timeout: null as never })],
  ["TypeError", (s) =>
    s.readBytes(2, {
      streamingCallback: () => {},
      signal: new EventTarget() as never,
    })],
];

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
  if (got.length === want.length && Buffer.compare(got, want) === 0) return;
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

/**
 * Wraps setTimeout and clearTimeout to see the timers a read call sets:
 * which are still armed, and when one fires (`onFire` runs first, to log
 * it). Other timers pass through.
 */
class TimerSpy {
  readonly armed = new Set<unknown>();
  readonly #setTimeout = globalThis.setTimeout;
  readonly #clearTimeout = globalThis.clearTimeout;
  #onFire: (() => void) | null = null;

  install(): void {
    const set = this.#setTimeout;
    const clear = this.#clearTimeout;
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      const onFire = this.#onFire;
      if (onFire === null) return set(fn, ms);
      const id = set(() => {
        this.armed.delete(id);
        onFire();
        fn();
      }, ms);
      this.armed.add(id);
      return id;
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((id?: unknown) => {
      if (id !== undefined) this.armed.delete(id);
      clear(id as number);
    }) as typeof clearTimeout;
  }

  uninstall(): void {
    globalThis.setTimeout = this.#setTimeout;
    globalThis.clearTimeout = this.#clearTimeout;
  }

  /** Calls `start`; the timers it sets call `onFire` as they fire. */
  capture<T>(onFire: () => void, start: () => T): T {
    this.#onFire = onFire;
    try {
      return start();
    } finally {
      this.#onFire = null;
    }
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
  readonly timers: TimerSpy;
  #it: AsyncIterator<Uint8Array> | null = null;
  /** A settled read whose signal is to be aborted once the next starts. */
  #stale: ReadOp | null = null;
  /** The block of each settled readInto() and a copy of it as it was then. */
  readonly #settledInto: [Uint8Array, Uint8Array][] = [];

  constructor(c: Case, timers: TimerSpy) {
    this.c = c;
    this.timers = timers;
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
    const [name, call] = BAD_ARGS[which]!;
    const buf = new Uint8Array(this.r.pick([4, 600])).fill(0xee);
    await assert.rejects(call(this.stream, buf), { name });
    if (buf.some((x) => x !== 0xee)) {
      throw new Error("A readInto() with bad arguments wrote to its buffer");
    }
  }

  // Starts a read the model also starts, waits for it (or for the transport
  // to hang, then ends it as `onHang` or the read's abort plan says), and
  // compares.
  async #read(op: ReadOp, onHang: HangAction, clash: boolean): Promise<void> {
    const { stream, model } = this;
    model.consume(this.log);
    model.startRead(op);
    const wait = op.kind === "next" ? null : op.wait;
    const plan = wait?.signal ?? null;
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
      // The model sees this abort as it feeds the callback: no log entry.
      if (cb.action === "abort") plan!.controller.abort(plan!.reason);
      else stream.close(cb.action === "close" ? undefined : cb.error);
    };
    const giving: ReadWaitOptions = {};
    if (wait?.timeout !== undefined) giving.timeout = wait.timeout;
    if (plan !== null) giving.signal = plan.controller.signal;
    const waits = wait !== null;
    if (plan?.at.t === "delivery") {
      const { n, before } = plan.at;
      let count = 0;
      stream.onDelivery = () => {
        if (++count !== n) return;
        // Before the stream sees the delivery, or right after.
        if (before) this.#abort(op);
        else queueMicrotask(() => this.#abort(op));
      };
    }
    let into: Uint8Array | null = null;
    let block: Uint8Array | null = null;
    if (op.kind === "into") {
      block = new Uint8Array(op.size + 2 * op.pad).fill(0xee);
      into = block.subarray(op.pad, op.pad + op.size);
      if (waits) stream.keepOut = block.buffer;
      else stream.intoMemory = block.buffer;
    }
    const start = (): Promise<unknown> => {
      switch (op.kind) {
        case "bytes":
          return stream.readBytes(op.n, {
            ...(op.partial ? { partial: true } : {}),
            ...(op.cb ? { streamingCallback: callback } : {}),
            ...giving,
          });
        case "until":
          return stream.readUntil(
            op.delim,
            op.max === undefined && !waits ? undefined : {
              ...(op.max === undefined ? {} : { maxBytes: op.max }),
              ...giving,
            },
          );
        case "regex":
          return stream.readUntilRegex(op.re, {
            ...(op.max === undefined ? {} : { maxBytes: op.max }),
            ...giving,
          });
        case "into":
          return stream.readInto(into!, { partial: op.partial, ...giving });
        case "close":
          return stream.readUntilClose({
            ...(op.cb ? { streamingCallback: callback } : {}),
            ...giving,
          });
        case "next":
          return this.#it!.next();
      }
    };
    const promise = this.timers.capture(
      () => this.log.push({ t: "expire", op }),
      start,
    );
    // A timeout of 0 or less expired within the call, after what the read
    // did first.
    if (wait?.timeout !== undefined && wait.timeout <= 0) {
      this.log.push({ t: "expire", op });
    }
    if (plan?.at.t === "start") this.#abort(op);
    // The signal of the read before, once this one is pending: it must not
    // touch this one.
    if (this.#stale !== null) {
      this.#abort(this.#stale);
      this.#stale = null;
    }
    model.consume(this.log);
    model.started();
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
      const timeout = wait?.timeout ?? Infinity;
      if (timeout > 0 && timeout < WATCHDOG_MS) {
        this.#note("(pending: wait for the timeout)");
        await withWatchdog(t.done);
      } else if (plan?.at.t === "hang") {
        const { close } = plan.at;
        this.#note(
          close === "no"
            ? "(pending: abort)"
            : close === "before"
            ? "(pending: close(), then abort)"
            : "(pending: abort, then close())",
        );
        if (close === "before") this.#userClose(undefined);
        this.#abort(op);
        if (close === "after") this.#userClose(undefined);
      } else if (onHang === "return" && op.kind === "next") {
        this.#note("(pending: return())");
        model.iterReturn();
        await this.#it!.return!();
      } else {
        const error = onHang === "closeWithError" ? closeError() : undefined;
        this.#note(`(pending: close(${error ? "error" : ""}))`);
        this.#userClose(error);
      }
      waited = await this.#wait(t);
      if (!waited) throw new Error("Still pending after its end was forced");
    }
    model.consume(this.log);
    stream.intoMemory = null;
    stream.keepOut = null;
    stream.onDelivery = null;
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
    this.#afterSettle(op, into, block);
    this.#checkState();
  }

  // What must hold once a read settled, whichever way: its timer and abort
  // listener are gone, and it never writes to its buffer again (the caller
  // may reuse it at once).
  #afterSettle(
    op: ReadOp,
    into: Uint8Array | null,
    block: Uint8Array | null,
  ): void {
    if (this.timers.armed.size > 0) {
      throw new Error("The read settled, but its timer is still armed");
    }
    const plan = op.kind === "next" ? undefined : op.wait?.signal;
    if (plan !== undefined) {
      if (plan.listeners() > 0) {
        throw new Error(
          "The read settled, but its abort listener is still on the signal",
        );
      }
      if (plan.late === "now") {
        this.#note("(abort now)");
        this.#abort(op);
      } else if (plan.late === "next") this.#stale = op;
    }
    if (into !== null && block !== null) {
      if (this.r.chance(0.3)) into.fill(0x55);
      this.#settledInto.push([block, block.slice()]);
    }
  }

  #abort(op: ReadOp): void {
    const plan = op.kind === "next" ? undefined : op.wait?.signal;
    if (plan === undefined || plan.controller.signal.aborted) return;
    this.log.push({ t: "abort", op });
    plan.controller.abort(plan.reason);
  }

  #userClose(error: unknown): void {
    this.model.consume(this.log);
    this.model.userClose(error);
    this.stream.close(error);
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
      case "timeout":
        return `rejects TimeoutError: ${e.name} timed out after ${e.ms} ms`;
      case "reason":
        return `rejects the signal's reason: ${showError(e.signal.reason)}`;
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
      case "timeout":
        if (
          got.ok || !(got.error instanceof TimeoutError) ||
          got.error.message !== `${e.name} timed out after ${e.ms} ms`
        ) throw mismatch();
        return;
      case "reason":
        if (got.ok || got.error !== e.signal.reason) throw mismatch();
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
    for (const [block, then] of this.#settledInto) {
      sameBytes(block, then, "a readInto() buffer after its read settled");
    }
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

async function runCase(
  seed: number,
  profile: Profile,
  timers: TimerSpy,
): Promise<void> {
  const run = new Run(makeCase(seed, profile), timers);
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
  const timers = new TimerSpy();
  timers.install();
  try {
    const only = envNumber("SQUALL_FUZZ_SEED");
    if (only !== undefined) {
      await t.step(
        `seed ${only}`,
        () => runCase(only, profileOf(only), timers),
      );
      return;
    }
    const scale = envNumber("SQUALL_FUZZ_SCALE") ?? 1;
    for (const profile of PROFILES) {
      const cases = Math.round(profile.cases * scale);
      await t.step(`${cases} programs: ${profile.name}`, async () => {
        for (let i = 0; i < cases; i++) {
          await runCase(profile.first + i, profile, timers);
        }
      });
    }
  } finally {
    timers.uninstall();
  }
});
