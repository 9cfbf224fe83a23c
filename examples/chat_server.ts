// deno run --allow-net examples/chat_server.ts [--port 8888] [--host 127.0.0.1]
// (or: deno task serve)
//
// A line-based chat room: every line a client sends goes to every other
// client. Talk to it with `nc 127.0.0.1 8888` (or examples/chat_client.ts)
// from two terminals. Commands: /name NEW, /who, /quit.
//
// What it shows:
// - TCPServer runs one session per connection; a failing session never
//   touches the others.
// - IOStream.readUntil("\n", { maxBytes }) bounds what one line may cost.
// - Each client has a bounded Queue of outgoing lines, drained by its own
//   writer. A client that stops reading while others talk fills its queue
//   and is dropped, instead of making the server buffer without end.
// - A Condition lets the shutdown wait until the room is empty.
// - A PeriodicCallback prints the number of clients and messages/s.
// - SIGINT / SIGTERM: stop accepting, say goodbye to everyone, flush, close,
//   exit 0.
import { IOLoop, PeriodicCallback } from "../ioloop/mod.ts";
import { parseFlags, portFlag } from "./_flags.ts";
import {
  type IOStream,
  StreamClosedError,
  TCPServer,
  UnsatisfiableReadError,
} from "../iostream/mod.ts";
import { Condition } from "../locks/mod.ts";
import { Queue, QueueFull } from "../queues/mod.ts";

/** Longest line (newline included) the room accepts; longer ones end the session with a notice. */
const MAX_LINE = 1024;
/**
 * readUntil's maxBytes closes the stream at once (as in Tornado), with no
 * chance to say why. So it is the hard stop for runaway input, set well
 * above MAX_LINE, and MAX_LINE is checked on complete lines.
 */
const HARD_LIMIT = 64 * 1024;
/** Outgoing lines a client may have waiting before it counts as too slow. */
const OUTBOX_SIZE = 256;
/** How long a leaving client gets to read its last lines. */
const FLUSH_TIMEOUT = 2000;
/** How long shutdown waits for clients to take their goodbye. */
const SHUTDOWN_TIMEOUT = 3000;

const flags = parseFlags({
  port: { type: "string", default: "8888" },
  host: { type: "string", default: "127.0.0.1" },
  "stats-interval": { type: "string", default: "5000" },
  help: { type: "boolean", short: "h", default: false },
});
if (flags.help) {
  console.log(
    "usage: deno run --allow-net examples/chat_server.ts " +
      "[--port 8888] [--host 127.0.0.1] [--stats-interval 5000 (ms)]",
  );
  Deno.exit(0);
}
const port = portFlag(flags.port);
const statsInterval = Number(flags["stats-interval"]);
if (!(statsInterval > 0)) {
  console.error(
    `chat: --stats-interval must be a positive number of ms, got "${
      flags["stats-interval"]
    }"`,
  );
  Deno.exit(2);
}

const decoder = new TextDecoder();

/** One connected person: a name, a stream and a bounded outbox. */
class Client {
  name: string;
  readonly stream: IOStream;
  /** Lines waiting to be written; `null` means "flush, then hang up". */
  readonly outbox = new Queue<string | null>(OUTBOX_SIZE);
  #stopWriter = new AbortController();
  #forceClose: ReturnType<typeof setTimeout> | undefined;
  #finishing = false;

  constructor(stream: IOStream, name: string) {
    this.stream = stream;
    this.name = name;
  }

