// deno run --unstable-net --allow-net --allow-run examples/multi_process.ts [--workers 2] [--port 8889] [--host 127.0.0.1]
//
// One port, several processes: the parent starts N worker processes (this
// file again, with --worker) whose TCPServers all listen with
// `reusePort: true`; Linux spreads the incoming connections over them. Each
// connection is answered with the worker's pid. Ctrl-C or SIGTERM on the
// parent stops the workers gracefully, then the parent exits 0.
//
// reusePort is an unstable Deno API: every process needs --unstable-net (or
// `"unstable": ["net"]` in deno.json). Without it TCPServer.listen throws an
// Error saying so. SO_REUSEPORT load-balancing is a Linux feature; macOS
// accepts the option but does not spread connections.
import { parseFlags, portFlag } from "./_flags.ts";
import { PipeIOStream, TCPServer } from "../iostream/mod.ts";

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

/** Waits for the first of `signals`, then removes the listeners. */
function nextSignal(): Promise<Deno.Signal> {
  return new Promise((resolve) => {
    const listeners = signals.map((signal) => {
      const listener = () => {
        for (const [sig, l] of listeners) Deno.removeSignalListener(sig, l);
        resolve(signal);
      };
      Deno.addSignalListener(signal, listener);
      return [signal, listener] as const;
    });
  });
}

if (flags.worker) {
  const server = new TCPServer({
    async handler(stream) {
      await stream.write(`worker ${Deno.pid}\n`);
      stream.close();
    },
  });
  server.listen({ port, hostname: flags.host, reusePort: true });
  const stopping = nextSignal();
  console.log("ready");
  await stopping;
  await server.close({ timeout: 1000 });
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
  // Each worker says "ready" on stdout once it listens.
  const outputs = workers.map((child) => new PipeIOStream(child.stdout));
  try {
    await Promise.all(outputs.map((out) => out.readUntil("ready\n")));
  } catch {
    console.error("a worker failed to start");
    for (const child of workers) child.kill();
  }
  for (const out of outputs) out.close();
  const stopping = nextSignal();
  console.log(
    `${count} workers (pids ${workers.map((c) => c.pid).join(", ")})`,
  );
  console.log(
    `listening on ${flags.host}:${shared}; try: nc ${flags.host} ${shared}`,
  );
  const exited = Promise.all(workers.map((child) => child.status));
  const signal = await Promise.race([stopping, exited.then(() => null)]);
  if (signal !== null) {
    console.log(`received ${signal}: stopping workers`);
    for (const child of workers) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }
  }
  const statuses = await exited;
  const failed = statuses.filter((s) => !s.success).length;
  console.log(`workers stopped (${failed} failed)`);
  Deno.exit(failed === 0 ? 0 : 1);
}
