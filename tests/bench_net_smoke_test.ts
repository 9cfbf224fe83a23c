// Copyright the squall authors. MIT license.

// Smoke test of the loopback benchmark harness (bench/net/): each scenario
// runs on tiny sizes for every implementation, and implementations that
// lose, corrupt or misorder data are rejected, so the harness cannot rot or
// reward a fast but wrong stream without a test failing.

import assert from "node:assert/strict";
import {
  checkEcho,
  checkLine,
  checkReply,
  closeQuietly,
  expectedEchoByte,
  fillRequest,
  makeLines,
  makeReply,
  MESSAGE_LENGTH,
} from "../bench/net/_common.ts";
import type { NetImpl } from "../bench/net/_impl.ts";
import { implByName, IMPLS } from "../bench/net/_impls.ts";
import { RAW } from "../bench/net/_raw.ts";
import { runConc, runConcChild } from "../bench/net/conc.ts";
import { runEcho } from "../bench/net/echo.ts";
import { runEchoProc } from "../bench/net/echo_proc.ts";
import { runLines } from "../bench/net/lines.ts";
import { runLinesProc } from "../bench/net/lines_proc.ts";
import { runReqRep } from "../bench/net/reqrep.ts";

Deno.test("bench/net scenarios move every byte intact for each implementation", async (t) => {
  const lines = makeLines(1000);
  for (const impl of Object.values(IMPLS)) {
    await t.step(
      `${impl.name}: echo of 1 MiB, every byte checked`,
      async () => {
        const r = await runEcho(impl, 16, "full");
        assert.equal(r.bytes, 1 << 20);
        assert.ok(r.seconds > 0);
      },
    );
    await t.step(
      `${impl.name}: echo of 1 MiB read into one buffer`,
      async () => {
        const r = await runEcho(impl, 16, "full", "into");
        assert.equal(r.bytes, 1 << 20);
      },
    );
    await t.step(`${impl.name}: 1,000 lines, each checked`, async () => {
      const r = await runLines(impl, lines);
      assert.equal(r.lines, 1000);
    });
    await t.step(
      `${impl.name}: 100 request/replies, each checked`,
      async () => {
        const r = await runReqRep(impl, 100);
        assert.equal(r.roundTrips, 100);
      },
    );
    await t.step(
      `${impl.name}: 10 connections x 10 request/replies`,
      async () => {
        const r = await runConc(impl, 10, 10);
        assert.equal(r.roundTrips, 100);
      },
    );
  }
});

// Broken implementations: the raw one with one defect each.
const CORRUPTING_ECHO: NetImpl = {
  ...RAW,
  name: "corrupting",
  async echoServer(conn) {
    const buf = new Uint8Array(4096);
    let echoed = 0;
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        // Flip one byte in the middle of the stream, off any spot position.
        const flip = 300_001 - echoed;
        if (flip >= 0 && flip < n) buf[flip]! ^= 0x40;
        let off = 0;
        while (off < n) off += await conn.write(buf.subarray(off, n));
        echoed += n;
      }
    } finally {
      closeQuietly(conn);
    }
    return echoed;
  },
};

const LINE_SKIPPING: NetImpl = {
  ...RAW,
  name: "line-skipping",
  lineReader(conn) {
    const inner = RAW.lineReader(conn);
    let calls = 0;
    return {
      async readLine() {
        if (++calls === 500) await inner.readLine(); // drops line 499
        return inner.readLine();
      },
      close: () => inner.close(),
    };
  },
};

const PARROT: NetImpl = {
  ...RAW,
  name: "parrot",
  async reqRepServer(conn) {
    // Sends each request back unchanged instead of the reply.
    const buf = new Uint8Array(MESSAGE_LENGTH);
    let answered = 0;
    try {
      for (;;) {
        let got = 0;
        while (got < MESSAGE_LENGTH) {
          const n = await conn.read(buf.subarray(got));
          if (n === null) return answered;
          got += n;
        }
        await conn.write(buf);
        answered++;
      }
    } finally {
      closeQuietly(conn);
    }
  },
};

