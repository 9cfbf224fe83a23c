// Runs the examples as a user would: as processes, on ephemeral ports,
// talked to over real sockets and pipes.
import assert from "node:assert/strict";
import { IOStream } from "@squall/io/iostream";
import { signalUntilExit } from "./_signals.ts";

const decoder = new TextDecoder();
const HOST = "127.0.0.1";
const LIMIT = 10_000; // ms any single expectation may take

const ROOT = new URL("..", import.meta.url).pathname;

function example(name: string): string {
  return new URL(`../examples/${name}`, import.meta.url).pathname;
}

/** Collects a child's stdout as text and lets a test wait for a pattern. */
class Output {
  text = "";
  readonly done: Promise<void>;
  #wake: (() => void) | null = null;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      for await (const chunk of stream) {
        this.text += decoder.decode(chunk, { stream: true });
        this.#wake?.();
      }
      this.#wake?.();
    })();
  }

  /** Waits for `pattern` in the output written from offset `from` on. */
  async waitFor(pattern: RegExp, from = 0): Promise<RegExpMatchArray> {
    const deadline = Date.now() + LIMIT;
    for (;;) {
      const match = this.text.slice(from).match(pattern);
      if (match) return match;
      if (Date.now() > deadline) {
        throw new Error(
          `no ${pattern} in output from offset ${from}:\n${this.text}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#wake = resolve),
        this.done,
        new Promise((resolve) => timer = setTimeout(resolve, 100)),
      ]);
      clearTimeout(timer);
      this.#wake = null;
    }
  }
}

/**
 * A running examples/chat_server.ts on an ephemeral port. With `task`, it
 * runs as `deno task serve`, in a process group of its own as a terminal's
 * foreground job is, and signals go to the whole group, as Ctrl-C sends them.
 */
async function startChatServer(options: { task?: boolean } = {}): Promise<{
  port: number;
  stdout: Output;
  /** Sends `signal` and returns at once; a server already gone is fine. */
  signal(signal: Deno.Signal): void;
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}> {
  const task = options.task ?? false;
  const flags = ["--port", "0", "--stats-interval", "200"];
  const child = new Deno.Command(Deno.execPath(), {
    args: task
      ? ["task", "serve", ...flags]
      : ["run", "--allow-net", example("chat_server.ts"), ...flags],
    ...(task ? { cwd: ROOT, detached: true } : {}),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  function signal(signal: Deno.Signal): void {
    try {
      if (task) Deno.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // Already gone; the status tells.
    }
  }
  const stdout = new Output(child.stdout);
  const stderr = new Response(child.stderr).text()
    .then((text) => task ? text.replace(/^Task serve .*\n/, "") : text);
  let port: number;
  try {
    port = Number(
      (await stdout.waitFor(/listening on 127\.0\.0\.1:(\d+)\n/))[1],
    );
    const hint = await stdout.waitFor(/connect with: nc 127\.0\.0\.1 (\d+)\n/);
    assert.equal(Number(hint[1]), port);
  } catch (err) {
    signal("SIGKILL");
    await Promise.all([child.status, stderr, stdout.done]);
    throw err;
  }
  let stopped: Promise<Deno.CommandStatus> | undefined;
  return {
    port,
    stdout,
    signal,
    stop(sig = "SIGTERM") {
      stopped ??= (async () => {
        signal(sig);
        const [status, err] = await Promise.all([child.status, stderr]);
        await stdout.done;
        assert.equal(err, "", "the server wrote to stderr");
        return status;
      })();
      return stopped;
    },
  };
}

/** A chat participant over a plain IOStream (what `nc` would do). */
class Peer {
  /** The name the server gave on arrival. */
  name = "";

  constructor(readonly stream: IOStream) {}

  static async connect(port: number): Promise<Peer> {
    const peer = new Peer(await IOStream.connect({ hostname: HOST, port }));
    const welcome = await peer.expect(/^\* welcome, guest-\d+!/);
    peer.name = welcome.match(/guest-\d+/)![0];
    return peer;
  }

  async line(): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return decoder.decode(
        await Promise.race([
          this.stream.readUntil("\n"),
          new Promise<never>((_, reject) =>
            timer = setTimeout(
              () => reject(new Error("no line within the limit")),
              LIMIT,
            )
          ),
        ]),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads lines until one matches; returns it. */
  async expect(pattern: RegExp): Promise<string> {
    const skipped: string[] = [];
    for (;;) {
      const line = await this.line().catch((err) => {
        throw new Error(`${err.message}; wanted ${pattern}, saw ${skipped}`);
      });
      if (pattern.test(line)) return line;
      skipped.push(line);
    }
  }

  say(text: string): Promise<void> {
    return this.stream.write(`${text}\n`);
  }

  /** Everything left until the server hangs up. */
  async rest(): Promise<string> {
    return decoder.decode(await this.stream.readUntilClose());
  }

  close(): void {
    this.stream.close();
  }
}

Deno.test("chat_server: several clients exchange messages, rename, list and quit", async () => {
  const server = await startChatServer();
  const ann = await Peer.connect(server.port);
  const bob = await Peer.connect(server.port);
  await ann.expect(/^\* guest-\d+ joined\n$/);
  const cat = await Peer.connect(server.port);
  await ann.expect(/joined/);
  await bob.expect(/joined/);

  await ann.say("/name ann");
  assert.equal(await ann.line(), "* you are now ann\n");
  await bob.expect(/^\* guest-\d+ is now ann\n$/);
  await cat.expect(/is now ann/);
  await bob.say("/name bob");
  await bob.expect(/you are now bob/);
  await ann.expect(/is now bob/);
  await cat.expect(/is now bob/);

  await ann.say("hello, room");
  assert.equal(await bob.line(), "<ann> hello, room\n");
  assert.equal(await cat.line(), "<ann> hello, room\n");
  await bob.say("hi ann");
  assert.equal(await ann.line(), "<bob> hi ann\n");
  assert.equal(await cat.line(), "<bob> hi ann\n");

  await cat.say("/who");
  assert.match(await cat.line(), /^\* here: ann, bob, guest-\d+\n$/);
  await cat.say("/name ann");
  assert.equal(await cat.line(), "! the name ann is taken\n");
  assert.equal(cat.name, "guest-3");
  // A guest name taken with /name is skipped for newcomers.
  await cat.say("/name guest-4");
  assert.equal(await cat.line(), "* you are now guest-4\n");
  await ann.expect(/is now guest-4/);
  await bob.expect(/is now guest-4/);
  const dan = await Peer.connect(server.port);
  assert.equal(dan.name, "guest-5");
  await ann.expect(/guest-5 joined/);
  await bob.expect(/guest-5 joined/);
  await cat.expect(/guest-5 joined/);
  dan.close();
  await ann.expect(/guest-5 left/);
  await bob.expect(/guest-5 left/);
  await cat.expect(/guest-5 left/);
  await cat.say("/quit");
  assert.equal(await cat.rest(), "* bye\n");
  assert.equal(await ann.line(), "* guest-4 left (quit)\n");
  assert.equal(await bob.line(), "* guest-4 left (quit)\n");

  // A client that just disconnects is noticed too.
  bob.close();
  assert.equal(await ann.line(), "* bob left (disconnected)\n");
  // Only a report written from now on counts: an early one, from when ann
  // was alone, says the same.
  await server.stdout.waitFor(
    /stats: 1 client\(s\)/,
    server.stdout.text.length,
  );
  ann.close();
  cat.close();
  assert.equal((await server.stop()).code, 0);
});

Deno.test("chat_server: an over-long line gets a notice and a disconnect", async () => {
  const server = await startChatServer();
  const victim = await Peer.connect(server.port);
  const witness = await Peer.connect(server.port);
  await victim.expect(/joined/);

  await victim.say("x".repeat(2000));
  assert.equal(
    await victim.rest(),
    "! line too long (2001 bytes, limit 1024): bye\n",
  );
  assert.match(await witness.line(), /^\* guest-\d+ left \(line too long\)\n$/);

  // Past the hard limit with no newline at all: cut off at once.
  const flooder = await Peer.connect(server.port);
  await witness.expect(/joined/);
  await flooder.stream.write("y".repeat(100_000)).catch(() => {});
  assert.equal(await flooder.rest(), "");
  assert.match(
    await witness.line(),
    /^\* guest-\d+ left \(no newline within 65536 bytes\)\n$/,
  );

  // The room still works.
  const late = await Peer.connect(server.port);
  await witness.expect(/joined/);
  await late.say("still here?");
  assert.match(await witness.line(), /^<guest-\d+> still here\?\n$/);
  for (const peer of [victim, witness, flooder, late]) peer.close();
  assert.equal((await server.stop()).code, 0);
});

Deno.test("chat_server: a client that never reads is dropped, the others go on", async () => {
  const server = await startChatServer();
  const slow = await Peer.connect(server.port); // never reads from now on
  const talker = await Peer.connect(server.port);
  const line = "z".repeat(999) + "\n";
  const burst = line.repeat(64);

  let dropped = false;
  const watching = talker.expect(/^\* guest-\d+ was dropped \(too slow\)\n$/)
    .then(() => dropped = true);
  let sent = 0;
  // Kernel buffers absorb a few MB before the slow client's outbox fills.
  while (!dropped && sent < 200_000_000) {
    await talker.stream.write(burst);
    sent += burst.length;
  }
  await watching;
  assert.ok(dropped);
  await server.stdout.waitFor(/dropped guest-\d+: outbox full/);

  // The slow client gets what was already on its way, then the notice.
  const rest = await slow.rest();
  assert.match(
    rest,
    /\n! you are not reading fast enough: disconnected after 256 unread lines\n$/,
  );
  // The talker is still welcome. Its backlog of flood lines is still being
  // read by the server: a reply to /who comes after all of it.
  await talker.say("/who");
  assert.match(await talker.expect(/^\* here: /), /^\* here: guest-2\n$/);
  const other = await Peer.connect(server.port);
  await talker.expect(/joined/);
  await talker.say("hello newcomer");
  assert.equal(await other.line(), "<guest-2> hello newcomer\n");
  for (const peer of [slow, talker, other]) peer.close();
  assert.equal((await server.stop()).code, 0);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test({
    name:
      `chat_server: ${signal} says goodbye, closes every client and exits 0`,
    ignore: Deno.build.os === "windows",
    async fn() {
      const server = await startChatServer();
      const a = await Peer.connect(server.port);
      const b = await Peer.connect(server.port);
      await a.expect(/joined/);
      const status = server.stop(signal);
      assert.equal(await a.rest(), "* server shutting down, goodbye\n");
      assert.equal(await b.rest(), "* server shutting down, goodbye\n");
      assert.equal((await status).code, 0);
      assert.match(server.stdout.text, new RegExp(`received ${signal}`));
      assert.match(server.stdout.text, /chat server stopped\n$/);
      a.close();
      b.close();
      await assert.rejects(
        IOStream.connect({ hostname: HOST, port: server.port }),
        Deno.errors.ConnectionRefused,
      );
    },
  });
}

Deno.test({
  name:
    "chat_server: more SIGINTs during the shutdown change nothing: every client gets its goodbye and it exits 0",
  ignore: Deno.build.os === "windows",
  async fn() {
    const server = await startChatServer();
    const a = await Peer.connect(server.port);
    const b = await Peer.connect(server.port);
    await a.expect(/joined/);
    // Ctrl-C pressed again and again (`deno task` alone delivers it twice).
    const status = server.stop("SIGINT");
    const [goodbyeA, goodbyeB] = await Promise.all([
      a.rest(),
      b.rest(),
      signalUntilExit(() => server.signal("SIGINT"), status),
    ]);
    assert.equal(goodbyeA, "* server shutting down, goodbye\n");
    assert.equal(goodbyeB, "* server shutting down, goodbye\n");
    assert.equal((await status).code, 0);
    assert.match(server.stdout.text, /chat server stopped\n$/);
    assert.equal(server.stdout.text.match(/received SIG/g)?.length, 1);
    a.close();
    b.close();
  },
});

Deno.test({
  name:
    "chat_server: Ctrl-C on `deno task serve` (SIGINT to the process group) says goodbye and exits 0",
  ignore: Deno.build.os === "windows",
  async fn() {
    const server = await startChatServer({ task: true });
    const a = await Peer.connect(server.port);
    const status = server.stop("SIGINT");
    assert.equal(await a.rest(), "* server shutting down, goodbye\n");
    assert.equal((await status).code, 0);
    assert.match(server.stdout.text, /received SIGINT: shutting down\n/);
    assert.match(server.stdout.text, /chat server stopped\n$/);
    a.close();
  },
});

Deno.test("chat_client: pipes stdin to the room and the room to stdout", async () => {
  const server = await startChatServer();
  const peer = await Peer.connect(server.port);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      example("chat_client.ts"),
      "--port",
      String(server.port),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = new Output(child.stdout);
  const err = new Response(child.stderr).text();
  await out.waitFor(/\* welcome, guest-\d+!/);
  const name = (await peer.expect(/^\* guest-\d+ joined\n$/)).split(" ")[1];

  const stdin = child.stdin.getWriter();
  await stdin.write(new TextEncoder().encode("hello from the client\n"));
  assert.equal(await peer.line(), `<${name}> hello from the client\n`);
  await peer.say("hello back");
  await out.waitFor(/<guest-\d+> hello back\n/);

  await stdin.close(); // end of input: the client says /quit
  assert.equal(await peer.line(), `* ${name} left (quit)\n`);
  const [status, stderr] = await Promise.all([child.status, err]);
  await out.done;
  assert.equal(status.code, 0, stderr);
  assert.match(out.text, /\* bye\n$/);
  assert.match(stderr, /connection closed/);
  peer.close();
  assert.equal((await server.stop()).code, 0);
});

Deno.test("tls_echo: a TLS server and client exchange lines", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", example("tls_echo.ts")],
  }).output();
  const out = decoder.decode(stdout);
  assert.equal(code, 0, decoder.decode(stderr));
  assert.match(out, /^server: TLS echo on 127\.0\.0\.1:\d+\n/);
  assert.match(out, /server: TLS connection from 127\.0\.0\.1:\d+\n/);
  for (const message of ["hello", "over TLS", "bye"]) {
    assert.ok(
      out.includes(`client: sent "${message}", got back "${message}"\n`),
      out,
    );
  }
  assert.match(out, /server: client left\ndone\n$/);
});

Deno.test("starttls: lines, length-framed bodies and a TLS upgrade on one connection", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", example("starttls.ts")],
  }).output();
  assert.equal(code, 0, decoder.decode(stderr));
  const out = decoder.decode(stdout);
  assert.match(out, /^server: listening on 127\.0\.0\.1:\d+\n/);
  assert.equal(
    out.replace(/^.*\n/, ""),
    'client: greeting "220 ready"\n' +
      'client: plain reply "raelc eht ni"\n' +
      'client: STARTTLS answered "220 go ahead"\n' +
      "client: TLS up, plain stream closed: true\n" +
      'client: TLS reply "won SLT revo"\n' +
      'client: QUIT answered "221 bye"\n' +
      "client: server hung up\n" +
      "done\n",
  );
  assert.equal(decoder.decode(stderr), "");
});

Deno.test("subprocess: a child process answers through a PipeIOStream", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-run", example("subprocess.ts")],
  }).output();
  assert.equal(code, 0, decoder.decode(stderr));
  assert.equal(
    decoder.decode(stdout),
    'sent "hello", child answered "HELLO"\n' +
      'sent "from the parent", child answered "FROM THE PARENT"\n' +
      'sent "through a pipe", child answered "THROUGH A PIPE"\n' +
      "child exited with code 0\n",
  );
});

Deno.test("demo: the locks and queues tour runs with no permissions", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", example("demo.ts")],
  }).output();
  assert.equal(code, 0, decoder.decode(stderr));
  const out = decoder.decode(stdout);
  assert.match(
    out,
    /^queue: 6 jobs done by two consumers -> (\w:\d ){5}\w:\d\n/,
  );
  for (const job of [1, 2, 3, 4, 5, 6]) {
    assert.match(out, new RegExp(`\\w:${job}\\b`));
  }
  assert.match(out, /\nsemaphore: 5 tasks, at most 2 at a time\n/);
  assert.match(out, /\nlock: 10 deposits of 10 -> balance 100\n/);
  assert.match(out, /\ncondition: notifyAll woke 2 waiters\n/);
  assert.match(out, /\nevent: wait\(\) -> true\n/);
  assert.match(
    out,
    /\nevent: wait\(\{ timeout: 0 \}\) after clear\(\) -> false\n/,
  );
  assert.match(out, /\npriority queue: urgent < normal < low\n/);
  assert.match(out, /\nwithTimeout: TimeoutError\ndone\n$/);
});

/**
 * Runs examples/multi_process.ts with two workers, in a process group of its
 * own as a terminal's foreground job is; `fn` gets the parent's pid (also
 * the group's id) once every worker listens. Returns how it ended.
 */
async function runMultiProcess(
  fn: (run: {
    pid: number;
    port: number;
    workers: string[];
    exited: Promise<Deno.CommandStatus>;
  }) => Promise<void>,
): Promise<{ status: Deno.CommandStatus; out: string; workers: string[] }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-net",
      "--allow-net",
      "--allow-run",
      example("multi_process.ts"),
      "--workers",
      "2",
      "--port",
      "0",
    ],
    detached: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = new Output(child.stdout);
  const err = new Response(child.stderr).text();
  let workers: string[] = [];
  try {
    workers = (await out.waitFor(/2 workers \(pids (\d+), (\d+)\)/))
      .slice(1, 3);
    const port = Number(
      (await out.waitFor(/listening on 127\.0\.0\.1:(\d+);/))[1],
    );
    await fn({
      pid: child.pid,
      port,
      workers,
      exited: child.status,
    });
  } catch (error) {
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
    await Promise.all([child.status, err, out.done]);
    throw error;
  }
  const [status, stderr] = await Promise.all([child.status, err]);
  await out.done;
  assert.equal(status.code, 0, `${stderr}\n${out.text}`);
  return { status, out: out.text, workers };
}

/** Sends `signal` to every process in group `pgid`, if any is left. */
function killGroup(pgid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pgid, signal);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** Asserts each worker took its signal and stopped on its own. */
function assertWorkersStopped(out: string, workers: string[]): void {
  for (const pid of workers) {
    assert.match(
      out,
      new RegExp(`\nworker ${pid}: received SIG(INT|TERM), closing\n`),
    );
    assert.match(out, new RegExp(`\nworker ${pid}: stopped\n`));
  }
  assert.match(out, /\nworkers stopped \(0 failed\)\n$/);
}

Deno.test({
  name:
    "multi_process: workers share one port through reusePort and stop on SIGTERM",
  ignore: Deno.build.os !== "linux", // SO_REUSEPORT balancing is Linux's
  async fn() {
    const { out, workers } = await runMultiProcess(
      async ({ pid, port, workers }) => {
        const seen = new Set<string>();
        // The kernel hashes each connection to a worker: with 40 of them,
        // both workers answer unless something is wrong (odds 2^-39).
        for (let i = 0; i < 40 && seen.size < 2; i++) {
          const peer = await IOStream.connect({ hostname: HOST, port });
          seen.add(decoder.decode(await peer.readUntilClose()).trim());
          peer.close();
        }
        assert.deepEqual(
          [...seen].sort(),
          workers.map((pid) => `worker ${pid}`).sort(),
        );
        Deno.kill(pid, "SIGTERM");
      },
    );
    assert.match(out, /\nreceived SIGTERM: stopping workers\n/);
    assertWorkersStopped(out, workers);
    // Only the parent was signalled; the workers heard from it.
    assert.doesNotMatch(out, /: received SIGINT/);
  },
});

for (const again of [false, true]) {
  Deno.test({
    name: again
      ? "multi_process: Ctrl-C pressed again and again during the shutdown changes nothing"
      : "multi_process: Ctrl-C (SIGINT to the whole process group) stops every worker gracefully and the parent exits 0",
    ignore: Deno.build.os !== "linux",
    async fn() {
      const { out, workers } = await runMultiProcess(async (run) => {
        const ctrlC = () => killGroup(run.pid, "SIGINT");
        if (again) await signalUntilExit(ctrlC, run.exited);
        else ctrlC();
      });
      assertWorkersStopped(out, workers);
    },
  });
}
