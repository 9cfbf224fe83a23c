// deno bench -A bench/tcp_server_bench.ts
//
// The cost of TCPServer on the accept path: each iteration connects, sends
// one line, reads the echo until the server hangs up. The client is the
// same raw Deno.Conn code in both cases; only the server differs: a raw
// Deno.listen accept loop (baseline) or a TCPServer whose handler uses an
// IOStream (readUntil + write + close).
import { TCPServer } from "../iostream/mod.ts";

const HOST = "127.0.0.1";
const LINE = new TextEncoder().encode("hello, server\n");

const raw = Deno.listen({ hostname: HOST, port: 0 });
(async () => {
  for await (const conn of raw) {
    (async () => {
      const buf = new Uint8Array(64);
      let got = 0;
      while (got === 0 || buf[got - 1] !== 0x0a) {
        const n = await conn.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      await conn.write(buf.subarray(0, got));
      conn.close();
    })().catch(() => {});
  }
})().catch(() => {});

const server = new TCPServer({
  async handler(stream) {
    await stream.write(await stream.readUntil("\n"));
    stream.close();
  },
});
const squallPort = server.listen(0, HOST).port;

async function roundTrip(port: number): Promise<void> {
  const conn = await Deno.connect({ hostname: HOST, port });
  await conn.write(LINE);
  const buf = new Uint8Array(64);
  let got = 0;
  for (;;) {
    const n = await conn.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  conn.close();
  if (got !== LINE.length) throw new Error(`echo was ${got} bytes`);
}

Deno.bench({
  name: "raw Deno.listen accept loop",
  group: "connect, echo one line, close",
  baseline: true,
  // An async function, not an arrow returning a promise: deno bench awaits
  // only functions that are async by declaration.
  async fn() {
    await roundTrip(raw.addr.port);
  },
});

Deno.bench({
  name: "TCPServer + IOStream handler",
  group: "connect, echo one line, close",
  async fn() {
    await roundTrip(squallPort);
  },
});

globalThis.addEventListener("unload", () => {
  raw.close();
  server.stop();
});
