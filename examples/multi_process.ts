// deno run --unstable-net --allow-net --allow-run examples/multi_process.ts [--workers 2] [--port 8889] [--host 127.0.0.1]
//
// One port, several processes: the parent starts N worker processes (this
// file again, with --worker) whose TCPServers all listen with
// `reusePort: true`; Linux spreads the incoming connections over them. Each
// connection is answered with the worker's pid. Ctrl-C or SIGTERM on the
// parent stops the workers gracefully, then the parent exits 0.
//
// Signals: Ctrl-C in a terminal sends SIGINT to the whole process group, so
// each worker gets it at the same moment as the parent, and then SIGTERM
// from the parent too. A signal that finds no listener kills a Deno process
// on the spot, so every process here keeps its listeners until it exits
// (see firstSignal()): the first signal starts a graceful shutdown, later
// ones change nothing.
//
// reusePort is an unstable Deno API: every process needs --unstable-net (or
// `"unstable": ["net"]` in deno.json). Without it TCPServer.listen throws an
// Error saying so. SO_REUSEPORT load-balancing is a Linux feature; macOS
// accepts the option but does not spread connections.
import { parseFlags, portFlag } from "./_flags.ts";
import { PipeIOStream, StreamClosedError, TCPServer } from "../iostream/mod.ts";

const flags = parseFlags({
  workers: { type: "string", default: "2" },
  port: { type: "string", default: "8889" },
  host: { type: "string", default: "127.0.0.1" },
  worker: { type: "boolean", default: false },
});
const port = portFlag(flags.port);
const signals: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM"];

/**
 * Resolves with the first of `signals` to arrive. The listeners are never
 * removed, so a later signal is ignored instead of killing the process. A
 * process that uses this ends with `Deno.exit()`: a Deno program that ends
 * by running out of work drops its signal listeners first, and a signal in
 * those last milliseconds would still kill it.
 */
function firstSignal(): Promise<Deno.Signal> {
  const { promise, resolve } = Promise.withResolvers<Deno.Signal>();
  for (const signal of signals) {
    Deno.addSignalListener(signal, () => resolve(signal));
  }
  return promise;
}

if (flags.worker) {
  const stopping = firstSignal();
  const server = new TCPServer({
    async handler(stream) {
      await stream.write(`worker ${Deno.pid}\n`);
      stream.close();
    },
  });
  server.listen({ port, hostname: flags.host, reusePort: true });
  console.log("ready");
  const signal = await stopping;
  console.log(`worker ${Deno.pid}: received ${signal}, closing`);
  await server.close({ timeout: 1000 });
  console.log(`worker ${Deno.pid}: stopped`);
  Deno.exit(0); // see firstSignal()
} else {
  const count = Number(flags.workers);
  if (!Number.isInteger(count) || count < 1 || count > 64) {
    console.error(`--workers must be 1-64, got "${flags.workers}"`);
    Deno.exit(2);
  }
  let shared = port;
  if (shared === 0) {
    // Find a free port for everyone: bind one, note it, let it go.
    const probe = Deno.listen({ hostname: flags.host, port: 0 });
    shared = probe.addr.port;
    probe.close();
  }
  const stopping = firstSignal();
  const workers = Array.from(
    { length: count },
    () =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--unstable-net",
          "--allow-net",
          import.meta.filename ?? new URL(import.meta.url).pathname,
          "--worker",
          "--port",
          String(shared),
          "--host",
          flags.host,
        ],
        stdout: "piped",
        stderr: "inherit",
      }).spawn(),
  );
  const exited = Promise.all(workers.map((child) => child.status));
  // Each worker says "ready" on stdout once it listens; after that, what it
  // prints is copied to our stdout.
  const outputs = workers.map((child) => new PipeIOStream(child.stdout));
  const ready = await Promise.allSettled(
    outputs.map((out) => out.readUntil("ready\n")),
  );
  if (ready.every((result) => result.status === "fulfilled")) {
    console.log(
      `${count} workers (pids ${workers.map((c) => c.pid).join(", ")})`,
    );
    console.log(
      `listening on ${flags.host}:${shared}; try: nc ${flags.host} ${shared}`,
    );
  } else {
    console.error("a worker failed to start");
    stopWorkers(workers);
  }
  const relayed = outputs.map(relay);
  const signal = await Promise.race([stopping, exited.then(() => null)]);
  if (signal !== null) {
    console.log(`received ${signal}: stopping workers`);
    stopWorkers(workers);
  }
  const statuses = await exited;
  await Promise.all(relayed);
  const failed = statuses.filter((s) => !s.success).length;
  console.log(`workers stopped (${failed} failed)`);
  Deno.exit(failed === 0 ? 0 : 1);
}

/** Asks each worker still running to stop. */
function stopWorkers(workers: Deno.ChildProcess[]): void {
  for (const child of workers) {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
  }
}

/** Copies a worker's output lines to our stdout until the worker exits. */
async function relay(out: PipeIOStream): Promise<void> {
  const decoder = new TextDecoder();
  try {
    for (;;) {
      console.log(decoder.decode(await out.readUntil("\n")).trimEnd());
    }
  } catch (err) {
    if (!(err instanceof StreamClosedError)) throw err;
  } finally {
    out.close();
  }
}
