// Copyright the squall authors. MIT license.

/**
 * Loopback benchmark of squall's `IOStream` against a hand-written raw
 * `Deno.Conn` baseline, both measured in the same run with their
 * repetitions interleaved (raw, squall, squall, raw, …) so machine noise
 * hits both sides alike.
 *
 * ```
 * deno task bench:net [--quick] [--reps=N] [--impl=squall|raw]
 *        [--gc-between-reps]
 *        [--only=echo,echo-into,echo-proc,echo-proc-into,lines,
 *                      lines-proc,reqrep,conc]
 * ```
 *
 * - `--quick`: 1/16 of every size, for a smoke run.
 * - `--reps=N`: timed repetitions per side (default 11 for the echoes and
 *   lines, whose reps take well under a second each, and 3 for the slower
 *   reqrep and conc): on this noisy machine single reps of the short
 *   scenarios swing by ±30%, and a median needs many of them.
 * - `echo` reads with `readBytes`, which hands out fresh memory per read
 *   while the raw loop reuses one buffer; `echo-into` reads with
 *   `readInto` one reused buffer, the raw loop's own contract. Both have
 *   the issue's echo target: `echo-into` is the like-for-like comparison,
 *   `echo` shows the price of owned memory (its `raw-alloc` rows compare
 *   it with a raw loop that pays the same price).
 * - `echo-proc` and `echo-proc-into` are informational: the echo server
 *   alone (squall or raw, in this process) against the raw echo client in a
 *   child process (`echo_proc.ts`), so that the two ends no longer share
 *   one thread, and the server's CPU time per byte is its own.
 * - `lines-proc` measures the line reader alone, against a raw sender in a
 *   child process (`lines_proc.ts`); it has the same targets as `lines`.
 * - `--impl=raw`: measure the raw baseline against itself; the ratios then
 *   show this machine's noise floor.
 * - `--gc-between-reps`: force a full GC before every rep (needs the
 *   task's `--v8-flags=--expose-gc`). Off by default: the reps run back to
 *   back as a server's work does, and V8 collects each rep's garbage when it
 *   decides to, in whichever rep follows (the ABBA order shares that out).
 *   A forced full GC at a moment when no stream is alive also lets V8 drop
 *   what it learned about the stream classes' object layouts, and the
 *   optimized code built on them (`--trace-deopt` shows "embedded weak
 *   objects cleared" and "field type constness changed"), so every rep
 *   then starts by learning them again: a cold start, which costs squall's
 *   larger classes more than the raw loop (lines-proc: ~0.9x with it,
 *   ~1.2x without, in the same hour).
 *
 * Every throughput is also given per CPU-second of the process (client and
 * server share it; `conc` children measure their own), which the load of
 * other processes on a shared machine disturbs much less than wall time.
 * The verdict ratio is the median over reps of squall/raw, each rep paired
 * with the raw rep run next to it.
 *
 * Before the timed repetitions each side runs once, untimed, at 1/16 size
 * with every byte checked (warm-up and correctness); every timed repetition
 * checks counts and data too (see `_common.ts`), so a fast but wrong
 * implementation fails instead of winning. Scenario 4 runs each side in its
 * own child process (`conc.ts`) so its peak RSS is its own.
 *
 * Every metric with a target also gets a `[info: raw/raw, back to back]`
 * row from the same reps: the ABBA order runs raw twice in a row between
 * reps, and those pairs show how far two runs of the same code differ on
 * the machine at that moment (the noise a squall/raw ratio sits in).
 *
 * The echo scenario also runs `raw-alloc` (the raw loops reading into a
 * fresh buffer per read, as any API returning owned memory must) in the
 * same reps, after each raw/squall pair. Its rows are marked `[info: …]`,
 * have no target and change no verdict: they show how much of the echo
 * gap is the price of returning owned memory.
 *
 * @module
 */

import {
  CHUNK,
  cpuSeconds,
  ensureFdLimit,
  LINE_LENGTH,
  makeLines,
  median,
} from "./_common.ts";
import { implByName } from "./_impls.ts";
import { runConcChild } from "./conc.ts";
import { runEcho } from "./echo.ts";
import { runEchoProc } from "./echo_proc.ts";
import { runLines } from "./lines.ts";
import { runLinesProc } from "./lines_proc.ts";
import { runReqRep } from "./reqrep.ts";

type ScenarioKey =
  | "echo"
  | "echo-into"
  | "echo-proc"
  | "echo-proc-into"
  | "lines"
  | "lines-proc"
  | "reqrep"
  | "conc";
