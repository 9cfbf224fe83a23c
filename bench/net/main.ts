// Copyright the squall authors. MIT license.

/**
 * Loopback benchmark of squall's `IOStream` against a hand-written raw
 * `Deno.Conn` baseline, both measured in the same run with their
 * repetitions interleaved (raw, squall, squall, raw, …) so machine noise
 * hits both sides alike.
 *
 * ```
 * deno task bench:net [--quick] [--reps=N] [--only=echo,lines,reqrep,conc]
 *                     [--impl=squall|raw]
 * ```
 *
 * - `--quick`: 1/16 of every size, for a smoke run.
 * - `--reps=N`: timed repetitions per side (default 5 for echo and lines,
 *   3 for the slower reqrep and conc).
 * - `--impl=raw`: measure the raw baseline against itself; the ratios then
 *   show this machine's noise floor.
 *
 * Before the timed repetitions each side runs once, untimed, at 1/16 size
 * with every byte checked (warm-up and correctness); every timed repetition
 * checks counts and data too (see `_common.ts`), so a fast but wrong
 * implementation fails instead of winning. Scenario 4 runs each side in its
 * own child process (`conc.ts`) so its peak RSS is its own.
 *
 * @module
 */

import {
  CHUNK,
  ensureFdLimit,
  LINE_LENGTH,
  makeLines,
  median,
} from "./_common.ts";
import { implByName } from "./_impls.ts";
import { runConcChild } from "./conc.ts";
import { runEcho } from "./echo.ts";
import { runLines } from "./lines.ts";
import { runReqRep } from "./reqrep.ts";

type ScenarioKey = "echo" | "lines" | "reqrep" | "conc";
const ALL: readonly ScenarioKey[] = ["echo", "lines", "reqrep", "conc"];

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
}

const gc = (globalThis as { gc?: () => void }).gc;

