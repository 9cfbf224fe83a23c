// Copyright the squall authors. MIT license.

/**
 * Every implementation the harness can run, by the name used on the command
 * line and in child processes.
 *
 * @module
 */

import type { NetImpl } from "./_impl.ts";
import { RAW, RAW_ALLOC } from "./_raw.ts";
import { SQUALL } from "./_squall.ts";

/** Implementations by name. */
export const IMPLS: Readonly<Record<string, NetImpl>> = {
  raw: RAW,
  "raw-alloc": RAW_ALLOC,
  squall: SQUALL,
};

/** The implementation called `name`; throws a clear error if unknown. */
export function implByName(name: string): NetImpl {
  const impl = IMPLS[name];
  if (impl === undefined) {
    throw new TypeError(
      `Unknown implementation "${name}": expected one of ${
        Object.keys(IMPLS).map((n) => `"${n}"`).join(", ")
      }`,
    );
  }
  return impl;
}
