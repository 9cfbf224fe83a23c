// Copyright the squall authors. MIT license.

// setTimeout stores delays as signed 32-bit integers: longer ones fire at
// once (Deno, browsers) or after 1 ms (Node). Longer waits are split.
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Checks a relative delay in milliseconds. Returns the error to report, or
 * `undefined` when the delay is usable. Negative delays mean "already due",
 * as a past deadline does in Tornado.
 */
export function checkDelay(ms: unknown, what: string): Error | undefined {
  if (typeof ms !== "number") {
    return new TypeError(
      `Cannot use ${what}: expected a number of milliseconds, got ${typeof ms}`,
    );
  }
  if (Number.isNaN(ms)) {
    return new RangeError(`Cannot use ${what}: expected milliseconds, got NaN`);
  }
  return undefined;
}

/**
 * Checks an options bag (already defaulted, so `undefined` never gets here).
 * Returns the error to report, or `undefined` when it is an object.
 */
export function checkOptions(
  options: unknown,
  what: string,
): TypeError | undefined {
  if (typeof options === "object" && options !== null) return undefined;
  return new TypeError(
    `Cannot use ${what}: options must be an object, got ${
      options === null ? "null" : typeof options
    }`,
  );
}

/**
 * Calls `callback` after `ms` milliseconds, however long that is; `Infinity`
 * never fires and creates no timer. Returns the function that cancels it
 * (idempotent).
 */
export function setLongTimeout(callback: () => void, ms: number): () => void {
  let id: ReturnType<typeof setTimeout> | undefined;
  function arm(rest: number): void {
    if (rest > MAX_DELAY) {
      id = setTimeout(() => arm(rest - MAX_DELAY), MAX_DELAY);
    } else {
      id = setTimeout(() => {
        id = undefined;
        callback();
      }, Math.max(rest, 0));
    }
  }
  if (ms !== Infinity) arm(ms);
  return () => {
    if (id !== undefined) {
      clearTimeout(id);
      id = undefined;
    }
  };
}
