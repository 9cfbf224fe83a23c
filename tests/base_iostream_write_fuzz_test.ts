// Copyright the squall authors. MIT license.

// A seeded, model-based randomized test of BaseIOStream's writes and close.
//
// Each case is a random program (writes of many sizes, awaited or not,
// waits, close() and close(error), close callbacks, state checks) run
// against a fake transport that takes a random part of each write, now or
// later, and sometimes fails like a reset. A reference model, written from
// API.md and the JSDoc, predicts which writes resolve, which reject and
// with what, and which bytes the transport must have received.
//
// A write resolves exactly when the transport took all of its bytes, even
// when the transport call carrying them settles after close() (then its
// code may run after the close callback); every other write fails.
// The one thing the model cannot know is how far the stream has caught up
// with its transport: a write the transport already took is seen by the
// stream one promise hop later. Where that window could change an answer
// (writing()) the model accepts either answer, learns which one the stream
// gave, and goes on from there. stream.closed() is read before each step to learn
// whether a transport failure has been seen yet.
//
// Cases run 16 at a time. Replay one alone (its program and transport
// choices are the same; only how its few-ms waits fall may differ):
//   SQUALL_FUZZ_SEED=<seed> deno test -A tests/base_iostream_write_fuzz_test.ts
// Soak: SQUALL_FUZZ_CASES=<n> runs seeds 1 to n.

import assert from "node:assert/strict";
import {
  BaseIOStream,
  StreamBufferFullError,
  StreamClosedError,
  type StreamOptions,
} from "../iostream/mod.ts";
import { seededRandom } from "./_rng.ts";

type Rng = () => number;

