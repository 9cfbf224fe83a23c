// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import { COALESCE_MAX, StreamBuffer } from "../iostream/_stream_buffer.ts";
import { runGcScript } from "./_capture.ts";
import { seededRandom } from "./_rng.ts";

function naiveIndexOf(hay: number[], needle: Uint8Array, from: number): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

Deno.test("StreamBuffer matches a plain array model under random operations", () => {
  const random = seededRandom(20261121);
  const int = (n: number) => Math.floor(random() * n);
  for (let round = 0; round < 40; round++) {
    const buf = new StreamBuffer();
    const model: number[] = [];
    for (let op = 0; op < 400; op++) {
      const what = int(7);
      if (what <= 1) {
        // Sizes around the coalescing and tail thresholds, bytes from a
        // small alphabet so delimiters occur and straddle chunks.
        const sizes = [0, 1, 2, 7, 100, COALESCE_MAX, COALESCE_MAX + 1, 9000];
        const n = int(3) === 0 ? sizes[int(sizes.length)]! : int(300);
        const data = new Uint8Array(n);
        for (let i = 0; i < n; i++) data[i] = 97 + int(4);
        buf.append(data, int(2) === 0);
        model.push(...data);
      } else if (what === 2 && model.length > 0) {
        const n = int(model.length + 1);
        const got = buf.take(n);
        assert.deepEqual([...got], model.splice(0, n));
      } else if (what === 3 && model.length > 0) {
        const n = int(model.length + 1);
        const dst = new Uint8Array(n);
        buf.copyTo(dst, n);
        assert.deepEqual([...dst], model.splice(0, n));
      } else if (what === 4) {
        const len = 1 + int(4);
        const needle = new Uint8Array(len);
        for (let i = 0; i < len; i++) needle[i] = 97 + int(4);
        const from = int(model.length + 2);
        assert.equal(
          buf.indexOf(needle, from),
          naiveIndexOf(model, needle, from),
        );
      } else if (what === 5) {
        const text = buf.latin1();
        assert.equal(text, String.fromCharCode(...model.slice(0, 60000)));
        if (model.length > 0) {
          const n = int(model.length + 1);
          buf.skip(n);
          model.splice(0, n);
        }
      } else if (what === 6) {
        // Bytes given back by a read that gave up; the buffer keeps a copy.
        const n = int(3) === 0 ? 5000 : int(50);
        const data = new Uint8Array(n);
        for (let i = 0; i < n; i++) data[i] = 97 + int(4);
        const bytes = [...data];
        buf.unshift(data);
        data.fill(0);
        model.unshift(...bytes);
      }
      assert.equal(buf.size, model.length);
      const first = buf.first();
      assert.deepEqual(
        [...first],
        model.slice(0, first.length),
      );
      assert.ok(model.length === 0 || first.length > 0);
    }
  }
});

Deno.test("StreamBuffer never overwrites bytes it handed out as views", () => {
  const buf = new StreamBuffer();
  const views: Array<[Uint8Array, number]> = [];
  for (let i = 0; i < 3000; i++) {
    // Results are views of the tail block, however small.
    buf.append(new Uint8Array(100).fill(i & 255));
    buf.append(new Uint8Array([i & 255, (i + 1) & 255]));
    views.push([buf.take(100), i], [buf.take(2), i]);
  }
  for (const [v, i] of views) {
    if (v.length === 100) assert.ok(v.every((b) => b === (i & 255)));
    else assert.deepEqual([...v], [i & 255, (i + 1) & 255]);
  }
});

Deno.test("StreamBuffer reuses its tail block when nothing points into it", () => {
  const buf = new StreamBuffer();
  buf.append(new Uint8Array([1, 2, 3]));
  const block = buf.first().buffer;
  const out = new Uint8Array(3);
  buf.copyTo(out, 3); // copied out: nothing points into the block
  assert.deepEqual([...out], [1, 2, 3]);
  buf.append(new Uint8Array([4, 5]));
  assert.equal(buf.first().buffer, block);
  assert.equal(buf.first().byteOffset, 0); // rewound
  buf.skip(2); // dropped (a flushed write): still nothing points into it
  buf.append(new Uint8Array([6, 7]));
  assert.equal(buf.first().byteOffset, 0); // rewound again
  const view = buf.take(2); // even a tiny result is a view, no copy
  assert.equal(view.buffer, block);
  assert.deepEqual([...view], [6, 7]);
  buf.append(new Uint8Array(70).fill(8));
  const shared = buf.take(70); // a view of the tail
  assert.equal(shared.buffer, block);
  buf.append(new Uint8Array([9]));
  assert.equal(buf.first().byteOffset, 72); // not rewound over the views
  assert.deepEqual([...view], [6, 7]);
  assert.ok(shared.every((b) => b === 8));
});

