// Copyright the squall authors. MIT license.

/**
 * Scenario 4: many concurrent connections, each doing sequential 32-byte
 * request/replies. Timed from the first connect to the last reply; every
 * reply is checked and the server's answer count must match.
 *
 * Run as a program (`deno run -A bench/net/conc.ts raw|squall CONNS
 * ROUNDS`), it measures one implementation alone in its own process, so the
 * peak RSS it prints (`VmHWM` from `/proc/self/status`) is not shared with
 * the other side. It prints one JSON line: {@linkcode ConcChildResult}.
 *
 * @module
 */

import { positiveIntArg } from "./_child_peer.ts";
import {
  closeQuietly,
  cpuSeconds,
  ensureFdLimit,
  expectCount,
  listenLoopback,
  procStatusKiB,
} from "./_common.ts";
import type { NetImpl } from "./_impl.ts";
import { implByName } from "./_impls.ts";

/** One concurrent-connections run. */
export interface ConcResult {
  /** Wall time in seconds, first connect to last reply. */
  seconds: number;
  /** Round trips done over all connections (each reply checked). */
  roundTrips: number;
}

/** What a child process reports. */
export interface ConcChildResult extends ConcResult {
  /** Implementation name. */
  impl: string;
  /** `VmRSS` just before the timed run, KiB. */
  rssBeforeKiB: number;
  /** `VmHWM` (peak RSS of the whole child) after the run, KiB. */
  peakRssKiB: number;
  /** CPU time of the child (all threads) during the timed run, seconds. */
  cpuSeconds: number;
}

/** Opens `conns` connections at once, each doing `rounds` round trips. */
export async function runConc(
  impl: NetImpl,
  conns: number,
  rounds: number,
): Promise<ConcResult> {
  const listener = listenLoopback();
  const { port } = listener.addr;
  const handlers: Promise<number>[] = [];
  let result: ConcResult;
  try {
    const start = performance.now();
    const accepting = (async () => {
      for (let i = 0; i < conns; i++) {
        const handler = impl.reqRepServer(await listener.accept());
        handler.catch(() => {}); // awaited below; its client reports first
        handlers.push(handler);
      }
    })();
    accepting.catch(() => {}); // a client failed to connect: reported below
    const clients: Promise<void>[] = [];
    for (let id = 0; id < conns; id++) {
      clients.push((async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await impl.reqRepClient(conn, id, rounds);
      })());
    }
    const settled = await Promise.allSettled(clients);
    const end = performance.now();
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    await accepting;
    result = { seconds: (end - start) / 1000, roundTrips: conns * rounds };
  } finally {
    closeQuietly(listener);
    await Promise.allSettled(handlers);
  }
  let answered = 0;
  for (const h of handlers) answered += await h;
  expectCount(`${impl.name} requests answered`, answered, conns * rounds);
  return result;
}

/**
 * Runs {@linkcode runConc} for the implementation called `implName` in a
 * fresh child process and returns what it measured.
 */
export async function runConcChild(
  implName: string,
  conns: number,
  rounds: number,
): Promise<ConcChildResult> {
  const script = new URL("./conc.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      script,
      implName,
      String(conns),
      String(rounds),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr);
    throw new Error(
      `conc.ts ${implName} failed (exit ${out.code}):\n${stderr}${stdout}`,
    );
  }
  const last = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(last) as ConcChildResult;
}

if (import.meta.main) {
  const [name = "", connsArg, roundsArg] = Deno.args;
  const impl = implByName(name);
  const conns = positiveIntArg(connsArg, "CONNS");
  const rounds = positiveIntArg(roundsArg, "ROUNDS");
  ensureFdLimit(2 * conns + 64);
  // Warm the JIT up so the timed run measures steady-state code.
  await runConc(impl, Math.min(conns, 20), Math.min(rounds, 20));
  (globalThis as { gc?: () => void }).gc?.();
  const rssBeforeKiB = procStatusKiB("VmRSS");
  const cpuBefore = cpuSeconds();
  const r = await runConc(impl, conns, rounds);
  const report: ConcChildResult = {
    impl: impl.name,
    ...r,
    rssBeforeKiB,
    peakRssKiB: procStatusKiB("VmHWM"),
    cpuSeconds: cpuSeconds() - cpuBefore,
  };
  console.log(JSON.stringify(report));
}
