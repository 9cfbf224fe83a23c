// deno run --allow-net examples/chat_client.ts [--port 8888] [--host 127.0.0.1]
//
// A tiny `nc` for the chat server (examples/chat_server.ts): what you type
// goes to the server, what the server sends is printed. stdin and stdout
// are PipeIOStreams, the connection is an IOStream. At the end of input
// (Ctrl-D) it sends /quit and waits for the server's goodbye.
import { parseFlags, portFlag } from "./_flags.ts";
import { IOStream, PipeIOStream } from "../iostream/mod.ts";

const flags = parseFlags({
  port: { type: "string", default: "8888" },
  host: { type: "string", default: "127.0.0.1" },
});
const port = portFlag(flags.port, 1);

let server: IOStream;
try {
  server = await IOStream.connect({ hostname: flags.host, port });
} catch (err) {
  console.error(`chat_client: cannot connect to ${flags.host}:${port}: ${err}`);
  Deno.exit(1);
}
const stdin = new PipeIOStream(Deno.stdin.readable);
const stdout = new PipeIOStream(Deno.stdout.writable);

/** Keyboard to server, chunk by chunk, as typed. */
async function upstream(): Promise<void> {
  let lastByte = 0x0a;
  for await (const chunk of stdin) {
    if (server.closed()) return;
    await server.write(chunk);
    lastByte = chunk[chunk.length - 1] ?? lastByte;
  }
  // End of input: leave politely; the server answers and hangs up.
  if (!server.closed()) {
    await server.write(lastByte === 0x0a ? "/quit\n" : "\n/quit\n");
  }
}

/** Server to screen until the server hangs up. */
async function downstream(): Promise<void> {
  for await (const chunk of server) await stdout.write(chunk);
}

const sending = upstream().catch((err) => {
  if (!server.closed()) throw err;
});
await downstream();
console.error("chat_client: connection closed");
server.close();
stdin.close(); // stops upstream() if the server left first
await sending;
stdout.close();
// A read on the terminal cannot be cancelled from JavaScript; exit instead
// of waiting for one more keystroke.
Deno.exit(0);
