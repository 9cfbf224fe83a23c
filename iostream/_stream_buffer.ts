// Copyright the squall authors. MIT license.

/**
 * The chunked byte buffer behind every stream's reads and writes. Private to
 * squall.
 *
 * - Appending is O(1). Small pieces are copied into a shared "tail" block so
 *   a stream of tiny reads or writes does not become a list of tiny chunks;
 *   large pieces are kept as views, without a copy.
 * - Consuming drops bytes from the front without copying what remains. A
 *   consumed range that lies inside one chunk comes back as a view of it.
 * - A block that has handed out views is never written over again: tails are
 *   only ever appended to, and a fresh one is made when one fills up.
 *
 * @module
 */

/** Pieces at most this long are copied into the tail block on append. */
export const COALESCE_MAX = 4096;
/** Capacity of the first tail block; later ones double up to TAIL_MAX. */
const TAIL_MIN = 1024;
const TAIL_MAX = 16384;

import { findByte, wordsOf } from "./_find_byte.ts";

const EMPTY = new Uint8Array(0);

/** A FIFO of bytes kept as a list of chunks. */
export class StreamBuffer {
  #chunks: Uint8Array[] = [];
  #head = 0; // index of the first live chunk
  #headOff = 0; // bytes already consumed from that chunk
  #size = 0;
  #tail: Uint8Array = EMPTY; // empty until the first copy
  #tailFill = 0;
  // Idle streams stay small: tails start small and grow as they fill.
  #tailSize = TAIL_MIN;
  // Whether a view of the current tail went out through take(): then its
  // bytes must never be overwritten, else it is rewound once emptied.
  #tailShared = false;
  // Tail offset lent out by reserve() until commit(), else -1.
  #reservedAt = -1;
  // Latin-1 text of the first #text.length buffered bytes, for regex reads.
  #text = "";
  // A word view of the memory of the chunk last searched for one byte (see
  // _find_byte.ts); dropped with the data, so it never pins a block alone.
  #wordsChunk: Uint8Array | null = null;
  #wordsBuf: ArrayBufferLike | null = null;
  #words: Uint32Array | null = null;

  /** Number of buffered bytes. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends bytes. When `copy` is false and the piece is large, the buffer
   * keeps a view of `data`: the caller must not change it afterwards.
   */
  append(data: Uint8Array, copy = false): void {
    const n = data.length;
    if (n === 0) return;
    if (n <= COALESCE_MAX || copy) this.#appendCopy(data);
    else this.#chunks.push(data);
    this.#size += n;
  }

