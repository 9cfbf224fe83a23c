// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";
import { findByte, wordsOf } from "../iostream/_find_byte.ts";
import { seededRandom } from "./_rng.ts";

// A view of `bytes` starting `shift` bytes into a larger buffer, so that
// every alignment of the chunk against the word view gets tested.
function shifted(bytes: number[], shift: number): Uint8Array {
  const backing = new Uint8Array(bytes.length + shift + 5).fill(0xee);
  backing.set(bytes, shift);
  return backing.subarray(shift, shift + bytes.length);
}

function find(chunk: Uint8Array, byte: number, from: number): number {
  return findByte(chunk, byte, from, wordsOf(chunk.buffer));
}

Deno.test("findByte() finds one byte at every position, alignment and start", () => {
  const target = 10;
  for (let shift = 0; shift < 8; shift++) {
    for (let len = 0; len <= 70; len++) {
      for (let at = -1; at < len; at++) {
        // Filler next to the target in value and bit pattern.
        const bytes = Array.from(
          { length: len },
          (_, i) => i === at ? target : [9, 11, 0x8a, 0x0b, 0][i % 5]!,
        );
        const chunk = shifted(bytes, shift);
        for (const from of new Set([0, 1, 2, 3, at - 1, at, at + 1, len])) {
          if (from < 0 || from > len) continue;
          assert.equal(
            find(chunk, target, from),
            chunk.indexOf(target, from),
            `shift ${shift}, length ${len}, byte at ${at}, from ${from}`,
          );
        }
      }
    }
  }
});

Deno.test("findByte() agrees with indexOf on random data for every byte value", () => {
  const random = seededRandom(7_2026);
  const int = (n: number) => Math.floor(random() * n);
  for (let round = 0; round < 20_000; round++) {
    const byte = round < 256 ? round : int(256);
    const len = int(300);
    // Mostly near-misses (the byte ± 1, its high bit flipped, 0, 255), the
    // byte itself rarely, so long stretches go through the word scan.
    const near = [
      byte ^ 1,
      (byte + 1) & 255,
      (byte - 1) & 255,
      byte ^ 0x80,
      0,
      255,
    ];
    const bytes = Array.from(
      { length: len },
      () => int(200) === 0 ? byte : int(3) === 0 ? int(256) : near[int(6)]!,
    );
    const chunk = shifted(bytes, int(8));
    const from = int(len + 1);
    assert.equal(
      find(chunk, byte, from),
      chunk.indexOf(byte, from),
      `round ${round}: byte ${byte}, length ${len}, from ${from}`,
    );
  }
});

Deno.test("findByte() scans a whole 64 KiB block to its last bytes", () => {
  const block = new Uint8Array(65536 + 3).fill(97);
  const chunk = block.subarray(1); // odd offset, odd length
  const words = wordsOf(chunk.buffer);
  assert.equal(findByte(chunk, 10, 0, words), -1);
  for (const at of [0, 1, 2, 3, 4, 1000, chunk.length - 5, chunk.length - 1]) {
    chunk[at] = 10;
    assert.equal(findByte(chunk, 10, 0, words), at);
    assert.equal(findByte(chunk, 10, at + 1, words), -1);
    chunk[at] = 97;
  }
});

Deno.test("findByte() falls back to indexOf for buffers that can change size", () => {
  const rab = new ArrayBuffer(64, { maxByteLength: 128 });
  assert.equal(wordsOf(rab), null);
  const chunk = new Uint8Array(rab);
  chunk[40] = 10;
  assert.equal(findByte(chunk, 10, 0, null), 40);
  assert.equal(findByte(chunk, 10, 41, null), -1);
  assert.ok(wordsOf(new ArrayBuffer(64)) instanceof Uint32Array);
});
