// deno run examples/graceful_shutdown.ts
//
// A long-running service on squall's IOLoop that shuts down cleanly on
// SIGINT (Ctrl-C) or SIGTERM: the signal listener only schedules the
// shutdown with addCallbackFromSignal; the shutdown itself runs on the loop,
// stops the periodic work, stops the loop, and the process exits with 0.
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
const listeners = signals.map((signal) => {
  const listener = () => {
    loop.addCallbackFromSignal(shutdown, signal);
  };
  Deno.addSignalListener(signal, listener);
  return [signal, listener] as const;
});

function shutdown(signal: Deno.Signal): void {
  console.log(`received ${signal}, shutting down`);
  heartbeat.stop();
  for (const [sig, listener] of listeners) {
    Deno.removeSignalListener(sig, listener);
  }
  loop.stop();
}

heartbeat.start();
console.log(`ready (pid ${Deno.pid}): press Ctrl-C or send SIGTERM to stop`);
await loop.start();
loop.close();
console.log(`stopped cleanly after ${beats} heartbeats`);