  #appendCopy(data: Uint8Array): void {
    const n = data.length;
    if (n > TAIL_MAX / 2) {
      // Too big to share a block with others: a private copy.
      this.#chunks.push(data.slice());
      return;
    }
    this.#space(n).set(data);
    this.#commitAt(this.#tailFill, n);
  }

  // Room for `n` bytes at the tail's fill position (a new tail if needed).
  #space(n: number): Uint8Array {
    let tail = this.#tail;
    if (tail.length - this.#tailFill < n) {
      let size = this.#tailSize;
      // Grow only while data piles up (many small writes queued behind a
      // slow peer): a tail abandoned because views of it went out, with
      // little left in it, says nothing about needing more room.
      if (
        tail.length > 0 && size < TAIL_MAX && this.#size >= tail.length >>> 1
      ) this.#tailSize = size *= 2;
      while (size < n) size *= 2;
      tail = this.#tail = new Uint8Array(size);
      this.#tailFill = 0;
      this.#tailShared = false;
    }
    return tail.subarray(this.#tailFill, this.#tailFill + n);
  }

  // Makes `n` bytes written at tail offset `start` part of the buffer.
  #commitAt(start: number, n: number): void {
    const tail = this.#tail;
    this.#tailFill = start + n;
    // Extend the last chunk when it is the open end of this tail block.
    const chunks = this.#chunks;
    const last = chunks.length > this.#head ? chunks[chunks.length - 1]! : null;
    if (
      last !== null && last.buffer === tail.buffer &&
      last.byteOffset + last.length === tail.byteOffset + start
    ) {
      const from = last.byteOffset - tail.byteOffset;
      chunks[chunks.length - 1] = tail.subarray(from, start + n);
    } else {
      chunks.push(tail.subarray(start, start + n));
    }
  }

  /**
   * Lends `n` bytes of free space at the end of the buffer (or fewer, but
   * at least `min`, when the current block has that much left), for a read
   * to fill in place; {@linkcode commit} then adds what was written. Nothing
   * else may be appended in between.
   */
  reserve(n: number, min = n): Uint8Array {
    const tail = this.#tail;
    const room = tail.length - this.#tailFill;
    // Use what the current tail has left when that is enough (never
    // nothing: a read into no space returns at once, and would again).
    const space = room >= min && room > 0
      ? this.#space(Math.min(n, room))
      : this.#space(n);
    this.#reservedAt = this.#tailFill;
    return space;
  }

  /** Adds the first `n` bytes of the last {@linkcode reserve}d space. */
  commit(n: number): void {
    const at = this.#reservedAt;
    this.#reservedAt = -1;
    if (n === 0) return;
    this.#commitAt(at, n);
    this.#size += n;
  }

  /** The first buffered chunk (a view; empty when the buffer is empty). */
  first(): Uint8Array {
    if (this.#size === 0) return EMPTY;
    return this.#chunks[this.#head]!.subarray(this.#headOff);
  }

  /** Drops `n` bytes from the front (`n` at most `size`). */
  skip(n: number): void {
    if (n <= 0) return;
    this.#size -= n;
    if (this.#text.length > 0) this.#text = this.#text.slice(n);
    if (this.#size === 0) {
      this.#reset();
      return;
    }
    const chunks = this.#chunks;
    let off = this.#headOff + n;
    let head = this.#head;
    while (off >= chunks[head]!.length) {
      off -= chunks[head]!.length;
      // Let go of the consumed chunk now: the list is compacted only now
      // and then, and a block it still holds would stay in memory, and
      // outlive young-generation GCs into the old one.
      chunks[head++] = EMPTY;
    }
    this.#head = head;
    this.#headOff = off;
    if (head > 64 && head * 2 > chunks.length) {
      chunks.copyWithin(0, head);
      chunks.length -= head;
      this.#head = 0;
    }
  }

  // The word view of `c`'s memory, made once per block. Checked by chunk
  // first: a chunk is searched line after line, and comparing it is cheaper
  // than asking for its buffer each time.
  #wordsFor(c: Uint8Array): Uint32Array | null {
    if (c === this.#wordsChunk) return this.#words;
    this.#wordsChunk = c;
    const buf = c.buffer;
    if (buf !== this.#wordsBuf) {
      this.#wordsBuf = buf;
      this.#words = wordsOf(buf);
    }
    return this.#words;
  }

  #reset(): void {
    this.#wordsChunk = null;
    this.#wordsBuf = null;
    this.#words = null;
    const chunks = this.#chunks;
    // pop() is much cheaper than truncating through the length.
    if (chunks.length === 1) chunks.pop();
    else chunks.length = 0;
    this.#head = 0;
    this.#headOff = 0;
    this.#text = "";
    if (!this.#tailShared && this.#reservedAt < 0) this.#tailFill = 0;
  }

  /**
   * The hot path of line reads: when the first chunk holds `byte`, removes
   * and returns everything up to and including it (a view); else returns
   * `null` and changes nothing.
   */
  takeThroughByte(byte: number): Uint8Array | null {
    if (this.#size === 0) return null;
    const c = this.#chunks[this.#head]!;
    const off = this.#headOff;
    const j = findByte(c, byte, off, this.#wordsFor(c));
    if (j < 0) return null;
    const end = j + 1;
    const out = c.subarray(off, end);
    this.#tailShared = true;
    if (end < c.length && this.#text.length === 0) {
      // Still inside the first chunk: no need for skip()'s general walk.
      this.#size -= end - off;
      this.#headOff = end;
    } else this.skip(end - off);
    return out;
  }

  /**
   * Removes and returns the first `n` bytes (`n` at most `size`). A range
   * inside one chunk comes back as a view of it, without a copy.
   */
  take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.#chunks[this.#head]!;
    const off = this.#headOff;
    if (first.length - off >= n) {
      // A view, even for a few bytes: every new Uint8Array costs Deno an
      // off-heap allocation (~0.3 us even for 8 bytes, ~15x a view), while
      // a view only keeps its block alive. The block's bytes are never
      // written again (see #tailShared), so the caller owns them.
      // A whole chunk is handed out as it is: chunks are never changed in
      // place (extending one replaces it with a new view), so this saves
      // making yet another view.
      const out = off === 0 && n === first.length
        ? first
        : first.subarray(off, off + n);
      // Conservative (the view may not be of the tail), but cheaper than
      // asking for its buffer on every call.
      this.#tailShared = true;
      this.skip(n);
      return out;
    }
    const out = new Uint8Array(n);
    this.copyTo(out, n);
    return out;
  }

  /** Moves the first `n` bytes into `dst` (`n` at most `size`). */
  copyTo(dst: Uint8Array, n: number): void {
    const chunks = this.#chunks;
    let ci = this.#head;
    let off = this.#headOff;
    let done = 0;
    while (done < n) {
      const c = chunks[ci]!;
      const m = Math.min(c.length - off, n - done);
      dst.set(off === 0 && m === c.length ? c : c.subarray(off, off + m), done);
      done += m;
      off = 0;
      ci++;
    }
    this.skip(n);
  }

  /**
   * Puts a copy of `data` back in front of the buffered bytes (a read that
   * gave up returns what it had taken).
   */
  unshift(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    const chunks = this.#chunks;
    let head = this.#head;
    if (this.#headOff > 0) {
      chunks[head] = chunks[head]!.subarray(this.#headOff);
      this.#headOff = 0;
    }
    if (head > 0) chunks[--head] = data.slice();
    else chunks.unshift(data.slice());
    this.#head = head;
    this.#size += n;
    this.#text = "";
  }

  /**
   * Where `delim` first starts at or after byte `from`, or -1 when it is not
   * (wholly) in the buffer.
   */
  indexOf(delim: Uint8Array, from = 0): number {
    if (from >= this.#size) return -1;
    const chunks = this.#chunks;
    const b0 = delim[0]!;
    const dl = delim.length;
    let ci = this.#head;
    let start = this.#headOff; // offset of the chunk's first live byte
    let base = 0; // buffer position of chunks[ci][start]
    // Find the chunk holding `from`.
    while (base + chunks[ci]!.length - start <= from) {
      base += chunks[ci]!.length - start;
      start = 0;
      ci++;
    }
    let i = start + (from - base);
    for (; ci < chunks.length; ci++) {
      const c = chunks[ci]!;
      const words = dl === 1 ? this.#wordsFor(c) : null;
      for (;;) {
        const j = findByte(c, b0, i, words);
        if (j < 0) break;
        if (dl === 1) return base + (j - start);
        const m = this.#matchAt(ci, j, delim);
        if (m === 1) return base + (j - start);
        if (m === -1) return -1; // ran out of data while matching
        i = j + 1;
      }
      base += c.length - start;
      start = 0;
      i = 0;
    }
    return -1;
  }

  // 1: delim matches at chunks[ci][j]; 0: it does not; -1: not enough data.
  #matchAt(ci: number, j: number, delim: Uint8Array): number {
    const chunks = this.#chunks;
    let c = chunks[ci]!;
    let k = j;
    for (let d = 0; d < delim.length; d++, k++) {
      while (k >= c.length) {
        ci++;
        if (ci >= chunks.length) return -1;
        c = chunks[ci]!;
        k = 0;
      }
      if (c[k] !== delim[d]) return 0;
    }
    return 1;
  }

  /**
   * The buffered bytes as a string of code points 0-255 (Latin-1 by code
   * point), so string offsets are byte offsets. Only bytes not already
   * decoded are decoded.
   */
  latin1(): string {
    let text = this.#text;
    if (text.length === this.#size) return text;
    const chunks = this.#chunks;
    let skip = text.length;
    let off = this.#headOff;
    for (let ci = this.#head; ci < chunks.length; ci++) {
      const c = chunks[ci]!;
      const avail = c.length - off;
      if (skip >= avail) {
        skip -= avail;
        off = 0;
        continue;
      }
      text += decodeLatin1(c.subarray(off + skip));
      skip = 0;
      off = 0;
    }
    this.#text = text;
    return text;
  }
}

function decodeLatin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(
      null,
      bytes.subarray(i, i + 8192) as unknown as number[],
    );
  }
  return s;
}