  /** Queues a line; false when the outbox is full (the client is too slow). */
  send(line: string): boolean {
    if (this.#finishing) return true;
    try {
      this.outbox.putNowait(line);
      return true;
    } catch (err) {
      if (err instanceof QueueFull) return false;
      throw err;
    }
  }

  /**
   * Sends `lastWords` (if any) and hangs up once they are written, or after
   * FLUSH_TIMEOUT if the client does not read them.
   */
  finish(lastWords?: string): void {
    if (this.#finishing) return;
    if (lastWords !== undefined && !this.send(lastWords)) {
      // Full outbox: make room, the goodbye matters more than the backlog.
      while (!this.outbox.empty()) this.outbox.getNowait();
      this.outbox.putNowait(lastWords);
    }
    this.#finishing = true;
    if (this.outbox.full()) this.outbox.getNowait();
    this.outbox.putNowait(null);
    this.#forceClose = setTimeout(() => this.stream.close(), FLUSH_TIMEOUT);
  }

  /** Writes queued lines, a batch at a time, until told to stop. */
  async writeLoop(): Promise<void> {
    const signal = this.#stopWriter.signal;
    try {
      for (;;) {
        let batch = await this.outbox.get({ signal });
        if (batch === null) break;
        let last = false;
        while (!this.outbox.empty() && batch.length < 64 * 1024) {
          const next = this.outbox.getNowait();
          if (next === null) {
            last = true;
            break;
          }
          batch += next;
        }
        await this.stream.write(batch);
        if (last) break;
      }
    } catch (err) {
      // Stopped, or the connection went away: the session ends either way.
      if (!(err instanceof StreamClosedError) && !signal.aborted) throw err;
    } finally {
      this.stream.close();
    }
  }

  /** Ends the writer now and releases the timer; called once per session. */
  dispose(): void {
    this.#stopWriter.abort();
    clearTimeout(this.#forceClose);
  }
}

const clients = new Set<Client>();
const roomChanged = new Condition();
let guestCount = 0;
let messageCount = 0;
let shuttingDown = false;

/** The next guest-N name nobody has taken with /name. */
function guestName(): string {
  const taken = new Set([...clients].map((c) => c.name));
  let name;
  do name = `guest-${++guestCount}`; while (taken.has(name));
  return name;
}

/** Sends a line to everyone but `from`; drops whoever cannot keep up. */
function broadcast(line: string, from?: Client): void {
  for (const client of clients) {
    if (client === from) continue;
    if (!client.send(line)) drop(client);
  }
}

function drop(client: Client): void {
  if (!clients.delete(client)) return;
  console.log(`dropped ${client.name}: outbox full (${OUTBOX_SIZE} lines)`);
  client.finish(
    `! you are not reading fast enough: disconnected after ${OUTBOX_SIZE} unread lines\n`,
  );
  broadcast(`* ${client.name} was dropped (too slow)\n`);
  roomChanged.notifyAll();
}

function leave(client: Client, why: string): void {
  if (!clients.delete(client)) return;
  broadcast(`* ${client.name} left (${why})\n`);
  roomChanged.notifyAll();
}

function command(client: Client, line: string): boolean {
  const [cmd, ...rest] = line.split(" ");
  switch (cmd) {
    case "/quit":
      leave(client, "quit");
      client.finish("* bye\n");
      return false;
    case "/who":
      client.send(
        `* here: ${[...clients].map((c) => c.name).join(", ")}\n`,
      );
      return true;
    case "/name": {
      const name = rest.join(" ").trim();
      if (!/^[\w.-]{1,32}$/.test(name)) {
        client.send("! usage: /name NEW (1-32 letters, digits, _ . -)\n");
      } else if ([...clients].some((c) => c.name === name)) {
        client.send(`! the name ${name} is taken\n`);
      } else {
        broadcast(`* ${client.name} is now ${name}\n`, client);
        client.name = name;
        client.send(`* you are now ${name}\n`);
      }
      return true;
    }
    default:
      client.send(`! unknown command ${cmd}; try /name, /who or /quit\n`);
      return true;
  }
}

/** One connection, from hello to goodbye. */
async function session(stream: IOStream): Promise<void> {
  const client = new Client(stream, guestName());
  const writer = client.writeLoop();
  client.send(
    `* welcome, ${client.name}! ${clients.size} other(s) here. ` +
      "Commands: /name NEW, /who, /quit\n",
  );
  broadcast(`* ${client.name} joined\n`);
  clients.add(client);
  roomChanged.notifyAll();
  let why = "disconnected";
  try {
    for (;;) {
      const raw = await stream.readUntil("\n", { maxBytes: HARD_LIMIT });
      if (raw.length > MAX_LINE) {
        why = "line too long";
        leave(client, why);
        client.finish(
          `! line too long (${raw.length} bytes, limit ${MAX_LINE}): bye\n`,
        );
        break;
      }
      const line = decoder.decode(raw).replace(/\r?\n$/, "");
      if (line === "") continue;
      if (line.startsWith("/")) {
        if (!command(client, line)) break;
        continue;
      }
      messageCount++;
      broadcast(`<${client.name}> ${line}\n`, client);
    }
  } catch (err) {
    if (err instanceof UnsatisfiableReadError) {
      why = `no newline within ${HARD_LIMIT} bytes`;
    } else if (!(err instanceof StreamClosedError)) {
      throw err; // a bug: TCPServer reports it and closes this stream
    }
  } finally {
    leave(client, why);
    client.finish(); // no-op if already finishing; else ends the writer
    await writer;
    client.dispose();
  }
}

const server = new TCPServer({ handler: session });
let addr: Deno.NetAddr;
try {
  addr = server.listen(port, flags.host);
} catch (err) {
  console.error(`chat: cannot listen on ${flags.host}:${port}: ${err}`);
  Deno.exit(1);
}

let lastTick = performance.now();
let lastCount = 0;
const stats = new PeriodicCallback(() => {
  const now = performance.now();
  const rate = (messageCount - lastCount) / ((now - lastTick) / 1000);
  [lastTick, lastCount] = [now, messageCount];
  console.log(`stats: ${clients.size} client(s), ${rate.toFixed(1)} msg/s`);
}, statsInterval);
stats.start();

const loop = IOLoop.current();
const signals: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM"];
// The listeners stay until the process exits: a signal that finds none kills
// it on the spot, and one Ctrl-C can arrive twice (a terminal signals the
// whole process group, and `deno task` forwards the signal it got as well).
// A signal during the shutdown changes nothing; the shutdown is bounded.
for (const signal of signals) {
  Deno.addSignalListener(
    signal,
    () => loop.addCallbackFromSignal(shutdown, signal),
  );
}

async function shutdown(signal: Deno.Signal): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`received ${signal}: shutting down`);
  stats.stop();
  server.stop();
  for (const client of clients) {
    client.finish("* server shutting down, goodbye\n");
  }
  const deadline = performance.now() + SHUTDOWN_TIMEOUT;
  while (clients.size > 0) {
    const left = deadline - performance.now();
    if (left <= 0 || !await roomChanged.wait({ timeout: left })) break;
  }
  await server.close({ timeout: 0 });
  console.log("chat server stopped");
  loop.stop();
}

console.log(`chat server listening on ${addr.hostname}:${addr.port}`);
console.log(`connect with: nc ${addr.hostname} ${addr.port}`);
await loop.start();
loop.close();
// Exit explicitly: a Deno program that ends by running out of work drops its
// signal listeners first, and a signal in those last milliseconds (the
// second copy of a Ctrl-C) would still kill it.
Deno.exit(0);
