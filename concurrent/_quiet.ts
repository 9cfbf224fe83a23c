// Copyright the squall authors. MIT license.

/**
 * Promises handed to callers who may ignore them: they still settle as they
 * should for whoever awaits them, but an ignored rejection must not end the
 * process. Private to squall.
 *
 * @module
 */

function noop(): void {}

/** Marks `p`'s rejection as handled and returns `p` itself. */
export function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(noop);
  return p;
}

/** A rejected promise that does not end the process when ignored. */
export function rejected<T>(err: unknown): Promise<T> {
  return quiet(Promise.reject(err));
}
