// Run by tests/_stream_buffer_test.ts with --v8-flags=--expose-gc. Reads
// lines through blocks of 64 KiB, first from a StreamBuffer directly, then
// through an IOStream, and stops with part of a line still buffered. Each
// block's memory is watched through a WeakRef; after a full GC the script
// prints, per case, how many fully consumed blocks are still in memory and
// whether the block holding the buffered bytes is. Prints one JSON line.
import { StreamBuffer } from "../../iostream/_stream_buffer.ts";
import { BaseIOStream } from "../../iostream/base_iostream.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

const BLOCK = 65536;
const BLOCKS = 20;
const LINE = 100;

/** A block of 100-byte lines that runs on into the next block. */
function block(k: number): Uint8Array {
  const b = new Uint8Array(BLOCK);
  for (let i = 0; i < BLOCK; i++) {
    b[i] = (k * BLOCK + i) % LINE === LINE - 1 ? 10 : 97;
  }
  return b;
}

/** WeakRefs are held until the current job ends: collect in a new one. */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

interface Verdict {
  consumedAlive: number;
  currentAlive: boolean;
  buffered: number;
}

async function verdict(
  refs: WeakRef<ArrayBufferLike>[],
  buffered: number,
): Promise<Verdict> {
  await collect();
  const alive = refs.map((r) => r.deref() !== undefined);
  return {
    consumedAlive: alive.slice(0, -1).filter(Boolean).length,
    currentAlive: alive.at(-1)!,
    buffered,
  };
}

// Lines whole in the buffered blocks, leaving the last one unfinished.
const wholeLines = Math.floor(BLOCKS * BLOCK / LINE);

async function direct(): Promise<Verdict> {
  const buf = new StreamBuffer();
  const refs: WeakRef<ArrayBufferLike>[] = [];
  for (let k = 0; k < BLOCKS; k++) {
    const b = block(k);
    refs.push(new WeakRef(b.buffer));
    buf.append(b);
  }
  for (let i = 0; i < wholeLines; i++) {
    let line = buf.takeThroughByte(10);
    // A line across two blocks is not in the first chunk.
    if (line === null) line = buf.take(buf.indexOf(new Uint8Array([10])) + 1);
    if (line.length !== LINE) throw new Error(`line ${i}: ${line.length}`);
  }
  const result = await verdict(refs, buf.size);
  if (buf.size > 0) buf.take(buf.size); // keeps `buf` alive until here
  return result;
}

class Blocks extends BaseIOStream {
  next = 0;
  refs: WeakRef<ArrayBufferLike>[] = [];
  protected override readFromFd(_buf: Uint8Array): Promise<Uint8Array | null> {
    if (this.next === BLOCKS) return new Promise(() => {}); // an idle peer
    const b = block(this.next++);
    this.refs.push(new WeakRef(b.buffer));
    return Promise.resolve(b);
  }
  protected override writeToFd(data: Uint8Array): Promise<number> {
    return Promise.resolve(data.length);
  }
  protected override closeFd(): void {}
}

async function stream(): Promise<Verdict> {
  const s = new Blocks();
  for (let i = 0; i < wholeLines; i++) {
    const line = await s.readUntil("\n");
    if (line.length !== LINE) throw new Error(`line ${i}: ${line.length}`);
  }
  const result = await verdict(s.refs, BLOCKS * BLOCK - wholeLines * LINE);
  s.close();
  return result;
}

console.log(JSON.stringify({
  blocks: BLOCKS,
  direct: await direct(),
  stream: await stream(),
}));