Deno.test("StreamBuffer keeps large appends as views and small ones copied", () => {
  const buf = new StreamBuffer();
  const big = new Uint8Array(COALESCE_MAX + 10);
  buf.append(big);
  assert.equal(buf.first().buffer, big.buffer);
  buf.skip(big.length);
  const small = new Uint8Array([1, 2, 3]);
  buf.append(small);
  small[0] = 9;
  assert.deepEqual([...buf.take(3)], [1, 2, 3]);
});

Deno.test("StreamBuffer.take() of a range inside one chunk copies nothing", () => {
  const buf = new StreamBuffer();
  const big = new Uint8Array(10000).map((_, i) => i & 255);
  buf.append(big);
  const part = buf.take(100);
  assert.equal(part.buffer, big.buffer);
  assert.equal(buf.size, 9900);
  assert.equal(buf.first()[0], 100);
});

Deno.test("StreamBuffer finds a delimiter straddling many one-byte chunks", () => {
  const buf = new StreamBuffer();
  const text = "abc\r\n\r\ndef";
  for (const ch of text) buf.append(new Uint8Array([ch.charCodeAt(0)]), true);
  assert.equal(buf.indexOf(new TextEncoder().encode("\r\n\r\n")), 3);
  assert.equal(buf.indexOf(new TextEncoder().encode("\r\n\r\n"), 4), -1);
  assert.equal(buf.indexOf(new TextEncoder().encode("fg")), -1);
});

Deno.test("StreamBuffer.latin1() maps every byte to one code point", () => {
  const buf = new StreamBuffer();
  const all = new Uint8Array(256).map((_, i) => i);
  buf.append(all, true);
  const text = buf.latin1();
  assert.equal(text.length, 256);
  for (let i = 0; i < 256; i++) assert.equal(text.charCodeAt(i), i);
  buf.skip(200);
  assert.equal(buf.latin1().charCodeAt(0), 200);
});

Deno.test("StreamBuffer.reserve() lends space that commit() adds, never rewound meanwhile", () => {
  const buf = new StreamBuffer();
  buf.append(new Uint8Array([1, 2]));
  const space = buf.reserve(8);
  // Consuming everything while the space is lent must not rewind the tail.
  assert.deepEqual([...buf.take(2)], [1, 2]);
  space.set([3, 4, 5]);
  buf.commit(3);
  assert.equal(buf.size, 3);
  assert.deepEqual([...buf.take(3)], [3, 4, 5]);
  // Committing nothing adds nothing.
  buf.reserve(4);
  buf.commit(0);
  assert.equal(buf.size, 0);
  // A reservation larger than the tail gets a fresh block.
  buf.append(new Uint8Array([9]));
  const big = buf.reserve(3000);
  assert.equal(big.length, 3000);
  big.fill(8);
  buf.commit(3000);
  const all = buf.take(3001);
  assert.equal(all[0], 9);
  assert.equal(all[3000], 8);
});

Deno.test("StreamBuffer.reserve() with min 0 never lends zero bytes from a full tail", () => {
  const buf = new StreamBuffer();
  // Fill the first tail block (1024 bytes) one byte at a time, handing each
  // out as a view so that the block can never be rewound.
  for (let i = 0; i < 1024; i++) {
    const space = buf.reserve(1, 0);
    assert.equal(space.length, 1, `reservation ${i} lent ${space.length}`);
    space[0] = i & 0xff;
    buf.commit(1);
    assert.equal(buf.take(1)[0], i & 0xff);
  }
  // The tail is full now: the next reservation needs a new block.
  const space = buf.reserve(1, 0);
  assert.equal(space.length, 1);
});

Deno.test("StreamBuffer.takeThroughByte() takes a line from the first chunk only", () => {
  const buf = new StreamBuffer();
  assert.equal(buf.takeThroughByte(10), null); // empty
  const big = new Uint8Array(COALESCE_MAX + 6).fill(120);
  big[2] = 10;
  big[big.length - 1] = 10;
  buf.append(big); // kept as a view: its own chunk
  buf.append(new Uint8Array([97, 10])); // a second chunk
  const first = buf.takeThroughByte(10)!;
  assert.equal(first.buffer, big.buffer); // a view, no copy
  assert.deepEqual([...first], [120, 120, 10]);
  assert.equal(buf.size, big.length - 3 + 2);
  // A line that ends exactly at the end of the first chunk.
  const second = buf.takeThroughByte(10)!;
  assert.equal(second.length, big.length - 3);
  assert.equal(second[second.length - 1], 10);
  assert.equal(buf.size, 2);
  assert.deepEqual([...buf.takeThroughByte(10)!], [97, 10]);
  assert.equal(buf.size, 0);
  // Not found in the first chunk: nothing changes, even if a later chunk
  // has it (the general indexOf() handles lines across chunks).
  buf.append(big.subarray(3, 10)); // copied into the tail: no 10 in it
  buf.append(big.subarray(3)); // its own chunk, ends with 10
  const size = buf.size;
  assert.equal(buf.takeThroughByte(10), null);
  assert.equal(buf.size, size);
  assert.equal(buf.indexOf(new Uint8Array([10])), size - 1);
});

