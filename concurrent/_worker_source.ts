// Copyright the squall authors. MIT license.

/**
 * The program every {@linkcode WorkerExecutor} worker runs, as source text.
 *
 * It is loaded from a `data:` URL rather than from a sibling file: a sibling
 * would have to be fetched by URL, which fails or needs extra permissions
 * when the package itself is imported from a remote registry (JSR).
 *
 * Protocol, main → worker: `{ id, src, args }`. Worker → main:
 * `{ id, ok: true, value }`, `{ id, ok: false, error, name, props }` (an
 * error that survived structured cloning, plus what cloning drops), the
 * plain fallback `{ id, ok: false, name, message, stack }`,
 * `{ stray: { name, message, stack } }` for an error nobody awaited inside
 * the worker, or `{ exited: id }` when the worker is ending because code in
 * it called `exit()` (`id` is the task it was running, `0` if none). Private
 * to squall.
 */
export const WORKER_SOURCE = `"use strict";
const cache = new Map();
const CACHE_LIMIT = 64;
const geval = eval;

function compile(src) {
  let fn = cache.get(src);
  if (fn !== undefined) return fn;
  try {
    fn = geval('"use strict";(' + src + "\\n)");
  } catch (first) {
    if (!(first instanceof SyntaxError)) throw first;
    // Method shorthand ("name(a) { ... }"), as class and object methods
    // print themselves: parse it inside an object literal.
    let holder;
    try {
      holder = geval('"use strict";({' + src + "\\n})");
    } catch {
      throw new SyntaxError(
        "Cannot rebuild the function from its source text (" +
          first.message + "): pass a function expression, an arrow " +
          "function or a method without private names",
      );
    }
    const values = Object.values(Object.getOwnPropertyDescriptors(holder));
    fn = values.length === 1 ? values[0].value : undefined;
  }
  if (typeof fn !== "function") {
    throw new TypeError("The source text does not evaluate to a function");
  }
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value);
  cache.set(src, fn);
  return fn;
}

function describe(err) {
  const isObject = err !== null && typeof err === "object";
  return {
    name: isObject && typeof err.name === "string" ? err.name : "Error",
    message: isObject && "message" in err ? String(err.message) : String(err),
    stack: isObject && typeof err.stack === "string" ? err.stack : undefined,
  };
}

function fail(id, err) {
  const isObject = err !== null && typeof err === "object";
  try {
    self.postMessage({
      id,
      ok: false,
      error: err,
      name: isObject ? err.name : undefined,
      props: isObject ? { ...err } : undefined,
    });
  } catch {
    self.postMessage({ id, ok: false, ...describe(err) });
  }
}

// The task being run, named in the goodbye message below.
let running = 0;

self.onmessage = async (event) => {
  const { id, src, args } = event.data;
  running = id;
  let value;
  try {
    value = await compile(src).apply(undefined, args);
  } catch (err) {
    running = 0;
    fail(id, err);
    return;
  }
  running = 0;
  try {
    self.postMessage({ id, ok: true, value });
  } catch (err) {
    self.postMessage({
      id,
      ok: false,
      name: "DataCloneError",
      message: "Cannot send the result back from the worker: " +
        describe(err).message,
    });
  }
};

// A worker that closes itself would leave its task pending forever.
self.close = () => {
  throw new Error(
    "A function run by WorkerExecutor cannot close its worker",
  );
};

// exit() (Deno's, or node:process's, which calls it) ends only the worker,
// and the main thread gets no event for that: the task would stay pending
// and the pool would keep posting to a dead worker. exit() dispatches
// "unload" first, and a message posted then still arrives.
self.addEventListener("unload", () => {
  self.postMessage({ exited: running });
});

self.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  self.postMessage({ stray: describe(event.reason) });
});
self.addEventListener("error", (event) => {
  event.preventDefault();
  self.postMessage({ stray: describe(event.error ?? event.message) });
});
`;
