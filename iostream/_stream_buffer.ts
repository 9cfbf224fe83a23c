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

/** Results of take() up to this long are copies, not views. */
const SMALL_COPY = 64;

const EMPTY = new Uint8Array(0);

/** A FIFO of bytes kept as a list of chunks. */
export class StreamBuffer {
  #chunks: Uint8Array[] = [];
  #head = 0; // index of the first live chunk
  #headOff = 0; // bytes already consumed from that chunk
  #size = 0;
  #tail: Uint8Array | null = null;
  #tailFill = 0;
  // Idle streams stay small: tails start small and grow as they fill.
  #tailSize = TAIL_MIN;
  // Whether a view of the current tail went out through take(): then its
  // bytes must never be overwritten, else it is rewound once emptied.
  #tailShared = false;
  // Latin-1 text of the first #text.length buffered bytes, for regex reads.
  #text = "";

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
    let tail = this.#tail;
    if (tail !== null && tail.length - this.#tailFill >= n) {
      const start = this.#tailFill;
      tail.set(data, start);
      this.#tailFill = start + n;
      // Extend the last chunk when it is the open end of this tail block.
      const last = this.#chunks.length > this.#head
        ? this.#chunks[this.#chunks.length - 1]!
        : null;
      if (
        last !== null && last.buffer === tail.buffer &&
        last.byteOffset + last.length === tail.byteOffset + start
      ) {
        const from = last.byteOffset - tail.byteOffset;
        this.#chunks[this.#chunks.length - 1] = tail.subarray(
          from,
          start + n,
        );
      } else {
        this.#chunks.push(tail.subarray(start, start + n));
      }
      return;
    }
    if (n > TAIL_MAX / 2) {
      // Too big to share a block with others: a private copy.
      this.#chunks.push(data.slice());
      return;
    }
    let size = this.#tailSize;
    if (tail !== null && size < TAIL_MAX) this.#tailSize = size *= 2;
    while (size < n) size *= 2;
    tail = new Uint8Array(size);
    this.#tailShared = false;
    tail.set(data, 0);
    this.#tail = tail;
    this.#tailFill = n;
    this.#chunks.push(tail.subarray(0, n));
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
      head++;
    }
    this.#head = head;
    this.#headOff = off;
    if (head > 64 && head * 2 > chunks.length) {
      this.#chunks = chunks.slice(head);
      this.#head = 0;
    }
  }

  #reset(): void {
    this.#chunks.length = 0;
    this.#head = 0;
    this.#headOff = 0;
    this.#text = "";
    if (!this.#tailShared) this.#tailFill = 0;
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
      // Tiny results are copied (V8 keeps them on its heap, which is cheap)
      // so the tail block stays reusable; larger ones are views.
      let out: Uint8Array;
      if (n <= SMALL_COPY) out = first.slice(off, off + n);
      else {
        out = first.subarray(off, off + n);
        if (this.#tail !== null && out.buffer === this.#tail.buffer) {
          this.#tailShared = true;
        }
      }
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
   * Where `delim` first starts at or after byte `from`, or -1 when it is not
   * (wholly) in the buffer.
   */
  indexOf(delim: Uint8Array, from = 0): number {
    if (from >= this.#size) return -1;
    const chunks = this.#chunks;
    const b0 = delim[0]!;
    const dl = delim.length;
    if (dl === 1) {
      // Fast path: a one-byte delimiter found in the first chunk.
      const c = chunks[this.#head]!;
      const off = this.#headOff;
      if (from < c.length - off) {
        const j = c.indexOf(b0, off + from);
        if (j >= 0) return j - off;
        if (chunks.length - this.#head === 1) return -1;
      }
    }
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
      for (;;) {
        const j = c.indexOf(b0, i);
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
