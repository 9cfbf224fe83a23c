// Copyright the squall authors. MIT license.

/**
 * Placeholder: the `ioloop` module of squall is not built yet and exports
 * nothing. See the project's issue tracker; do not depend on this entry
 * point until it does.
 *
 * @module
 */

export {};
