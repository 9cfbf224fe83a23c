// deno run --allow-net --allow-read examples/starttls.ts
//
// Mixed framing on one connection, the way mail and chat protocols do it:
// command lines found by delimiter (readUntil), bodies read by length
// (readBytes), and a STARTTLS upgrade in the middle (startTls), after which
// the same framing goes on over TLS.
//
// The client is squall's IOStream. The server is written with node:net and
// node:tls because Deno 2.9 cannot upgrade an accepted plain Deno.Conn to
// TLS on the server side (README: "What Deno cannot do"). The protocol:
//
//   S: 220 ready                 greeting
//   C: SEND <n>\r\n<n bytes>     S: DATA <n>\r\n<the n bytes, reversed>
//   C: STARTTLS                  S: 220 go ahead, then the TLS handshake
//   C: QUIT                      S: 221 bye, and it hangs up
//
// The certificate is the test certificate committed under tests/testdata/;
// its private key is public, never use it for anything real.
import net from "node:net";
import tls from "node:tls";
import { IOStream, StreamClosedError } from "../iostream/mod.ts";

const testdata = new URL("../tests/testdata/", import.meta.url);
const [cert, key, ca] = await Promise.all(
  ["server.crt", "server.key", "ca.crt"].map((name) =>
    Deno.readTextFile(new URL(name, testdata))
  ),
);
const decoder = new TextDecoder();

// ------------------------------------------------------------- the server

// Serves one connection (plain or already upgraded): parses commands as
// they arrive, and hands the socket over to TLS on STARTTLS.
function serve(sock: net.Socket, secure: boolean): void {
  let pending = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const eol = pending.indexOf("\r\n");
      if (eol < 0) return;
      const [verb, arg] = pending.subarray(0, eol).toString("latin1")
        .split(" ");
      if (verb === "SEND") {
        const n = Number(arg);
        const end = eol + 2 + n;
        if (pending.length < end) return; // wait for the whole body
        const body = Buffer.from(pending.subarray(eol + 2, end)).reverse();
        pending = pending.subarray(end);
        sock.write(`DATA ${n}\r\n`);
        sock.write(body);
      } else if (verb === "STARTTLS" && !secure) {
        // Plain bytes that came after STARTTLS are dropped, never read as
        // part of the TLS session.
        sock.off("data", onData);
        sock.write("220 go ahead\r\n");
        serve(new tls.TLSSocket(sock, { isServer: true, cert, key }), true);
        return;
      } else if (verb === "QUIT") {
        sock.end("221 bye\r\n");
        return;
      } else {
        pending = pending.subarray(eol + 2);
        sock.write("500 unknown command\r\n");
      }
    }
  };
  sock.on("data", onData);
  sock.on("error", (err) => console.error(`server: ${err.message}`));
}

const server = net.createServer((sock) => {
  sock.write("220 ready\r\n");
  serve(sock, false);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address() as net.AddressInfo;
console.log(`server: listening on 127.0.0.1:${port}`);

// ------------------------------------------------------------- the client

// One reply line, without its "\r\n". A server that sends an endless line
// gets UnsatisfiableReadError (and a closed stream), not unbounded memory.
async function replyLine(stream: IOStream): Promise<string> {
  const line = await stream.readUntil("\r\n", { maxBytes: 1024 });
  return decoder.decode(line.subarray(0, -2));
}

// Sends a body framed by its length and reads the reply framed the same way.
async function roundTrip(stream: IOStream, text: string): Promise<string> {
  const body = new TextEncoder().encode(text);
  await stream.write(`SEND ${body.length}\r\n`);
  await stream.write(body);
  const header = await replyLine(stream); // "DATA <n>"
  const n = Number(header.split(" ")[1]);
  return decoder.decode(await stream.readBytes(n));
}

const plain = await IOStream.connect({ hostname: "127.0.0.1", port });
console.log(`client: greeting "${await replyLine(plain)}"`);
console.log(`client: plain reply "${await roundTrip(plain, "in the clear")}"`);

await plain.write("STARTTLS\r\n");
console.log(`client: STARTTLS answered "${await replyLine(plain)}"`);
// startTls() refuses if the server sent anything after its go-ahead: bytes
// that arrived in plain text must never pass for part of the TLS session.
const secure = await plain.startTls(false, {
  hostname: "localhost", // must match the certificate
  caCerts: [ca!],
});
console.log(`client: TLS up, plain stream closed: ${plain.closed()}`);
console.log(`client: TLS reply "${await roundTrip(secure, "over TLS now")}"`);

await secure.write("QUIT\r\n");
console.log(`client: QUIT answered "${await replyLine(secure)}"`);
try {
  await secure.readBytes(1);
} catch (err) {
  if (!(err instanceof StreamClosedError)) throw err;
  console.log("client: server hung up");
}
secure.close();
await new Promise<void>((resolve) => server.close(() => resolve()));
console.log("done");
