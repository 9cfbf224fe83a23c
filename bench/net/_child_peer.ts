// Copyright the squall authors. MIT license.

/**
 * Runs the peer of a scenario in a child process, so that only the side
 * under test lives in this process: its CPU time is its own and the two
 * ends do not share one JavaScript thread.
 *
 * @module
 */

import { cpuSeconds, listenLoopback } from "./_common.ts";

/** What {@linkcode withChildPeer} returns. */
export interface ChildPeerRun<T> {
  /** What `serve` resolved with. */
  value: T;
  /** CPU time of this process while `serve` ran, seconds. */
  cpuSeconds: number;
  /** The child's last line of output (its JSON report). */
  report: string;
}

/**
 * Starts `deno run -A <script> PORT ...args` (the script connects to PORT
 * on 127.0.0.1), accepts its connection and hands it to `serve`. Resolves
 * once both are done. When the child fails, the error gives its output and
 * `serve`'s error if there was one; when only `serve` fails, its error.
 */
export async function withChildPeer<T>(
  script: URL,
  args: string[],
  serve: (conn: Deno.TcpConn) => Promise<T>,
): Promise<ChildPeerRun<T>> {
  using listener = listenLoopback();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script.pathname, String(listener.addr.port), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  const name = script.pathname.split("/").at(-1);
  let conn: Deno.TcpConn | undefined;
  let value: T | undefined;
  let cpu = 0;
  let failure: { error: unknown } | undefined;
  try {
    conn = await Promise.race([
      listener.accept(),
      output.then((out): never => {
        throw new Error(
          `${name} exited (code ${out.code}) before connecting:\n` +
            new TextDecoder().decode(out.stderr),
        );
      }),
    ]);
    const cpu0 = cpuSeconds();
    value = await serve(conn);
    cpu = cpuSeconds() - cpu0;
  } catch (error) {
    failure = { error };
    // Without a connection the child would wait for its peer forever.
    if (conn === undefined) {
      try {
        child.kill();
      } catch { /* already gone */ }
    }
  }
  // `serve` closed its end in every case, so the child ends too.
  const out = await output;
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success && conn !== undefined) {
    // Both sides' errors: either may be the cause and the other its echo
    // (a reset, an early end of stream).
    const here = failure === undefined
      ? ""
      : `\nThis side failed too: ${
        failure.error instanceof Error ? failure.error.message : failure.error
      }`;
    throw new Error(
      `${name} failed (exit ${out.code}):\n` +
        new TextDecoder().decode(out.stderr) + stdout + here,
      { cause: failure?.error },
    );
  }
  if (failure !== undefined) throw failure.error;
  const report = stdout.trim().split("\n").at(-1) ?? "";
  return { value: value as T, cpuSeconds: cpu, report };
}

/** Parses the positive integer argument `value` of a child script. */
export function positiveIntArg(
  value: string | undefined,
  what: string,
): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(`${what} must be a positive integer, got "${value}"`);
  }
  return n;
}