const ALL: readonly ScenarioKey[] = [
  "echo",
  "echo-into",
  "echo-proc",
  "echo-proc-into",
  "lines",
  "lines-proc",
  "reqrep",
  "conc",
];

interface Metric {
  /** Name in the report, e.g. "echo" or "conc time". */
  name: string;
  unit: string;
  higherIsBetter: boolean;
  /** Target for squall/raw: a floor if higher is better, else a ceiling. */
  target: number;
  digits: number;
}

interface Scenario {
  key: ScenarioKey;
  title: string;
  metrics: Metric[];
  reps: number;
  /** Untimed run of one side at 1/16 size, every byte checked. */
  warmup?: (impl: string) => Promise<void>;
  /** One timed run of one side: one value per metric. */
  measure: (impl: string) => Promise<number[]>;
  /**
   * An extra implementation measured in the same interleaved reps for
   * information only: it adds rows without a target (verdict "info") and
   * never replaces the raw baseline or changes a verdict.
   */
  floor?: string;
  /** Runs after the scenario's last rep: lets go of what it made. */
  done?: () => void;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Default reps per side of the short scenarios (echoes, lines). */
const SHORT_REPS = 11;

function parseArgs(args: string[]) {
  const opts = {
    quick: false,
    reps: 0,
    only: [...ALL],
    impl: "squall",
    gcBetweenReps: false,
  };
  for (const arg of args) {
    const [flag, value] = arg.split("=", 2) as [string, string | undefined];
    if (flag === "--quick" && value === undefined) opts.quick = true;
    else if (flag === "--gc-between-reps" && value === undefined) {
      opts.gcBetweenReps = true;
    } else if (flag === "--reps" && value !== undefined) {
      opts.reps = Number(value);
      if (!Number.isInteger(opts.reps) || opts.reps < 1) {
        throw new RangeError(`--reps must be a positive integer: "${value}"`);
      }
    } else if (flag === "--only" && value !== undefined) {
      opts.only = value.split(",") as ScenarioKey[];
      for (const k of opts.only) {
        if (!ALL.includes(k)) {
          throw new TypeError(`Unknown scenario "${k}": use ${ALL.join(",")}`);
        }
      }
    } else if (flag === "--impl" && value !== undefined) opts.impl = value;
    else throw new TypeError(`Unknown argument "${arg}"`);
  }
  return opts;
}

/**
 * A throughput metric twice: per wall-clock second (what the targets are
 * about) and per CPU-second of this process (client and server both live
 * in it), which other processes' load disturbs far less.
 */
function rateMetrics(
  name: string,
  unit: string,
  target: number,
): Metric[] {
  return [
    { name, unit: `${unit}/s`, higherIsBetter: true, target, digits: 0 },
    {
      name: `${name} per CPU-s`,
      unit: `${unit}/CPU-s`,
      higherIsBetter: true,
      target,
      digits: 0,
    },
  ];
}

/** Runs `run`, returning `units` per wall second and per CPU-second. */
async function rates(
  run: () => Promise<{ seconds: number }>,
  units: number,
): Promise<number[]> {
  const cpu0 = cpuSeconds();
  const { seconds } = await run();
  const cpu = cpuSeconds() - cpu0;
  return [units / seconds, units / cpu];
}

/** Informational metrics of the echo server measured alone. */
function serverMetrics(name: string): Metric[] {
  return [
    { name, unit: "MB/s", higherIsBetter: true, target: NaN, digits: 0 },
    {
      name: `${name} per server CPU-s`,
      unit: "MB/CPU-s",
      higherIsBetter: true,
      target: NaN,
      digits: 0,
    },
  ];
}

/** One `echo_proc.ts` run: MB/s (client's clock) and MB per server CPU-s. */
async function echoProcRates(
  impl: string,
  chunks: number,
  read: "bytes" | "into",
): Promise<number[]> {
  const r = await runEchoProc(implByName(impl), chunks, read);
  return [r.bytes / 1e6 / r.seconds, r.bytes / 1e6 / r.serverCpuSeconds];
}

function scenarios(quick: boolean, repsOverride: number): Scenario[] {
  const div = quick ? 16 : 1;
  const echoChunks = 4096 / div; // 256 MiB
  const lineCount = Math.ceil(1_000_000 / div);
  const roundTrips = Math.ceil(100_000 / div);
  const concConns = quick ? 250 : 1000;
  const concRounds = quick ? 25 : 100;
  const reps = (n: number) => repsOverride || n;
  // The echo server measured alone; readBytes also runs raw-alloc for info.
  const echoProcScenario = (
    key: ScenarioKey,
    title: string,
    read: "bytes" | "into",
  ): Scenario => ({
    key,
    title,
    metrics: serverMetrics(`echo server${read === "into" ? " readInto" : ""}`),
    reps: reps(SHORT_REPS),
    ...(read === "bytes" ? { floor: "raw-alloc" } : {}),
    warmup: async (impl) => {
      const few = Math.ceil(echoChunks / 16);
      await runEchoProc(implByName(impl), few, read, "full");
    },
    measure: (impl) => echoProcRates(impl, echoChunks, read),
  });
  let lineData: Uint8Array | undefined;
  const lines = () => (lineData ??= makeLines(lineCount));
  return [
    {
      key: "echo",
      title: `echo ${(echoChunks * CHUNK) >> 20} MiB in 64 KiB chunks, ` +
        `one connection (MB = 10^6 bytes)`,
      metrics: rateMetrics("echo", "MB", 1.0),
      reps: reps(SHORT_REPS),
      // How much of the gap any API returning owned memory pays: raw loops
      // that read each chunk into a fresh buffer.
      floor: "raw-alloc",
      warmup: async (impl) => {
        await runEcho(implByName(impl), Math.ceil(echoChunks / 16), "full");
      },
      measure: (impl) =>
        rates(
          () => runEcho(implByName(impl), echoChunks, "spot"),
          echoChunks * CHUNK / 1e6,
        ),
    },
    {
      key: "echo-into",
      title: "the same echo, squall reading with readInto into one reused " +
        "buffer as raw does",
      metrics: rateMetrics("echo readInto", "MB", 1.0),
      reps: reps(SHORT_REPS),
      warmup: async (impl) => {
        const few = Math.ceil(echoChunks / 16);
        await runEcho(implByName(impl), few, "full", "into");
      },
      measure: (impl) =>
        rates(
          () => runEcho(implByName(impl), echoChunks, "spot", "into"),
          echoChunks * CHUNK / 1e6,
        ),
    },
    echoProcScenario(
      "echo-proc",
      "the echo server alone (readBytes) against a raw client in a child " +
        "process (informational: no target)",
      "bytes",
    ),
    echoProcScenario(
      "echo-proc-into",
      "the echo server alone, squall reading with readInto, against a raw " +
        "client in a child process (informational: no target)",
      "into",
    ),
    {
      key: "lines",
      title: `${lineCount} lines of 100 bytes, one awaited read per line`,
      metrics: rateMetrics("lines", "lines", 1.0),
      reps: reps(SHORT_REPS),
      warmup: async (impl) => {
        const few = Math.ceil(lineCount / 16) * LINE_LENGTH;
        await runLines(implByName(impl), lines().subarray(0, few));
      },
      measure: (impl) =>
        rates(() => runLines(implByName(impl), lines()), lineCount),
      // 100 MB of line data held on would crowd the scenarios after this
      // one (V8 counts it against the heap's limits).
      done: () => {
        lineData = undefined;
      },
    },
    {
      key: "lines-proc",
      title: `${lineCount} lines of 100 bytes, the reader alone: a raw ` +
        "sender in a child process",
      metrics: [
        {
          name: "lines, reader alone",
          unit: "lines/s",
          higherIsBetter: true,
          target: 1.0,
          digits: 0,
        },
        {
          name: "lines, reader alone, per reader CPU-s",
          unit: "lines/CPU-s",
          higherIsBetter: true,
          target: 1.0,
          digits: 0,
        },
      ],
      reps: reps(SHORT_REPS),
      warmup: async (impl) => {
        await runLinesProc(implByName(impl), Math.ceil(lineCount / 16));
      },
      measure: async (impl) => {
        const r = await runLinesProc(implByName(impl), lineCount);
        return [r.lines / r.seconds, r.lines / r.readerCpuSeconds];
      },
    },
    {
      key: "reqrep",
      title: `${roundTrips} sequential 32-byte request/replies, one connection`,
      metrics: rateMetrics("reqrep", "round trips", 0.95),
      reps: reps(3),
      warmup: async (impl) => {
        await runReqRep(implByName(impl), Math.ceil(roundTrips / 16));
      },
      measure: (impl) =>
        rates(() => runReqRep(implByName(impl), roundTrips), roundTrips),
    },
    {
      key: "conc",
      title: `${concConns} concurrent connections x ${concRounds} ` +
        `request/replies, each side in its own child process`,
      metrics: [
        {
          name: "conc time",
          unit: "s",
          higherIsBetter: false,
          target: 1.1,
          digits: 3,
        },
        {
          name: "conc CPU time",
          unit: "CPU-s",
          higherIsBetter: false,
          target: 1.1,
          digits: 2,
        },
        {
          name: "conc peak RSS",
          unit: "MB",
          higherIsBetter: false,
          target: 1.2,
          digits: 1,
        },
        {
          name: "conc RSS growth",
          unit: "MB",
          higherIsBetter: false,
          target: NaN, // informational: peak minus RSS before the run
          digits: 1,
        },
      ],
      reps: reps(3),
      measure: async (impl) => {
        const r = await runConcChild(impl, concConns, concRounds);
        return [
          r.seconds,
          r.cpuSeconds,
          r.peakRssKiB / 1024,
          (r.peakRssKiB - r.rssBeforeKiB) / 1024,
        ];
      },
    },
  ];
}

/**
 * The raw reps run back to back in ABBA order (rep 2k+1 ends with raw, rep
 * 2k+2 starts with it): those pairs, earlier and later.
 */
function backToBack(raw: number[][]): [number[][], number[][]] {
  const earlier: number[][] = [];
  const later: number[][] = [];
  for (let k = 1; k + 1 < raw.length; k += 2) {
    earlier.push(raw[k]!);
    later.push(raw[k + 1]!);
  }
  return [earlier, later];
}

function fmt(x: number, digits: number): string {
  return x.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

interface Row {
  metric: Metric;
  raw: number[];
  test: number[];
  /** Names of the two sides when they are not raw and the tested one. */
  sides?: { raw: string; test: string };
}

function verdict(m: Metric, ratio: number): string {
  if (Number.isNaN(m.target)) return "info";
  return (m.higherIsBetter ? ratio >= m.target : ratio <= m.target)
    ? "PASS"
    : "MISS";
}

function span(xs: number[], digits: number): string {
  return `${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)}`;
}

function targetText(m: Metric): string {
  if (Number.isNaN(m.target)) return "-";
  return `${m.higherIsBetter ? ">=" : "<="} ${m.target.toFixed(2)}x`;
}

/** Squall/raw ratios: of the medians, and of each rep with its raw neighbour. */
function ratios(row: Row): { ofMedians: number; paired: number[] } {
  return {
    ofMedians: median(row.test) / median(row.raw),
    paired: row.test.map((t, i) => t / row.raw[i]!),
  };
}

/**
 * Prints the summary table, then one verdict line per metric. The verdict
 * uses the median of the paired ratios: each rep is compared with the raw
 * rep run right next to it, which cancels most of the slow load swings of a
 * shared machine better than comparing the two medians.
 */
function report(rows: Row[], testName: string): void {
  const header = [
    "metric",
    "unit",
    "raw median",
    "raw range",
    `${testName} median`,
    `${testName} range`,
    "ratio",
    "paired range",
    "of medians",
    "target",
    "verdict",
  ];
  const lines = rows.map((row) => {
    const m = row.metric;
    const { ofMedians, paired } = ratios(row);
    return [
      m.name,
      m.unit,
      fmt(median(row.raw), m.digits),
      span(row.raw, m.digits),
      fmt(median(row.test), m.digits),
      span(row.test, m.digits),
      `${median(paired).toFixed(2)}x`,
      `${span(paired, 2)}x`,
      `${ofMedians.toFixed(2)}x`,
      targetText(m),
      verdict(m, median(paired)),
    ];
  });
  const widths = header.map((h, c) =>
    Math.max(h.length, ...lines.map((l) => l[c]!.length))
  );
  const show = (cells: string[]) =>
    cells.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd();
  console.log(`\n${show(header)}`);
  console.log(show(widths.map((w) => "-".repeat(w))));
  for (const l of lines) console.log(show(l));
  console.log(
    `\nratio = median over reps of ${testName}/raw, each rep paired with ` +
      "the raw rep next to it; of medians = median(" + testName +
      ") / median(raw)",
  );
  console.log(
    `loadavg at the end: ${
      Deno.loadavg().map((x) => x.toFixed(2)).join(" ")
    }\n`,
  );
  for (const row of rows) {
    const m = row.metric;
    const { ofMedians, paired } = ratios(row);
    const ratio = median(paired);
    const target = Number.isNaN(m.target)
      ? "(no target)"
      : `(target ${targetText(m)})`;
    console.log(
      `${m.name}: ${row.sides?.test ?? testName} ` +
        `${fmt(median(row.test), m.digits)} ${m.unit}, ` +
        `${row.sides?.raw ?? "raw"} ${fmt(median(row.raw), m.digits)} ` +
        `${m.unit}, ` +
        `ratio ${ratio.toFixed(2)}x ${target} ${verdict(m, ratio)} ` +
        `[paired ${span(paired, 2)}x, of medians ${ofMedians.toFixed(2)}x]`,
    );
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(Deno.args);
  implByName(opts.impl); // fail early on a typo
  const chosen = scenarios(opts.quick, opts.reps).filter((s) =>
    opts.only.includes(s.key)
  );
  console.log(
    `squall net bench: raw vs ${opts.impl}${opts.quick ? " (quick)" : ""}; ` +
      `deno ${Deno.version.deno}, v8 ${Deno.version.v8}, ` +
      `${navigator.hardwareConcurrency} CPUs, loadavg ${
        Deno.loadavg().map((x) => x.toFixed(2)).join(" ")
      }`,
  );
  if (opts.gcBetweenReps && !gc) {
    throw new Error("--gc-between-reps needs --v8-flags=--expose-gc");
  }
  if (opts.only.includes("conc")) console.log(ensureFdLimit(2 * 1000 + 64));

  // Tell the two sides apart in the log when raw runs against itself.
  const testLabel = opts.impl === "raw" ? "raw (as test)" : opts.impl;
  const rows: Row[] = [];
  for (const s of chosen) {
    console.log(`\n== ${s.key}: ${s.title}; ${s.reps} reps per side`);
    const sides = s.floor === undefined ? ["raw", opts.impl] : [
      "raw",
      opts.impl,
      s.floor,
    ];
    if (s.warmup) {
      for (const impl of sides) await s.warmup(impl);
      console.log("  warm-up runs (every byte checked): ok");
    }
    const samples: Record<"raw" | "test" | "floor", number[][]> = {
      raw: [],
      test: [],
      floor: [],
    };
    const implOf = { raw: "raw", test: opts.impl, floor: s.floor ?? "" };
    const labelOf = { raw: "raw", test: testLabel, floor: `${s.floor} (info)` };
    for (let rep = 0; rep < s.reps; rep++) {
      // ABBA order: a slow drift of the machine cannot favour one side.
      const pair = rep % 2 === 0
        ? ["raw", "test"] as const
        : ["test", "raw"] as const;
      // The informational side runs after the pair, so the pair's
      // neighbourhood (and with it the verdict) is as without it.
      const order = s.floor === undefined ? pair : [...pair, "floor" as const];
      for (const side of order) {
        if (opts.gcBetweenReps) gc!();
        const values = await s.measure(implOf[side]);
        samples[side].push(values);
        console.log(
          `  rep ${rep + 1} ${labelOf[side]}: ` +
            s.metrics.map((m, i) => `${fmt(values[i]!, m.digits)} ${m.unit}`)
              .join(", "),
        );
      }
    }
    s.done?.();
    s.metrics.forEach((metric, i) =>
      rows.push({
        metric,
        raw: samples.raw.map((v) => v[i]!),
        test: samples.test.map((v) => v[i]!),
      })
    );
    // The noise floor, from the same reps: in ABBA order raw runs twice in
    // a row (the end of one odd rep, the start of the next even one), and
    // those raw/raw ratios show how far two runs of the same code differ.
    const [earlier, later] = backToBack(samples.raw);
    if (earlier.length > 0) {
      s.metrics.forEach((metric, i) => {
        if (Number.isNaN(metric.target)) return;
        rows.push({
          metric: {
            ...metric,
            target: NaN,
            name: `${metric.name} [info: raw/raw, back to back]`,
          },
          raw: earlier.map((v) => v[i]!),
          test: later.map((v) => v[i]!),
          sides: { raw: "raw", test: "raw (next run)" },
        });
      });
    }
    if (s.floor !== undefined) {
      // Informational rows, no target: the floor against raw, then the
      // implementation under test against the floor.
      s.metrics.forEach((metric, i) => {
        const info = { ...metric, target: NaN };
        rows.push({
          metric: { ...info, name: `${metric.name} [info: ${s.floor}/raw]` },
          raw: samples.raw.map((v) => v[i]!),
          test: samples.floor.map((v) => v[i]!),
          sides: { raw: "raw", test: s.floor! },
        });
        rows.push({
          metric: {
            ...info,
            name: `${metric.name} [info: ${testLabel}/${s.floor}]`,
          },
          raw: samples.floor.map((v) => v[i]!),
          test: samples.test.map((v) => v[i]!),
          sides: { raw: s.floor!, test: testLabel },
        });
      });
    }
  }
  report(rows, testLabel);
}

if (import.meta.main) await main();
