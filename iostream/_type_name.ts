// Copyright the squall authors. MIT license.

/**
 * What a bad argument is, for error messages: a quoted string, a number as
 * written, a class name for objects (`Uint16Array`, `ArrayBuffer`, `Array`),
 * else its `typeof`. Private to squall.
 *
 * @module
 */

/** Describes `value` in a few words for a "got …" error message. */
export function typeName(value: unknown): string {
  switch (typeof value) {
    case "string":
      return value.length > 40
        ? `string ${JSON.stringify(value.slice(0, 40))}…`
        : `string ${JSON.stringify(value)}`;
    case "number":
    case "bigint":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "object": {
      if (value === null) return "null";
      const name = (value as { constructor?: { name?: unknown } }).constructor
        ?.name;
      return typeof name === "string" && name !== "" ? name : "object";
    }
    default:
      return typeof value;
  }
}
