// Copyright the squall authors. MIT license.

/**
 * Where errors thrown by user code that no loop method scheduled (a stream's
 * close callback, a `PeriodicCallback` tick) are reported.
 *
 * The IOLoop installs a router here so that such errors reach
 * `IOLoop.current()`'s error handler at the time they run; until it does,
 * they go to `console.error`. Private to squall.
 */
export type ErrorRouter = (err: unknown, where: string) => void;

function defaultRouter(err: unknown, where: string): void {
  console.error(`squall: uncaught error in ${where}:`, err);
}

let router: ErrorRouter = defaultRouter;

/** Replaces the router; `null` restores the `console.error` default. */
export function setErrorRouter(next: ErrorRouter | null): void {
  router = next ?? defaultRouter;
}

/** Reports an error from a user callback without ever throwing. */
export function reportCallbackError(err: unknown, where: string): void {
  try {
    router(err, where);
  } catch (routerError) {
    try {
      defaultRouter(routerError, `error handler (reporting ${where})`);
    } catch {
      // console itself failed: nothing sane is left to do.
    }
  }
}
