// Raw-promise baselines for the benchmarks: the least code that gives the
// same service, with none of squall's extras (timeouts, abort signals,
// releaser objects, validation, unhandled-rejection hygiene). Each is what
// a careful programmer would hand-write for one program, so the ratio
// squall/raw is the price of the general, safe primitive.

/**
 * A FIFO mutex: acquire() resolves when the caller holds it; release()
 * hands it to the next waiter. Waiters are plain resolve functions in an
 * array (V8 makes shift() cheap on such small arrays).
 */
export class RawMutex {
  #locked = false;
  #waiters: Array<() => void> = [];

  acquire(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next === undefined) this.#locked = false;
    else next();
  }
}

/** A handle that releases its RawReleaserMutex once. */
class RawReleaser {
  #mutex: RawReleaserMutex | null;

  constructor(mutex: RawReleaserMutex) {
    this.#mutex = mutex;
  }

  release(): void {
    const mutex = this.#mutex;
    if (mutex === null) return;
    this.#mutex = null;
    mutex.unlock();
  }
}

/**
 * RawMutex with squall's API shape: acquire() resolves with a fresh
 * once-only releaser object. Not a baseline; it shows how much of the
 * uncontended gap is the price of that shape (V8 pays ~15 ns to resolve a
 * promise with an object instead of `undefined`).
 */
export class RawReleaserMutex {
  #locked = false;
  #waiters: Array<(releaser: RawReleaser) => void> = [];

  acquire(): Promise<RawReleaser> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve(new RawReleaser(this));
    }
    return new Promise<RawReleaser>((resolve) => this.#waiters.push(resolve));
  }

  unlock(): void {
    const next = this.#waiters.shift();
    if (next === undefined) this.#locked = false;
    else next(new RawReleaser(this));
  }
}

/** A counting semaphore built the same way as RawMutex. */
export class RawSemaphore {
  #value: number;
  #waiters: Array<() => void> = [];

  constructor(value: number) {
    this.#value = value;
  }

  acquire(): Promise<void> {
    if (this.#value > 0) {
      this.#value--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next === undefined) this.#value++;
    else next();
  }
}

/** An event: waiters are resolve functions, set() calls them all. */
export class RawEvent {
  #set = false;
  #waiters: Array<(v: boolean) => void> = [];

  wait(): Promise<boolean> {
    if (this.#set) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => this.#waiters.push(resolve));
  }

  set(): void {
    this.#set = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w(true);
  }

  clear(): void {
    this.#set = false;
  }
}

/** A condition: notify() resolves the oldest waiter. */
export class RawCondition {
  #waiters: Array<(v: boolean) => void> = [];

  wait(): Promise<boolean> {
    return new Promise<boolean>((resolve) => this.#waiters.push(resolve));
  }

  notify(): void {
    this.#waiters.shift()?.(true);
  }
}

const RESOLVED = Promise.resolve();

/**
 * A bounded FIFO queue: items in an array with a moving head index
 * (compacted now and then), getters and putters as resolve functions.
 * put() resolves at once when there is room (with one shared resolved
 * promise, squall's own trick, so the baseline is not handicapped), get()
 * when there is an item.
 */
export class RawQueue<T> {
  #items: T[] = [];
  #head = 0;
  #getters: Array<(item: T) => void> = [];
  #putters: Array<{ item: T; resolve: () => void }> = [];
  readonly #maxsize: number;

  constructor(maxsize = 0) {
    this.#maxsize = maxsize;
  }

  #size(): number {
    return this.#items.length - this.#head;
  }

  put(item: T): Promise<void> {
    if (this.#getters.length > 0) {
      (this.#getters.shift() as (item: T) => void)(item);
      return RESOLVED;
    }
    if (this.#maxsize > 0 && this.#size() >= this.#maxsize) {
      return new Promise<void>((resolve) =>
        this.#putters.push({ item, resolve })
      );
    }
    this.#items.push(item);
    return RESOLVED;
  }

  get(): Promise<T> {
    if (this.#size() === 0) {
      return new Promise<T>((resolve) => this.#getters.push(resolve));
    }
    const item = this.#items[this.#head] as T;
    this.#items[this.#head++] = undefined as T;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (this.#putters.length > 0) {
      const putter = this.#putters.shift()!;
      this.#items.push(putter.item);
      putter.resolve();
    }
    return Promise.resolve(item);
  }
}
