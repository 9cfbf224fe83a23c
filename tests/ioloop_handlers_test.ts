// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import { ERROR, IOLoop, READ, WRITE } from "../ioloop/mod.ts";
import { pollersIdle, pollerStats } from "../ioloop/_poller.ts";
import { withTimeout } from "../concurrent/mod.ts";
import { Libc } from "./_libc.ts";
import { until } from "./_wait_helpers.ts";

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A loop, libc and pipes that are all released at the end of the scope. */
function setup(opts: { onError?: (e: unknown, w: string) => void } = {}) {
  const libc = new Libc();
  const loop = new IOLoop({ makeCurrent: false, ...opts });
  const open = new Set<number>();
  return {
    libc,
    loop,
    pipe(): [number, number] {
      const [r, w] = libc.pipe();
      open.add(r);
      open.add(w);
      return [r, w];
    },
    /** Closes `fd` now rather than at the end. */
    closeFd(fd: number) {
      open.delete(fd);
      libc.closeFd(fd);
    },
    async [Symbol.asyncDispose]() {
      loop.close();
      for (const fd of open) libc.closeFd(fd);
      libc.close();
      // The poll() that close() woke returns a moment later.
      await pollersIdle();
    },
  };
}

Deno.test("IOLoop.addHandler() reports READ when data arrives on a pipe", async () => {
  await using t = setup();
  const [r, w] = t.pipe();
  const got = Promise.withResolvers<[unknown, number, string]>();
  let calls = 0;
  t.loop.addHandler(r, (fd, events) => {
    calls++;
    t.loop.removeHandler(fd);
    got.resolve([fd, events, t.libc.read(r)]);
  }, READ);
  await delay(20);
  assert.equal(calls, 0, "READ reported before any data");
  t.libc.write(w, "ping");
  assert.deepEqual(await got.promise, [r, READ, "ping"]);
});

Deno.test("IOLoop.addHandler() reports WRITE on a writable pipe", async () => {
  await using t = setup();
  const [, w] = t.pipe();
  const got = Promise.withResolvers<number>();
  t.loop.addHandler(w, (fd, events) => {
    t.loop.removeHandler(fd);
    got.resolve(events);
  }, WRITE);
  assert.equal(await got.promise, WRITE);
});

Deno.test("IOLoop.addHandler() is level-triggered: it reports until the data is read", async () => {
  await using t = setup();
  const [r, w] = t.pipe();
  const done = Promise.withResolvers<void>();
  let calls = 0;
  t.loop.addHandler(r, () => {
    if (++calls === 5) {
      assert.equal(t.libc.read(r), "x");
      done.resolve();
    }
  }, READ);
  t.libc.write(w, "x");
  await done.promise;
  await delay(20);
  assert.equal(calls, 5, "READ reported again after the data was consumed");
});

Deno.test("IOLoop.updateHandler() switches the events a descriptor is watched for", async () => {
  await using t = setup();
  const [, w] = t.pipe();
  const seen: number[] = [];
  const got = Promise.withResolvers<void>();
  const handle = { fileno: () => w };
  t.loop.addHandler(handle, (fd, events) => {
    assert.equal(fd, handle, "the handler gets the object it was given");
    seen.push(events);
    t.loop.updateHandler(fd, 0);
    got.resolve();
  }, READ);
  // A pipe's write end never becomes readable.
  await delay(20);
  assert.deepEqual(seen, []);
  t.loop.updateHandler(w, WRITE);
  await got.promise;
  await delay(20);
  assert.deepEqual(seen, [WRITE]);
});

Deno.test("IOLoop.removeHandler() stops reports; unknown fds are ignored", async () => {
  await using t = setup();
  const [r, w] = t.pipe();
  let calls = 0;
  const first = Promise.withResolvers<void>();
  t.loop.addHandler(r, () => {
    calls++;
    first.resolve();
  }, READ);
  t.libc.write(w, "unread");
  await first.promise;
  t.loop.removeHandler(r);
  const after = calls;
  await delay(20);
  assert.equal(calls, after);
  t.loop.removeHandler(r);
  t.loop.removeHandler(12345);
  // The fd can be watched again once removed.
  const again = Promise.withResolvers<number>();
  t.loop.addHandler(r, (_fd, events) => again.resolve(events), READ);
  assert.equal(await again.promise, READ);
});

Deno.test("IOLoop.addHandler() reports ERROR on hang-up, even when not asked for", async () => {
  await using t = setup();
  const [r, w] = t.pipe();
  const got = Promise.withResolvers<number>();
  t.loop.addHandler(r, (fd, events) => {
    t.loop.removeHandler(fd);
    got.resolve(events);
  }, 0);
  t.closeFd(w);
  assert.equal(await got.promise, ERROR);
});

