// deno run examples/graceful_shutdown.ts
//
// A long-running service on squall's IOLoop that shuts down cleanly on
// SIGINT (Ctrl-C) or SIGTERM: the signal listener only schedules the
// shutdown with addCallbackFromSignal; the shutdown itself runs on the loop,
// stops the periodic work, stops the loop, and the process exits with 0.
//
// The listeners stay until the process exits, and it exits with Deno.exit():
// a signal that finds no listener kills a Deno process on the spot, a Deno
// program that ends by running out of work drops its listeners first, and
// one Ctrl-C can arrive twice (a terminal signals the whole process group;
// `deno task` forwards the signal it got as well). A signal that comes while
// the service is already stopping changes nothing.
import { IOLoop, PeriodicCallback } from "../ioloop/mod.ts";

const loop = IOLoop.current();
let beats = 0;
const heartbeat = new PeriodicCallback(() => {
  beats++;
  console.log(`heartbeat ${beats}`);
}, 200);

const signals: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM"];
for (const signal of signals) {
  Deno.addSignalListener(
    signal,
    () => loop.addCallbackFromSignal(shutdown, signal),
  );
}

let stopping = false;
function shutdown(signal: Deno.Signal): void {
  if (stopping) return;
  stopping = true;
  console.log(`received ${signal}, shutting down`);
  heartbeat.stop();
  loop.stop();
}

heartbeat.start();
console.log(`ready (pid ${Deno.pid}): press Ctrl-C or send SIGTERM to stop`);
await loop.start();
loop.close();
console.log(`stopped cleanly after ${beats} heartbeats`);
Deno.exit(0);