function parseArgs(args: string[]) {
  const opts = {
    quick: false,
    reps: 0,
    only: [...ALL],
    impl: "squall",
  };
  for (const arg of args) {
    const [flag, value] = arg.split("=", 2) as [string, string | undefined];
    if (flag === "--quick" && value === undefined) opts.quick = true;
    else if (flag === "--reps" && value !== undefined) {
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

function scenarios(quick: boolean, repsOverride: number): Scenario[] {
  const div = quick ? 16 : 1;
  const echoChunks = 4096 / div; // 256 MiB
  const lineCount = Math.ceil(1_000_000 / div);
  const roundTrips = Math.ceil(100_000 / div);
  const concConns = quick ? 250 : 1000;
  const concRounds = quick ? 25 : 100;
  const reps = (n: number) => repsOverride || n;
  let lineData: Uint8Array | undefined;
  const lines = () => (lineData ??= makeLines(lineCount));
  return [
    {
      key: "echo",
      title: `echo ${(echoChunks * CHUNK) >> 20} MiB in 64 KiB chunks, ` +
        `one connection (MB = 10^6 bytes)`,
      metrics: [{
        name: "echo",
        unit: "MB/s",
        higherIsBetter: true,
        target: 1.0,
        digits: 0,
      }],
      reps: reps(5),
      warmup: async (impl) => {
        await runEcho(implByName(impl), Math.ceil(echoChunks / 16), "full");
      },
      measure: async (impl) => {
        const r = await runEcho(implByName(impl), echoChunks, "spot");
        return [r.bytes / r.seconds / 1e6];
      },
    },
    {
      key: "lines",
      title: `${lineCount} lines of 100 bytes, one awaited read per line`,
      metrics: [{
        name: "lines",
        unit: "lines/s",
        higherIsBetter: true,
        target: 1.0,
        digits: 0,
      }],
      reps: reps(5),
      warmup: async (impl) => {
        const few = Math.ceil(lineCount / 16) * LINE_LENGTH;
        await runLines(implByName(impl), lines().subarray(0, few));
      },
      measure: async (impl) => {
        const r = await runLines(implByName(impl), lines());
        return [r.lines / r.seconds];
      },
    },
    {
      key: "reqrep",
      title: `${roundTrips} sequential 32-byte request/replies, one connection`,
      metrics: [{
        name: "reqrep",
        unit: "round trips/s",
        higherIsBetter: true,
        target: 0.95,
        digits: 0,
      }],
      reps: reps(3),
      warmup: async (impl) => {
        await runReqRep(implByName(impl), Math.ceil(roundTrips / 16));
      },
      measure: async (impl) => {
        const r = await runReqRep(implByName(impl), roundTrips);
        return [r.roundTrips / r.seconds];
      },
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
          r.peakRssKiB / 1024,
          (r.peakRssKiB - r.rssBeforeKiB) / 1024,
        ];
      },
    },
  ];
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

/** Prints the summary table, then one verdict line per metric. */
function report(rows: Row[], testName: string): void {
  const header = [
    "metric",
    "unit",
    "raw median",
    "raw range",
    `${testName} median`,
    `${testName} range`,
    "ratio",
    "paired ratios",
    "target",
    "verdict",
  ];
  const lines = rows.map(({ metric: m, raw, test }) => {
    const ratio = median(test) / median(raw);
    const paired = test.map((t, i) => t / raw[i]!);
    return [
      m.name,
      m.unit,
      fmt(median(raw), m.digits),
      span(raw, m.digits),
      fmt(median(test), m.digits),
      span(test, m.digits),
      `${ratio.toFixed(2)}x`,
      `${span(paired, 2)}x`,
      targetText(m),
      verdict(m, ratio),
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
    "\nratio = median(" + testName + ") / median(raw); paired " +
      "ratios pair each rep with the raw rep next to it\n",
  );
  for (const { metric: m, raw, test } of rows) {
    const ratio = median(test) / median(raw);
    const target = Number.isNaN(m.target)
      ? "(no target)"
      : `(target ${targetText(m)})`;
    console.log(
      `${m.name}: ${testName} ${fmt(median(test), m.digits)} ${m.unit}, ` +
        `raw ${fmt(median(raw), m.digits)} ${m.unit}, ` +
        `ratio ${ratio.toFixed(2)}x ${target} ${verdict(m, ratio)}`,
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
  if (!gc) console.log("(run with --v8-flags=--expose-gc to GC between reps)");
  if (opts.only.includes("conc")) console.log(ensureFdLimit(2 * 1000 + 64));

  // Tell the two sides apart in the log when raw runs against itself.
  const testLabel = opts.impl === "raw" ? "raw (as test)" : opts.impl;
  const rows: Row[] = [];
  for (const s of chosen) {
    console.log(`\n== ${s.key}: ${s.title}; ${s.reps} reps per side`);
    if (s.warmup) {
      for (const impl of ["raw", opts.impl]) await s.warmup(impl);
      console.log("  warm-up runs (every byte checked): ok");
    }
    const samples: Record<"raw" | "test", number[][]> = { raw: [], test: [] };
    for (let rep = 0; rep < s.reps; rep++) {
      // ABBA order: a slow drift of the machine cannot favour one side.
      const order = rep % 2 === 0
        ? ["raw", "test"] as const
        : ["test", "raw"] as const;
      for (const side of order) {
        gc?.();
        const values = await s.measure(side === "raw" ? "raw" : opts.impl);
        samples[side].push(values);
        console.log(
          `  rep ${rep + 1} ${side === "raw" ? "raw" : testLabel}: ` +
            s.metrics.map((m, i) => `${fmt(values[i]!, m.digits)} ${m.unit}`)
              .join(", "),
        );
      }
    }
    s.metrics.forEach((metric, i) =>
      rows.push({
        metric,
        raw: samples.raw.map((v) => v[i]!),
        test: samples.test.map((v) => v[i]!),
      })
    );
  }
  report(rows, testLabel);
}

if (import.meta.main) await main();