Deno.test("IOLoop reports ERROR once for a descriptor closed while watched", async () => {
  await using t = setup();
  const [r] = t.pipe();
  const [r2] = t.pipe();
  const events: number[] = [];
  t.loop.addHandler(r, (_fd, ev) => events.push(ev), READ);
  await delay(5);
  const calls = pollerStats.calls;
  t.closeFd(r);
  // Closing does not wake poll(); a change to the fd set does.
  t.loop.addHandler(r2, () => {}, READ);
  await until(() => events.length > 0, "the ERROR report");
  await delay(20); // room for a second report to show up
  assert.deepEqual(events, [ERROR]);
  assert.ok(pollerStats.calls - calls < 10, "poll() kept spinning");
  t.loop.removeHandler(r);
});

Deno.test("IOLoop watches 100 fds with one outstanding poll() call", async () => {
  await using t = setup();
  pollerStats.maxOutstanding = pollerStats.outstanding;
  const pipes = Array.from({ length: 100 }, () => t.pipe());
  const ready = new Set<number>();
  const all = Promise.withResolvers<void>();
  for (const [r] of pipes) {
    t.loop.addHandler(r, (fd) => {
      assert.equal(t.libc.read(fd as number), "!");
      t.loop.removeHandler(fd);
      ready.add(fd as number);
      if (ready.size === pipes.length) all.resolve();
    }, READ);
  }
  await delay(10);
  assert.equal(pollerStats.outstanding, 1);
  // The shared FFI thread pool is free for file system work and DNS.
  const [text, stat] = await Promise.all([
    Deno.readTextFile(new URL(import.meta.url)),
    Deno.stat(new URL(import.meta.url)),
  ]);
  assert.ok(text.length > 0 && stat.isFile);
  for (const [, w] of pipes) t.libc.write(w, "!");
  await all.promise;
  assert.equal(ready.size, 100);
  assert.equal(pollerStats.maxOutstanding, 1);
});

Deno.test("IOLoop isolates handler errors: onError gets them and other fds still fire", async () => {
  const errors: { err: unknown; where: string }[] = [];
  await using t = setup({
    onError: (err, where) => errors.push({ err, where }),
  });
  const [, w1] = t.pipe();
  const [, w2] = t.pipe();
  const got = Promise.withResolvers<void>();
  t.loop.addHandler(w1, function badHandler(fd) {
    t.loop.removeHandler(fd);
    throw new Error("handler failed");
  }, WRITE);
  t.loop.addHandler(w2, async function asyncBad(fd) {
    t.loop.removeHandler(fd);
    await Promise.resolve();
    throw new Error("async handler failed");
  }, WRITE);
  t.loop.callLater(30, () => got.resolve());
  await got.promise;
  const messages = errors.map((e) => (e.err as Error).message).sort();
  assert.deepEqual(messages, ["async handler failed", "handler failed"]);
  assert.ok(errors.some((e) => /fd \d+.*badHandler/.test(e.where)));
  // The loop keeps going after handler errors.
  const [, w3] = t.pipe();
  const ok = Promise.withResolvers<number>();
  t.loop.addHandler(w3, (fd, ev) => {
    t.loop.removeHandler(fd);
    ok.resolve(ev);
  }, WRITE);
  assert.equal(await ok.promise, WRITE);
});

Deno.test("IOLoop.addHandler() rejects bad or duplicate descriptors", async () => {
  await using t = setup();
  const [r] = t.pipe();
  const noop = () => {};
  t.loop.addHandler(r, noop, READ);
  assert.throws(() => t.loop.addHandler(r, noop, READ), {
    message: /already registered/,
  });
  assert.throws(() => t.loop.addHandler({ fileno: () => r }, noop, READ), {
    message: /already registered/,
  });
  assert.throws(() => t.loop.addHandler(-1, noop, READ), RangeError);
  assert.throws(() => t.loop.addHandler(1.5, noop, READ), RangeError);
  assert.throws(
    () => t.loop.addHandler("3" as unknown as number, noop, READ),
    TypeError,
  );
  assert.throws(
    () => t.loop.addHandler(r + 1000, noop, READ),
    { message: /not an open descriptor/ },
  );
  assert.throws(() => t.loop.addHandler(r, noop, 0x100), RangeError);
  assert.throws(
    () => t.loop.addHandler(r, 1 as unknown as () => void, READ),
    TypeError,
  );
  assert.throws(() => t.loop.updateHandler(r + 1000, READ), {
    message: /not registered/,
  });
  assert.throws(() => t.loop.updateHandler(r, -1), RangeError);
});

