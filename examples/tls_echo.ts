// deno run --allow-net --allow-read examples/tls_echo.ts
//
// A TLS echo server (TCPServer with cert/key, so every connection is an
// SSLIOStream) and a client (SSLIOStream.connect) that checks the server's
// certificate against its CA, in one process.
//
// The certificate is the test certificate committed under tests/testdata/
// (a CA and a "localhost" / 127.0.0.1 server certificate it signed). That is
// more robust than generating one at start: no openssl binary, no temporary
// files, no --allow-run or --allow-write, and it works the same on every OS.
// Its private key is public: never use it for anything real.
import { SSLIOStream, StreamClosedError, TCPServer } from "../iostream/mod.ts";

const testdata = new URL("../tests/testdata/", import.meta.url);
const [cert, key, ca] = await Promise.all(
  ["server.crt", "server.key", "ca.crt"].map((name) =>
    Deno.readTextFile(new URL(name, testdata))
  ),
);
const decoder = new TextDecoder();

const server = new TCPServer({
  cert: cert!,
  key: key!,
  async handler(stream, address) {
    const peer = address as Deno.NetAddr;
    console.log(`server: TLS connection from ${peer.hostname}:${peer.port}`);
    try {
      for (;;) {
        const line = await stream.readUntil("\n", { maxBytes: 4096 });
        await stream.write(line);
      }
    } catch (err) {
      if (!(err instanceof StreamClosedError)) throw err;
      console.log("server: client left");
    }
  },
});
const { port } = server.listen(0, "127.0.0.1");
console.log(`server: TLS echo on 127.0.0.1:${port}`);

const client = await SSLIOStream.connect({
  hostname: "localhost", // must match the certificate
  port,
  caCerts: [ca!],
});
for (const message of ["hello", "over TLS", "bye"]) {
  await client.write(`${message}\n`);
  const echo = decoder.decode(await client.readUntil("\n")).trimEnd();
  console.log(`client: sent "${message}", got back "${echo}"`);
}
client.close();
await server.close();
console.log("done");
