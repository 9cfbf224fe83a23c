// Copyright the squall authors. MIT license.

import type { Releaser } from "./types.ts";

/**
 * A {@linkcode Releaser} that gives its hold back once: the first
 * `release()` calls `give(owner, this)`, later calls do nothing. A fresh
 * one is made per acquisition, so an old handle can never release a later
 * holder's hold. Private to squall.
 */
export class OnceReleaser<O> implements Releaser {
  #owner: O | null;
  readonly #give: (owner: O, releaser: OnceReleaser<O>) => void;

  constructor(owner: O, give: (owner: O, releaser: OnceReleaser<O>) => void) {
    this.#owner = owner;
    this.#give = give;
  }

  release(): void {
    const owner = this.#owner;
    if (owner === null) return;
    this.#owner = null;
    this.#give(owner, this);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
