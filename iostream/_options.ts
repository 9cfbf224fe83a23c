// Copyright the squall authors. MIT license.

/**
 * Checks of sizes and of {@linkcode StreamOptions}, shared by the streams
 * and by what makes them (`connect()`, `TCPServer`) so that bad options fail
 * before a connection is opened. Private to squall.
 *
 * @module
 */

import type { StreamOptions } from "./base_iostream.ts";
import { typeName } from "./_type_name.ts";

const DEFAULT_MAX_BUFFER = 104857600;
const DEFAULT_CHUNK = 65536;

/** A size argument: a safe integer of at least `min`, else it throws. */
export function checkSize(name: string, value: unknown, min: number): number {
  if (typeof value !== "number") {
    throw new TypeError(`${name} must be a number, got ${typeName(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `${name} must be an integer of at least ${min}, got ${value}`,
    );
  }
  return value;
}

/** Like {@linkcode checkSize}, but `undefined` passes (as `undefined`). */
export function optionalSize(
  name: string,
  value: unknown,
  min: number,
): number | undefined {
  return value === undefined ? undefined : checkSize(name, value, min);
}

/**
 * The `streamingCallback` of read options (`null` when none), checked up
 * front: a bad one found only when data arrives would take that data with it.
 */
export function streamingCallbackOf(
  options: { streamingCallback?: (chunk: Uint8Array) => void } | undefined,
): ((chunk: Uint8Array) => void) | null {
  const cb = options?.streamingCallback;
  if (cb === undefined) return null;
  if (typeof cb !== "function") {
    throw new TypeError(
      `streamingCallback must be a function, got ${typeName(cb)}`,
    );
  }
  return cb;
}

/** The limits {@linkcode StreamOptions} describe, defaults applied. */
export interface StreamLimits {
  maxBufferSize: number;
  readChunkSize: number;
  maxWriteBufferSize: number; // -1: no limit
}

/** Checks `options` and applies the defaults; throws on bad values. */
export function streamLimits(options: StreamOptions): StreamLimits {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Stream options must be an object, got ${typeName(options)}`,
    );
  }
  const max = optionalSize("maxBufferSize", options.maxBufferSize, 2) ??
    DEFAULT_MAX_BUFFER;
  const chunk = optionalSize("readChunkSize", options.readChunkSize, 1) ??
    DEFAULT_CHUNK;
  return {
    maxBufferSize: max,
    readChunkSize: Math.max(1, Math.min(chunk, Math.floor(max / 2))),
    maxWriteBufferSize: optionalSize(
      "maxWriteBufferSize",
      options.maxWriteBufferSize,
      0,
    ) ?? -1,
  };
}

/**
 * Reads and checks `options` as {@linkcode streamLimits} does, and gives
 * the limits back as {@linkcode StreamOptions} of our own: what is kept to
 * make a stream later (once connected, or at `startTls`), so that none of
 * the caller's getters is read again.
 */
export function ownStreamOptions(options: StreamOptions): StreamOptions {
  const { maxBufferSize, readChunkSize, maxWriteBufferSize } = streamLimits(
    options,
  );
  return maxWriteBufferSize < 0
    ? { maxBufferSize, readChunkSize }
    : { maxBufferSize, readChunkSize, maxWriteBufferSize };
}

/**
 * A list of strings (PEM certificates, ALPN protocol names), read once into
 * a copy of our own; else a `TypeError` that starts with `what` (`"Cannot
 * start TLS: caCerts"`). Deno's own check would come later, with a message
 * about v8 types.
 */
export function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) {
    throw new TypeError(
      `${what} must be an array of strings, got ${typeName(value)}`,
    );
  }
  const list: string[] = [];
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    if (typeof item !== "string") {
      throw new TypeError(
        `${what} must be an array of strings, got ${
          typeName(item)
        } at index ${i}`,
      );
    }
    list.push(item);
  }
  return list;
}
