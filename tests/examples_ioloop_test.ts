// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import { signalUntilExit } from "./_signals.ts";

const decoder = new TextDecoder();

function example(name: string): string {
  return new URL(`../examples/${name}`, import.meta.url).pathname;
}

/** Reads `stream` until `text` appears; returns everything read so far. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  text: string,
): Promise<string> {
  let out = "";
  while (!out.includes(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before "${text}": ${out}`);
    out += decoder.decode(value, { stream: true });
  }
  return out;
}

// Once, or again and again during the shutdown (Ctrl-C pressed repeatedly;
// `deno task` alone delivers it twice): the shutdown runs once, exit 0.
for (
  const [signal, repeated] of [
    ["SIGTERM", false],
    ["SIGINT", false],
    ["SIGINT", true],
  ] as const
) {
  Deno.test({
    name: `examples/graceful_shutdown.ts stops the loop on ${signal}${
      repeated ? " sent again and again" : ""
    } and exits with 0`,
    ignore: Deno.build.os === "windows",
    async fn() {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", example("graceful_shutdown.ts")],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.getReader();
      let out = await readUntil(reader, "heartbeat 1");
      const pressing = repeated
        ? signalUntilExit(() => {
          try {
            child.kill(signal);
          } catch {
            // Already gone; the status tells.
          }
        }, child.status)
        : child.kill(signal);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += decoder.decode(value, { stream: true });
      }
      const [status, stderr] = await Promise.all([
        child.status,
        new Response(child.stderr).text(),
        pressing,
      ]);
      assert.equal(status.code, 0, stderr);
      assert.match(out, /^ready \(pid \d+\)/);
      assert.match(out, new RegExp(`received ${signal}, shutting down\n`));
      assert.equal(out.match(/received SIG/g)?.length, 1);
      assert.match(out, /stopped cleanly after \d+ heartbeats\n$/);
    },
  });
}

Deno.test("examples/fd_watch.ts reads a pipe through IOLoop.addHandler", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", example("fd_watch.ts")],
  }).output();
  const out = decoder.decode(stdout);
  assert.equal(code, 0, decoder.decode(stderr));
  // Writes may be coalesced into one read under load: check the bytes.
  const text = out.split("\n").filter((l) => l.startsWith("read: "))
    .map((l) => l.slice("read: ".length)).join("");
  assert.equal(text, "message 1message 2message 3");
  assert.match(out, /end of pipe \(ERROR reported: true\)\ndone\n$/);
});
