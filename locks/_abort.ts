// Copyright the squall authors. MIT license.

/**
 * One abort listener per signal, however many waits follow it. An app
 * often passes one long-lived shutdown signal to every wait; a listener per
 * wait would cost O(N) each (`addEventListener` scans the listeners already
 * there, in Deno as in Node, which also warns past 10), O(N²) in all.
 * Instead every signal that has followers has one listener and an
 * intrusive FIFO list of its followers: following and unfollowing are O(1),
 * and the listener goes once the last follower leaves, so a long-lived
 * signal holds nothing once its waits are done (the registry keys on it
 * weakly). Shared by every wait in `locks/` and `queues/` and by
 * `iostream/` reads; uses no `Deno.*`. Private to squall.
 *
 * @module
 */

/** What a follower calls when its signal aborts. */
export interface AbortTarget {
  /** Called once, when the signal aborts; it must not throw. */
  onAbort(): void;
}

/** The followers of one signal, registered as its abort listener. */
class Followers {
  readonly signal: AbortSignal;
  head: AbortFollower | null = null;
  tail: AbortFollower | null = null;

  constructor(signal: AbortSignal) {
    this.signal = signal;
  }

  handleEvent(): void {
    dispatch(this);
  }
}

/** The followers of each signal that has some. */
const FOLLOWED = new WeakMap<AbortSignal, Followers>();

let dispatch: (followers: Followers) => void;

/**
 * One wait following a signal: made when the wait starts, unfollowed when
 * it settles. Targets are called in the order their followers were made,
 * as separate listeners would be. A separate object, so that a wait
 * without a signal costs nothing more.
 */
export class AbortFollower {
  /** The signal followed. */
  readonly signal: AbortSignal;
  readonly #target: AbortTarget;
  #followers: Followers | null;
  #prev: AbortFollower | null = null;
  #next: AbortFollower | null = null;

  static {
    dispatch = (followers) => {
      // The signal dropped its `once` listener; nothing may outlive it.
      FOLLOWED.delete(followers.signal);
      // Unlinked one at a time from the head, before its call: a target
      // may unfollow any other follower.
      for (let f = followers.head; f !== null; f = followers.head) {
        const next = f.#next;
        followers.head = next;
        if (next === null) followers.tail = null;
        else next.#prev = null;
        f.#next = null;
        f.#followers = null;
        try {
          f.#target.onAbort();
        } catch (err) {
          // As for a throwing listener: reported, and the others still run.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    };
  }

  /**
   * Follows `signal`, which must not be aborted: `target.onAbort()` runs
   * when it aborts, unless {@linkcode AbortFollower.unfollow} ran first.
   */
  constructor(signal: AbortSignal, target: AbortTarget) {
    this.signal = signal;
    this.#target = target;
    let followers = FOLLOWED.get(signal);
    if (followers === undefined) {
      followers = new Followers(signal);
      FOLLOWED.set(signal, followers);
      signal.addEventListener("abort", followers, { once: true });
    }
    this.#followers = followers;
    const tail = followers.tail;
    if (tail === null) {
      followers.head = this;
    } else {
      tail.#next = this;
      this.#prev = tail;
    }
    followers.tail = this;
  }

  /**
   * Stops following, in O(1); the last follower of a signal removes its
   * listener and record. (Keeping the empty record for the next wait on
   * the same signal measured faster for waits one after another on one
   * signal, but a signal per wait then fills the weak map, and V8's
   * garbage collector pays for every entry: twice the cost per wait.)
   * Does nothing after the abort or a first call.
   */
  unfollow(): void {
    const followers = this.#followers;
    if (followers === null) return;
    this.#followers = null;
    const prev = this.#prev;
    const next = this.#next;
    if (prev === null) followers.head = next;
    else prev.#next = next;
    if (next === null) followers.tail = prev;
    else next.#prev = prev;
    this.#prev = this.#next = null;
    if (followers.head === null) {
      FOLLOWED.delete(followers.signal);
      followers.signal.removeEventListener("abort", followers);
    }
  }
}