Deno.test("StreamBuffer.take() of a whole chunk returns it and never changes it later", () => {
  const buf = new StreamBuffer();
  const big = new Uint8Array(COALESCE_MAX + 1).fill(1);
  buf.append(big);
  assert.equal(buf.take(big.length), big); // no new view needed
  buf.append(new Uint8Array([2, 3]));
  const whole = buf.take(2); // the whole tail chunk
  assert.deepEqual([...whole], [2, 3]);
  buf.append(new Uint8Array([4, 5, 6])); // lands after it in the tail
  assert.deepEqual([...whole], [2, 3]);
  assert.equal(whole.length, 2);
  assert.deepEqual([...buf.take(3)], [4, 5, 6]);
});

Deno.test("StreamBuffer grows its tail block only while data piles up", () => {
  const chatty = new StreamBuffer();
  for (let i = 0; i < 1000; i++) {
    chatty.append(new Uint8Array(32).fill(i & 255));
    // Each result is a view, so the block is never rewound: new blocks
    // keep coming, but nothing accumulates, so they stay small.
    assert.equal(chatty.first().buffer.byteLength, 1024);
    assert.equal(chatty.take(32)[31], i & 255);
  }
  const piling = new StreamBuffer();
  for (let i = 0; i < 1000; i++) piling.append(new Uint8Array(32));
  piling.append(new Uint8Array(32));
  const blocks = new Set<ArrayBufferLike>();
  while (piling.size > 0) {
    blocks.add(piling.first().buffer);
    piling.skip(piling.first().length);
  }
  const sizes = [...blocks].map((b) => b.byteLength);
  assert.ok(Math.max(...sizes) >= 8192, `block sizes ${sizes}`);
});

Deno.test("StreamBuffer line reads match a model on long, sparse lines at every alignment", () => {
  // Lines of 0-300 bytes (long stretches without the delimiter, so the
  // word-at-a-time scan runs) appended as chunks of random sizes at random
  // offsets of their memory, read back with takeThroughByte() and, when the
  // line is not inside the first chunk, indexOf() + take().
  const random = seededRandom(1121);
  const int = (n: number) => Math.floor(random() * n);
  const NL = 10;
  for (let round = 0; round < 30; round++) {
    const buf = new StreamBuffer();
    const model: number[] = [];
    for (let op = 0; op < 300; op++) {
      if (int(2) === 0) {
        const n = int(3) === 0 ? COALESCE_MAX + int(9000) : int(600);
        const shift = int(8);
        const backing = new Uint8Array(n + shift);
        const data = backing.subarray(shift);
        // Near-misses of "\n" (9, 11, 0x8a) and plain text; "\n" rarely.
        for (let i = 0; i < n; i++) {
          data[i] = int(150) === 0 ? NL : [9, 11, 0x8a, 97, 98][int(5)]!;
        }
        buf.append(data, int(4) === 0);
        model.push(...data);
      } else {
        const end = model.indexOf(NL);
        const line = buf.takeThroughByte(NL);
        if (line !== null) {
          assert.deepEqual([...line], model.splice(0, end + 1));
        } else {
          const at = buf.indexOf(new Uint8Array([NL]));
          assert.equal(at, end);
          if (at >= 0) {
            assert.deepEqual([...buf.take(at + 1)], model.splice(0, at + 1));
          }
        }
      }
      assert.equal(buf.size, model.length);
    }
  }
});

Deno.test("consumed blocks are not kept in memory by the buffer or the stream", async () => {
  // A subprocess, so a full GC can be forced before looking. Before the
  // fix, up to 64 consumed blocks (4 MiB of 64 KiB reads) stayed reachable
  // from the chunk list of a buffer that never emptied.
  const result = await runGcScript("consumed_blocks.ts");
  assert.equal(result.blocks, 20);
  for (const side of ["direct", "stream"]) {
    const v = result[side] as Record<string, unknown>;
    assert.equal(v.buffered, 20, `${side}: part of a line stays buffered`);
    assert.equal(v.currentAlive, true, `${side}: the buffered block is kept`);
    assert.equal(v.consumedAlive, 0, `${side}: consumed blocks still alive`);
  }
});