Deno.test("IOLoop.close() with a poll() pending passes the sanitizers", async () => {
  const libc = new Libc();
  const [r, w] = libc.pipe();
  const loop = new IOLoop({ makeCurrent: false });
  loop.addHandler(r, () => {}, READ);
  // The poll() is started on the next microtask; let it start.
  await Promise.resolve();
  assert.equal(pollerStats.outstanding, 1);
  loop.close();
  assert.throws(() => loop.addHandler(w, () => {}, WRITE), /closed/);
  try {
    // close() woke the pending poll(): it returns and its library is closed
    // without any further help, not even the pipe's ends closing (which
    // would wake it too), and the sanitizers check both. Unwoken, it would
    // never return: fail then rather than hang.
    await withTimeout(5000, pollersIdle());
  } finally {
    libc.closeFd(r);
    libc.closeFd(w);
    libc.close();
  }
});

Deno.test("IOLoop.close() from inside a handler", async () => {
  const libc = new Libc();
  const [r, w] = libc.pipe();
  const loop = new IOLoop({ makeCurrent: false });
  const closed = Promise.withResolvers<void>();
  loop.addHandler(w, () => {
    loop.close();
    closed.resolve();
  }, WRITE);
  await closed.promise;
  await pollersIdle();
  libc.closeFd(r);
  libc.closeFd(w);
  libc.close();
});

Deno.test("IOLoop.close(true) closes the registered descriptors", async () => {
  using libc = new Libc();
  const [r1, w1] = libc.pipe();
  const [r2, w2] = libc.pipe();
  const loop = new IOLoop({ makeCurrent: false });
  let objectClosed = false;
  loop.addHandler(r1, () => {}, READ);
  const file = {
    fileno: () => r2,
    close() {
      objectClosed = true;
      libc.closeFd(r2);
    },
  };
  loop.addHandler(file, () => {}, READ);
  await delay(5);
  loop.close(true);
  assert.equal(objectClosed, true);
  assert.equal(libc.closeFd(r1), -1, "fd was left open");
  assert.equal(libc.closeFd(w1), 0);
  assert.equal(libc.closeFd(w2), 0);
  await pollersIdle();
});

Deno.test("IOLoop.close(false) leaves the descriptors open", async () => {
  using libc = new Libc();
  const [r, w] = libc.pipe();
  const loop = new IOLoop({ makeCurrent: false });
  loop.addHandler(r, () => {}, READ);
  await delay(5);
  loop.close();
  // Nothing closes the pipe: only close()'s wake-up ends the poll().
  await withTimeout(5000, pollersIdle()).catch((err) => {
    // Closing the pipe ends it, so that the tests after this one run.
    libc.closeFd(r);
    libc.closeFd(w);
    throw err;
  });
  assert.equal(libc.closeFd(r), 0);
  assert.equal(libc.closeFd(w), 0);
});

Deno.test("IOLoop.addHandler() without --allow-ffi throws an Error that says so", async () => {
  const script = new URL(
    "./testdata/add_handler_without_ffi.ts",
    import.meta.url,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", script.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(stdout, /^Error: .*--allow-ffi/);
});

Deno.test({
  name:
    "IOLoop reports a poll() that keeps failing and resumes when the fd set changes",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const errors: { err: unknown; where: string }[] = [];
    await using t = setup({
      onError: (err, where) => errors.push({ err, where }),
    });
    const rlimit = Deno.dlopen(
      "libc.so.6",
      {
        getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
        setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
      } as const,
    );
    const RLIMIT_NOFILE = 7;
    const saved = new BigUint64Array(2);
    assert.equal(
      rlimit.symbols.getrlimit(RLIMIT_NOFILE, new Uint8Array(saved.buffer)),
      0,
    );
    const pipes = Array.from({ length: 20 }, () => t.pipe());
    for (const [r] of pipes.slice(0, 19)) t.loop.addHandler(r, () => {}, READ);
    await delay(5);
    // poll() fails with EINVAL when it gets more fds than RLIMIT_NOFILE.
    const low = new BigUint64Array([8n, saved[1]!]);
    assert.equal(
      rlimit.symbols.setrlimit(RLIMIT_NOFILE, new Uint8Array(low.buffer)),
      0,
    );
    try {
      t.loop.addHandler(pipes[19]![0], () => {}, READ);
      await until(() => errors.length > 0, "the poller's failure report");
    } finally {
      rlimit.symbols.setrlimit(RLIMIT_NOFILE, new Uint8Array(saved.buffer));
      rlimit.close();
    }
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.where, "IOLoop poller");
    assert.match(
      (errors[0]!.err as Error).message,
      /poll\(2\) failed 16 times/,
    );
    const outstanding = pollerStats.outstanding;
    assert.equal(outstanding, 0, "a paused poller has no poll() pending");
    // A change to the fd set resumes polling.
    const [, w] = pipes[0]!;
    const ready = Promise.withResolvers<number>();
    t.loop.addHandler(w, (fd, events) => {
      t.loop.removeHandler(fd);
      ready.resolve(events);
    }, WRITE);
    assert.equal(await ready.promise, WRITE);
  },
});