/** An integer in [lo, hi]. */
function int(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

// ------------------------------------------------------------- programs

type How = "await" | "then" | "ignore";

interface WriteStep {
  op: "write";
  data: Uint8Array | string;
  /** What UTF-8 (worked out by hand, not by TextEncoder) says goes out. */
  bytes: Uint8Array;
  label: string;
  /** Await it now, watch it while going on, or drop the promise. */
  how: How;
  /** Overwrite the caller's bytes once the promise settled. */
  scribble: boolean;
  /** Close the stream from the code that sees it settle. */
  closeAfter: boolean;
}
interface CloseStep {
  op: "close";
  error: Error | string | undefined;
}
interface CallbackStep {
  op: "callback";
  id: number | null;
}
interface CheckStep {
  op: "check";
}
interface WaitStep {
  op: "wait";
  wait: "microtask" | "macrotask" | "ms";
  ms: number;
}
type Step = WriteStep | CloseStep | CallbackStep | CheckStep | WaitStep;

interface Case {
  seed: number;
  options: StreamOptions;
  failRate: number;
  steps: Step[];
}

// Characters and their UTF-8 bytes. The lone high surrogate is never
// followed by a low one here, so it encodes as U+FFFD.
const UTF8: ReadonlyArray<readonly [string, readonly number[]]> = [
  ["a", [0x61]],
  ["Z", [0x5a]],
  ["\n", [0x0a]],
  ["\0", [0x00]],
  ["\u00e9", [0xc3, 0xa9]],
  ["\u00df", [0xc3, 0x9f]],
  ["\u20ac", [0xe2, 0x82, 0xac]],
  ["\u4e2d", [0xe4, 0xb8, 0xad]],
  ["\u{1f600}", [0xf0, 0x9f, 0x98, 0x80]],
  ["\ud800", [0xef, 0xbf, 0xbd]],
];

function makeString(rng: Rng, chars: number): [string, Uint8Array] {
  const text: string[] = [];
  const bytes: number[] = [];
  for (let i = 0; i < chars; i++) {
    const [s, b] = UTF8[Math.floor(rng() * UTF8.length)]!;
    text.push(s);
    bytes.push(...b);
  }
  return [text.join(""), new Uint8Array(bytes)];
}

function makeWrite(rng: Rng, index: number, limit?: number): WriteStep {
  const r = rng();
  const how: How = r < 0.35 ? "await" : r < 0.7 ? "then" : "ignore";
  const closeAfter = how === "then" && rng() < 0.04;
  if (rng() < 0.15) {
    const chars = rng() < 0.05 ? int(rng, 20000, 40000) : int(rng, 1, 40);
    const [data, bytes] = makeString(rng, chars);
    const label = `string of ${chars} chars (${bytes.length} bytes)`;
    return {
      op: "write",
      data,
      bytes,
      label,
      how,
      scribble: false,
      closeAfter,
    };
  }
  const s = rng();
  // Sizes near maxWriteBufferSize probe its edge.
  const n = limit !== undefined && rng() < 0.15
    ? Math.max(0, limit - int(rng, -2, 200))
    : s < 0.1
    ? 0
    : s < 0.25
    ? 1
    : s < 0.35
    ? int(rng, 65537, 150000)
    : s < 0.8
    ? int(rng, 2, 300)
    : int(rng, 301, 20000);
  // Sometimes a view into a larger buffer, to catch offset mistakes.
  const pad = rng() < 0.2 ? int(rng, 1, 16) : 0;
  const memory = new Uint8Array(n + 2 * pad).fill(0xaa);
  const data = memory.subarray(pad, pad + n);
  const salt = int(rng, 0, 255) + index;
  for (let i = 0; i < n; i++) data[i] = (salt + i * 131) & 255;
  const label = `${n} bytes${pad > 0 ? ` (a view at offset ${pad})` : ""}`;
  return {
    op: "write",
    data,
    bytes: data.slice(),
    label,
    how,
    scribble: how !== "ignore" && rng() < 0.5,
    closeAfter,
  };
}

function makeCase(seed: number): Case {
  const rng = seededRandom(seed);
  const options: StreamOptions = {};
  const m = rng();
  if (m < 0.4) options.maxWriteBufferSize = int(rng, 0, 3000);
  else if (m < 0.65) options.maxWriteBufferSize = int(rng, 4096, 300000);
  const f = rng();
  const failRate = f < 0.4 ? 0 : f < 0.8 ? 0.03 : 0.15;
  const steps: Step[] = [];
  let callbacks = 0;
  const count = int(rng, 1, 40);
  for (let i = 0; i < count; i++) {
    const r = rng();
    if (r < 0.55) {
      steps.push(makeWrite(rng, i, options.maxWriteBufferSize));
    } else if (r < 0.75) {
      const w = rng();
      const wait = w < 0.4 ? "microtask" : w < 0.93 ? "macrotask" : "ms";
      steps.push({ op: "wait", wait, ms: int(rng, 1, 3) });
    } else if (r < 0.86) steps.push({ op: "check" });
    else if (r < 0.96) {
      steps.push({ op: "callback", id: rng() < 0.2 ? null : ++callbacks });
    } else {
      const e = rng();
      const error = e < 0.4
        ? undefined
        : e < 0.85
        ? new Error(`application error at step ${i} (seed ${seed})`)
        : `a string reason at step ${i}`;
      steps.push({ op: "close", error });
    }
  }
  return { seed, options, failRate, steps };
}

function describeStep(step: Step): string {
  switch (step.op) {
    case "write":
      return `write ${step.label}, ${step.how}` +
        (step.scribble ? ", overwrite it once settled" : "") +
        (step.closeAfter ? ", close() once settled" : "");
    case "close":
      return step.error === undefined
        ? "close()"
        : typeof step.error === "string"
        ? `close(${JSON.stringify(step.error)})`
        : `close(new Error(${JSON.stringify(step.error.message)}))`;
    case "callback":
      return step.id === null
        ? "setCloseCallback(null)"
        : `setCloseCallback(callback #${step.id})`;
    case "check":
      return "check closed(), writing(), reading(), error";
    case "wait":
      return step.wait === "ms" ? `wait ${step.ms} ms` : `wait a ${step.wait}`;
  }
}

function describeCase(c: Case): string {
  const options = JSON.stringify(c.options);
  return [
    `options ${options}, transport failure rate ${c.failRate}`,
    ...c.steps.map((step, i) => `  ${i}: ${describeStep(step)}`),
  ].join("\n");
}

// ------------------------------------------------------------ transport

// The stream under test with a fake transport: each write takes a random
// number of bytes (at least one), at once, after a microtask, a macrotask
// or a few ms, and sometimes fails instead. It keeps what it took.
class FakeStream extends BaseIOStream {
  readonly received: Uint8Array[] = [];
  readonly log: string[] = [];
  /** Bytes taken so far. */
  accepted = 0;
  /** Bytes the last call took that the stream may not have seen yet. */
  lag = 0;
  /**
   * Where the bytes given to the latest call end: the stream has seen every
   * earlier call settle, so it had taken `accepted` bytes then.
   */
  handedEnd = 0;
  /** Whether a writeToFd() call has not settled yet. */
  pending = false;
  fdClosed = false;
  closeFdCalls = 0;
  /** The error a write failed with while the transport was open. */
  failure: Error | null = null;
  /** Bytes taken before that failure. */
  acceptedAtFailure = 0;
  readonly #problems: string[];
  readonly #rng: Rng;
  readonly #failRate: number;
  readonly #seed: number;
  #calls = 0;
  #idle: PromiseWithResolvers<void> | null = null;
  #read: PromiseWithResolvers<number | null> | null = null;

  constructor(c: Case, problems: string[]) {
    super(c.options);
    this.#seed = c.seed;
    this.#rng = seededRandom(c.seed ^ 0x5bd1e995);
    this.#failRate = c.failRate;
    this.#problems = problems;
  }

  /** Resolves once no writeToFd() call is pending. */
  whenIdle(): Promise<void> {
    return this.#idle?.promise ?? Promise.resolve();
  }

  protected override writeToFd(data: Uint8Array): Promise<number> {
    const call = ++this.#calls;
    if (this.fdClosed) {
      this.#problems.push(`writeToFd() call ${call} came after closeFd()`);
    }
    if (this.pending) {
      this.#problems.push(`writeToFd() call ${call} overlapped another`);
    }
    if (!(data instanceof Uint8Array) || data.length === 0) {
      this.#problems.push(`writeToFd() call ${call} got no bytes`);
      return Promise.reject(new Error("writeToFd() got no bytes"));
    }
    // A new call means the stream has seen how the last one went.
    this.lag = 0;
    this.handedEnd = this.accepted + data.length;
    const rng = this.#rng;
    const len = data.length;
    const n = rng() < 0.45 ? len : int(rng, 1, len);
    const fails = rng() < this.#failRate;
    const failsIfClosed = rng() < 0.5;
    const t = rng();
    const timing = t < 0.45
      ? "sync"
      : t < 0.6
      ? "microtask"
      : t < 0.92
      ? "macrotask"
      : "ms";
    const ms = int(rng, 1, 3);
    // Like a socket, the transport copies what it takes when it takes it.
    const taken = data.slice(0, n);
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    const idle = Promise.withResolvers<void>();
    this.pending = true;
    this.#idle = idle;
    const settle = (): void => {
      this.pending = false;
      this.#idle = null;
      const closedFirst = this.fdClosed;
      if (fails || (closedFirst && failsIfClosed)) {
        const err = closedFirst
          ? new Deno.errors.Interrupted(`operation canceled (call ${call})`)
          : new Deno.errors.ConnectionReset(
            `connection reset (call ${call}, seed ${this.#seed})`,
          );
        if (!closedFirst && this.failure === null) {
          this.failure = err;
          this.acceptedAtFailure = this.accepted;
        }
        this.log.push(`call ${call}: ${len} bytes, ${timing}: ${err.name}`);
        reject(err);
      } else {
        this.received.push(taken);
        this.accepted += n;
        this.lag = n;
        this.log.push(
          `call ${call}: ${len} bytes, ${timing}: took ${n}` +
            (closedFirst ? " (after closeFd)" : ""),
        );
        resolve(n);
      }
      idle.resolve();
    };
    if (timing === "sync") settle();
    else if (timing === "microtask") queueMicrotask(settle);
    else if (timing === "macrotask") setImmediate(settle);
    else setTimeout(settle, ms);
    return promise;
  }

  // Reads (started by a close callback) wait until the transport closes.
  protected override readFromFd(): Promise<number | null> {
    if (this.fdClosed) this.#problems.push("readFromFd() after closeFd()");
    if (this.#read !== null) this.#problems.push("readFromFd() overlapped");
    this.#read = Promise.withResolvers<number | null>();
    return this.#read.promise;
  }

  protected override closeFd(): void {
    this.closeFdCalls++;
    this.fdClosed = true;
    const read = this.#read;
    this.#read = null;
    if (read === null) return;
    if (this.#rng() < 0.5) read.resolve(null);
    else read.reject(new Deno.errors.Interrupted("operation canceled"));
  }
}

// ---------------------------------------------------------------- model

type Settled = { ok: true } | { ok: false; err: unknown };

interface WriteRecord {
  step: number;
  spec: WriteStep;
  promise: Promise<void>;
  how: How;
  /** Taken into the queue, refused for size, refused as closed, or not yet known. */
  decision: "queued" | "full" | "closed";
  /** Where its bytes end in everything queued, if queued. */
  end: number;
  /** For "closed": the realError it must carry. */
  cause: Error | null;
  settled: Settled | null;
  /** Bytes the transport had taken when it resolved. */
  acceptedAtResolve: number;
  /** The awaiting code ran (after an await, or a chain of them). */
  seen: boolean;
}

interface CloseEvent {
  how: "close()" | "transport failure" | "final close()";
  step: number;
  cause: Error | null;
  /** Bytes the transport had taken when the stream closed. */
  accepted: number;
  /** The least of those the stream must have seen. */
  seen: number;
  /**
   * Where the bytes of a transport call still in flight (as far as the
   * stream knows) end: writes up to there may settle after the close.
   */
  inHand: number;
}

interface CallbackCall {
  id: number;
  inSyncCall: boolean;
  closed: boolean;
  writing: boolean;
  reading: boolean;
  error: Error | null;
  /** A write made from the callback. */
  late: Promise<Settled>;
  /** Per write: had its awaiting code run? */
  seen: boolean[];
}

const STALL_MS = 5000;

/** Whether `p` settles within `ms` (the timer never outlives the call). */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = p.then(() => true, () => true);
  return Promise.race([done, stalled]).finally(() => clearTimeout(timer));
}

function noop(): void {}

function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function errorName(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

class Stalled extends Error {}

// One run of one case: the stream, the model, and what went wrong.
class Run {
  readonly c: Case;
  readonly problems: string[] = [];
  readonly notes: string[] = [];
  readonly stream: FakeStream;
  readonly writes: WriteRecord[] = [];
  readonly watchers: Promise<void>[] = [];
  readonly callbackCalls: CallbackCall[] = [];
  /** Everything queued, in order, as the model expects it on the wire. */
  readonly expected: Uint8Array[] = [];
  queued = 0;
  closeEvent: CloseEvent | null = null;
  /** The callback set now, while open. */
  callback: number | null = null;
  /** The callback that must run (once closed): undefined while open. */
  callbackDue: number | null | undefined = undefined;
  lastResolved = -1;
  inSyncCall = false;
  step = -1;

  constructor(c: Case) {
    this.c = c;
    this.stream = new FakeStream(c, this.problems);
  }

  problem(message: string): void {
    this.problems.push(`step ${this.step}: ${message}`);
  }

  /** Reads closed() and checks it against the model; learns of failures. */
  observeClosed(): boolean {
    const closed = this.stream.closed();
    if (this.closeEvent !== null) {
      if (!closed) this.problem("closed() is false after the stream closed");
    } else if (this.stream.failure !== null) {
      if (closed) {
        const accepted = this.stream.acceptedAtFailure;
        this.setClosed({
          how: "transport failure",
          step: this.step,
          cause: this.stream.failure,
          accepted,
          seen: accepted, // every earlier call was seen before this one
          inHand: accepted, // the stream saw the call fail
        });
      }
    } else if (closed) {
      this.problem("closed() is true, but nothing closed the stream");
    }
    return closed;
  }

  /** writing() false (while open): the stream saw every transport call end. */
  observeIdle(): void {
    const stream = this.stream;
    if (stream.lag > 0 && !stream.closed() && !stream.writing()) stream.lag = 0;
  }

  setClosed(event: CloseEvent): void {
    this.closeEvent = event;
    this.callbackDue = this.callback;
    this.notes.push(
      `step ${event.step}: closed by ${event.how}` +
        ` (transport had taken ${event.accepted} bytes, stream had seen at least ${event.seen})`,
    );
  }

  /** What realError a StreamClosedError must carry now. */
  get cause(): Error | null {
    return this.closeEvent?.cause ?? null;
  }

  // ----------------------------------------------------------- the steps

  async run(): Promise<void> {
    try {
      for (this.step = 0; this.step < this.c.steps.length; this.step++) {
        await this.doStep(this.c.steps[this.step]!);
      }
      this.step = this.c.steps.length;
      await this.finish();
    } catch (err) {
      if (!(err instanceof Stalled)) throw err;
    }
  }

  async doStep(step: Step): Promise<void> {
    switch (step.op) {
      case "write":
        return await this.doWrite(step);
      case "close":
        return this.doClose(step.error);
      case "callback":
        return this.doCallback(step.id);
      case "check":
        return this.doCheck();
      case "wait":
        if (step.wait === "microtask") await null;
        else if (step.wait === "macrotask") await macrotask();
        else await new Promise((resolve) => setTimeout(resolve, step.ms));
    }
  }

  async doWrite(spec: WriteStep): Promise<void> {
    const stream = this.stream;
    const closed = this.observeClosed();
    this.observeIdle();
    const n = spec.bytes.length;
    let promise: Promise<void>;
    this.inSyncCall = true;
    try {
      promise = stream.write(spec.data);
    } catch (err) {
      this.problem(`write() threw instead of rejecting: ${errorName(err)}`);
      throw new Stalled();
    } finally {
      this.inSyncCall = false;
    }
    const rec: WriteRecord = {
      step: this.step,
      spec,
      promise,
      how: spec.how,
      decision: "queued",
      end: this.queued + n,
      cause: null,
      settled: null,
      acceptedAtResolve: -1,
      seen: false,
    };
    this.writes.push(rec);
    if (closed) {
      rec.decision = "closed";
      rec.cause = this.cause;
    } else {
      const max = this.c.options.maxWriteBufferSize;
      // What the stream counts as queued: not what it handed to the
      // transport, whether or not it has seen the call settle (a call that
      // took part of its bytes is followed at once by one with the rest).
      if (max !== undefined && this.queued - stream.handedEnd + n > max) {
        rec.decision = "full";
      }
    }
    if (rec.decision === "queued") this.enqueue(rec);
    if (rec.how !== "ignore") this.watch(rec);
    if (rec.how === "await") {
      if (!await settlesWithin(promise, STALL_MS)) {
        this.problem(`write() awaited here never settled`);
        throw new Stalled();
      }
      rec.seen = true;
      if (rec.spec.closeAfter) this.doClose(undefined);
    }
  }

  enqueue(rec: WriteRecord): void {
    rec.end = this.queued + rec.spec.bytes.length;
    this.queued = rec.end;
    this.expected.push(rec.spec.bytes);
  }

  // Watches a write's promise: directly (to catch the moment it settles)
  // and through a chain of awaits, as application code would. A write
  // whose promise was ignored is watched only at the end (`late`).
  watch(rec: WriteRecord, late = false): void {
    const stream = this.stream;
    rec.promise.then(() => {
      rec.settled = { ok: true };
      rec.acceptedAtResolve = stream.accepted;
      if (stream.accepted < rec.end) {
        this.problems.push(
          `write at step ${rec.step} resolved when the transport had taken ` +
            `${stream.accepted} bytes; its last byte is byte ${rec.end}`,
        );
      }
      if (late) return;
      // The stream has seen its bytes go out.
      stream.lag = Math.min(stream.lag, Math.max(0, stream.accepted - rec.end));
      if (rec.step < this.lastResolved) {
        this.problems.push(
          `write at step ${rec.step} resolved after the one at step ${this.lastResolved}`,
        );
      }
      this.lastResolved = Math.max(this.lastResolved, rec.step);
      this.scribble(rec);
    }, (err) => {
      rec.settled = { ok: false, err };
      this.scribble(rec);
    });
    if (rec.how !== "then") return;
    const awaited = async (): Promise<void> => await rec.promise;
    this.watchers.push((async () => {
      try {
        await awaited();
      } catch {
        // Checked through rec.settled.
      }
      rec.seen = true;
      if (rec.spec.closeAfter) this.doClose(undefined);
    })());
  }

  scribble(rec: WriteRecord): void {
    const data = rec.spec.data;
    if (rec.spec.scribble && typeof data !== "string") data.fill(0xee);
  }

  doClose(error: Error | string | undefined): void {
    const stream = this.stream;
    const wasClosed = this.observeClosed();
    this.observeIdle();
    const accepted = stream.accepted;
    const seen = accepted - stream.lag;
    this.inSyncCall = true;
    try {
      stream.close(error);
    } catch (err) {
      this.problem(`close() threw: ${errorName(err)}`);
    } finally {
      this.inSyncCall = false;
    }
    if (!wasClosed) {
      let cause: Error | null = null;
      if (error instanceof Error) cause = error;
      else if (typeof error === "string") {
        const got = stream.error;
        if (!(got instanceof Error) || got.message !== error) {
          this.problem(
            `close(${JSON.stringify(error)}) left error ${errorName(got)}`,
          );
        }
        cause = got;
      }
      this.setClosed({
        how: "close()",
        step: this.step,
        cause,
        accepted,
        seen,
        inHand: Math.max(accepted, stream.handedEnd),
      });
    }
    if (stream.error !== this.cause) {
      this.problem(
        `error is ${errorName(stream.error)}, expected ${
          errorName(this.cause)
        }`,
      );
    }
    if (!stream.closed()) this.problem("closed() is false right after close()");
    if (stream.writing()) this.problem("writing() is true right after close()");
  }

  doCallback(id: number | null): void {
    const closed = this.observeClosed();
    const stream = this.stream;
    this.inSyncCall = true;
    try {
      stream.setCloseCallback(
        id === null ? null : () => {
          this.callbackCalls.push({
            id,
            inSyncCall: this.inSyncCall,
            closed: stream.closed(),
            writing: stream.writing(),
            reading: stream.reading(),
            error: stream.error,
            late: stream.write("too late").then(
              () => ({ ok: true }),
              (err) => ({ ok: false, err }),
            ),
            seen: this.writes.map((w) => w.seen || w.how === "ignore"),
          });
        },
      );
    } finally {
      this.inSyncCall = false;
    }
    if (!closed) this.callback = id;
    // Set once closed: it runs unless one already did (or is due to).
    else if (this.callbackDue === null) this.callbackDue = id;
  }

  doCheck(): void {
    const stream = this.stream;
    const closed = this.observeClosed();
    const writing = stream.writing();
    if (stream.reading()) this.problem("reading() is true, with no read");
    if (stream.error !== this.cause) {
      this.problem(
        `error is ${errorName(stream.error)}, expected ${
          errorName(this.cause)
        }`,
      );
    }
    if (closed) {
      if (writing) this.problem("writing() is true on a closed stream");
      return;
    }
    const least = this.queued - stream.accepted;
    if (least > 0 && !writing) {
      this.problem(`writing() is false with ${least} bytes not yet taken`);
    }
    if (!writing) stream.lag = 0; // it has seen everything go out
    else if (least + stream.lag === 0) {
      this.problem("writing() is true with nothing left to write");
    }
  }

  // ------------------------------------------------------------- the end

  async finish(): Promise<void> {
    const stream = this.stream;
    // Let the writes run out.
    for (let i = 0;; i++) {
      if (i > 10000) {
        this.problem("the stream never went idle");
        throw new Stalled();
      }
      if (stream.pending) await stream.whenIdle();
      else if (stream.closed() || !stream.writing()) break;
      await macrotask();
    }
    const closed = this.observeClosed();
    if (!closed) {
      this.doCheck();
      this.doClose(undefined);
      this.closeEvent!.how = "final close()";
    }
    // Transport calls still pending settle; close callbacks run.
    await stream.whenIdle();
    await macrotask();
    await macrotask();
    for (const rec of this.writes) {
      if (rec.how === "ignore") this.watch(rec, true);
    }
    const all = Promise.all(this.writes.map((rec) => rec.promise.catch(noop)));
    if (!await settlesWithin(all, STALL_MS)) {
      const stuck = this.writes.filter((rec) => rec.settled === null);
      this.problems.push(
        `writes at steps ${stuck.map((rec) => rec.step)} never settled`,
      );
      throw new Stalled();
    }
    await Promise.all(this.watchers);
    await stream.whenIdle();
    await macrotask();
    this.checkOutcomes();
    this.checkBytes();
    await this.checkCallbacks();
    if (stream.closeFdCalls !== 1) {
      this.problems.push(`closeFd() ran ${stream.closeFdCalls} times`);
    }
  }

  checkOutcomes(): void {
    const event = this.closeEvent!;
    for (const rec of this.writes) {
      const where = `write at step ${rec.step} (${rec.spec.label})`;
      const s = rec.settled!;
      const got = s.ok ? "resolved" : `rejected with ${errorName(s.err)}`;
      let want: "resolve" | "reject";
      let cause: Error | null = null;
      if (rec.decision === "full") {
        if (s.ok || !(s.err instanceof StreamBufferFullError)) {
          this.problems.push(
            `${where}: ${got}, expected StreamBufferFullError`,
          );
        }
        continue;
      }
      if (rec.decision === "closed") {
        want = "reject";
        cause = rec.cause;
      } else if (event.how === "final close()") want = "resolve";
      else {
        cause = event.cause;
        want = rec.end <= this.stream.accepted ? "resolve" : "reject";
      }
      if (s.ok) {
        if (want === "reject") {
          this.problems.push(`${where}: resolved, expected StreamClosedError`);
        }
        continue;
      }
      if (want === "resolve") {
        this.problems.push(`${where}: ${got}, expected it to resolve`);
      } else if (!(s.err instanceof StreamClosedError)) {
        this.problems.push(`${where}: ${got}, expected StreamClosedError`);
      } else if (s.err.realError !== (cause ?? undefined)) {
        this.problems.push(
          `${where}: realError is ${errorName(s.err.realError)}, expected ${
            errorName(cause ?? undefined)
          }`,
        );
      }
    }
    // Writes resolve in call order: none before a resolved one failed.
    let lastResolved = -1;
    for (const rec of this.writes) {
      if (rec.settled?.ok) lastResolved = rec.step;
    }
    for (const rec of this.writes) {
      if (rec.step < lastResolved && rec.decision === "queued") {
        if (!rec.settled?.ok) {
          this.problems.push(
            `write at step ${rec.step} failed, but a later one (step ${lastResolved}) resolved`,
          );
        }
      }
    }
  }

  checkBytes(): void {
    const got = concat(this.stream.received);
    const want = concat(this.expected);
    const cutShort = this.closeEvent!.how !== "final close()";
    if (got.length > want.length || (!cutShort && got.length < want.length)) {
      this.problems.push(
        `the transport took ${got.length} bytes; ${want.length} were queued`,
      );
    }
    const n = Math.min(got.length, want.length);
    for (let i = 0; i < n; i++) {
      if (got[i] !== want[i]) {
        const rec = this.writes.find((w) =>
          w.decision === "queued" && w.end > i
        );
        this.problems.push(
          `byte ${i} on the wire is ${got[i]}, expected ${want[i]} ` +
            `(from the write at step ${rec?.step})`,
        );
        break;
      }
    }
  }

  async checkCallbacks(): Promise<void> {
    const cause = this.closeEvent!.cause;
    const calls = this.callbackCalls;
    const due = this.callbackDue ?? null;
    const ids = calls.map((call) => call.id);
    if (due === null ? calls.length > 0 : ids.length !== 1 || ids[0] !== due) {
      this.problems.push(
        `close callbacks run: [${ids.join(", ")}], expected [${due ?? ""}]`,
      );
    }
    for (const call of calls) {
      const name = `close callback #${call.id}`;
      if (call.inSyncCall) {
        this.problems.push(`${name} ran inside a call into the stream`);
      }
      if (!call.closed) this.problems.push(`${name} saw closed() false`);
      if (call.writing) this.problems.push(`${name} saw writing() true`);
      if (call.reading) this.problems.push(`${name} saw reading() true`);
      if (call.error !== cause) {
        this.problems.push(`${name} saw error ${errorName(call.error)}`);
      }
      const late = await call.late;
      if (
        late.ok || !(late.err instanceof StreamClosedError) ||
        late.err.realError !== (cause ?? undefined)
      ) {
        this.problems.push(
          `a write from ${name} ${
            late.ok ? "resolved" : `rejected with ${errorName(late.err)}`
          }, expected StreamClosedError with realError ${errorName(cause)}`,
        );
      }
      // Code awaiting a write the close failed ran before the callback,
      // unless the transport call still in flight decided it.
      const inHand = this.closeEvent!.inHand;
      for (const [i, rec] of this.writes.entries()) {
        const s = rec.settled;
        if (
          rec.decision === "queued" && s !== null && !s.ok &&
          rec.end > inHand && !(call.seen[i] ?? true)
        ) {
          this.problems.push(
            `${name} ran before the code awaiting the write at step ${rec.step} saw it fail`,
          );
        }
      }
    }
  }

  report(): string {
    return [
      `seed ${this.c.seed} (replay: SQUALL_FUZZ_SEED=${this.c.seed} deno test -A tests/base_iostream_write_fuzz_test.ts)`,
      ...this.problems.map((p) => `- ${p}`),
      `program: ${describeCase(this.c)}`,
      "model notes:",
      ...this.notes.map((n) => `  ${n}`),
      "transport:",
      ...this.stream.log.slice(0, 200).map((line) => `  ${line}`),
    ].join("\n");
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const chunk of chunks) n += chunk.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const chunk of chunks) {
    out.set(chunk, off);
    off += chunk.length;
  }
  return out;
}

// ------------------------------------------------------------ the runner

// Unhandled rejections, with the seed they came from where it can be told.
interface Unhandled {
  reason: unknown;
  promise: Promise<unknown>;
}

async function runCases(seeds: number[]): Promise<void> {
  const unhandled: Unhandled[] = [];
  const onUnhandled = (event: PromiseRejectionEvent): void => {
    event.preventDefault();
    unhandled.push({ reason: event.reason, promise: event.promise });
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    // The detector works: a raw rejected promise is seen.
    Promise.reject(new Error("control"));
    await macrotask();
    await macrotask();
    assert.equal(unhandled.length, 1, "the unhandled-rejection detector");
    unhandled.length = 0;

    const batch = 16;
    for (let i = 0; i < seeds.length; i += batch) {
      const runs = seeds.slice(i, i + batch).map((seed) =>
        new Run(makeCase(seed))
      );
      await Promise.all(runs.map((run) => run.run()));
      await macrotask();
      await macrotask();
      const failed = runs.filter((run) => run.problems.length > 0);
      if (failed.length > 0) {
        assert.fail(
          `${failed.length} of cases ${runs[0]!.c.seed}-${
            runs.at(-1)!.c.seed
          } failed; the first:\n${failed[0]!.report()}`,
        );
      }
      if (unhandled.length > 0) {
        const owner = runs.find((run) =>
          unhandled.some((u) => run.writes.some((w) => w.promise === u.promise))
        );
        assert.fail(
          `unhandled rejection: ${errorName(unhandled[0]!.reason)}, ` +
            (owner === undefined
              ? `from one of seeds ${runs.map((r) => r.c.seed).join(", ")}`
              : `from a write in\n${owner.report()}`),
        );
      }
    }
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** A number from the environment, if set and readable. */
function envNumber(name: string): number | null {
  const access = Deno.permissions.querySync({ name: "env", variable: name });
  if (access.state !== "granted") return null;
  const text = Deno.env.get(name);
  return text === undefined ? null : Number(text);
}

Deno.test("BaseIOStream writes and close match a reference model on random programs", async (t) => {
  const replay = envNumber("SQUALL_FUZZ_SEED");
  if (replay !== null) {
    await t.step(`seed ${replay}`, () => runCases([replay]));
    return;
  }
  const soak = envNumber("SQUALL_FUZZ_CASES");
  if (soak !== null) {
    await t.step(`seeds 1-${soak}`, () => runCases(range(1, soak)));
    return;
  }
  await t.step("seeds 1-2000", () => runCases(range(1, 2000)));
  await t.step("seeds 2001-4000", () => runCases(range(2001, 2000)));
});