Deno.test("bench/net scenarios reject implementations that get data wrong", async (t) => {
  await t.step("a corrupted byte fails the fully checked echo", async () => {
    await assert.rejects(
      runEcho(CORRUPTING_ECHO, 16, "full"),
      /Echo data corrupted near stream offset 300001/,
    );
  });
  await t.step("a skipped line fails the lines scenario", async () => {
    await assert.rejects(
      runLines(LINE_SKIPPING, makeLines(1000)),
      /Line 499 is wrong/,
    );
  });
  await t.step(
    "a request sent back as its reply fails request/reply",
    async () => {
      await assert.rejects(runReqRep(PARROT, 10), /answers another request/);
      await assert.rejects(runConc(PARROT, 3, 3), /answers another request/);
    },
  );
});

Deno.test("bench/net data checks catch wrong bytes, frames and replies", () => {
  const chunk = new Uint8Array(1000).map((_, i) =>
    expectedEchoByte(65_000 + i)
  );
  checkEcho(chunk, 65_000, "full");
  checkEcho(chunk, 65_000, "spot");
  assert.throws(() => checkEcho(chunk, 65_001, "spot"), /corrupted/);
  chunk[123]! ^= 1;
  checkEcho(chunk, 65_000, "spot"); // spot checks look at 3 bytes only
  assert.throws(() => checkEcho(chunk, 65_000, "full"), /offset 65123/);

  const lines = makeLines(70);
  checkLine(lines.subarray(6900, 7000), 69);
  assert.throws(() => checkLine(lines.subarray(6800, 6900), 69), /Line 69/);
  assert.throws(() => checkLine(lines.subarray(6900, 6999), 69), /Line 69/);

  const request = new Uint8Array(MESSAGE_LENGTH);
  const reply = new Uint8Array(MESSAGE_LENGTH);
  fillRequest(request, 7, 123_456);
  makeReply(request, reply);
  checkReply(reply, 7, 123_456);
  assert.throws(() => checkReply(reply, 8, 123_456), /another request/);
  assert.throws(() => checkReply(request, 7, 123_456), /another request/);
  reply[31]! ^= 1;
  assert.throws(() => checkReply(reply, 7, 123_456), /byte 31/);
});

Deno.test("bench/net rejects unknown implementation names", async () => {
  assert.throws(() => implByName("nope"), /Unknown implementation "nope"/);
  await assert.rejects(
    runConcChild("nope", 2, 2),
    /conc\.ts nope failed \(exit 1\)[^]*Unknown implementation "nope"/,
  );
});

Deno.test("bench/net measures concurrent connections in a child process", async () => {
  const r = await runConcChild("squall", 5, 5);
  assert.equal(r.impl, "squall");
  assert.equal(r.roundTrips, 25);
  assert.ok(r.seconds > 0);
  assert.ok(r.cpuSeconds >= 0);
  assert.ok(r.rssBeforeKiB > 0 && r.peakRssKiB >= r.rssBeforeKiB);
});

Deno.test("bench/net measures an echo server against a client in a child process", async (t) => {
  for (const impl of Object.values(IMPLS)) {
    for (const read of ["bytes", "into"] as const) {
      await t.step(
        `${impl.name} (${read}): 1 MiB, every byte checked`,
        async () => {
          const r = await runEchoProc(impl, 16, read, "full");
          assert.equal(r.bytes, 1 << 20);
          assert.ok(r.seconds > 0);
          assert.ok(r.serverCpuSeconds >= 0);
        },
      );
    }
  }
  await t.step("a corrupting server fails the client's check", async () => {
    await assert.rejects(
      runEchoProc(CORRUPTING_ECHO, 16, "bytes", "full"),
      /echo_proc\.ts failed[^]*Echo data corrupted near stream offset 300001/,
    );
  });
});

Deno.test("bench/net measures a line reader against a sender in a child process", async (t) => {
  for (const impl of Object.values(IMPLS)) {
    await t.step(`${impl.name}: 1,000 lines, each checked`, async () => {
      const r = await runLinesProc(impl, 1000);
      assert.equal(r.lines, 1000);
      assert.ok(r.seconds > 0);
      assert.ok(r.readerCpuSeconds >= 0);
    });
  }
  await t.step("a skipped line fails", async () => {
    await assert.rejects(
      runLinesProc(LINE_SKIPPING, 1000),
      /Line 499 is wrong/,
    );
  });
});
