// Copyright the squall authors. MIT license.

/**
 * Lets squall code outside the IOLoop class (`PeriodicCallback`) reach what
 * one particular loop keeps private, without a public method for it: its
 * error handler, and whether it is closed. Private to squall.
 */

type Reporter = (err: unknown, where: string) => void;

const reporters = new WeakMap<object, Reporter>();
const closedLoops = new WeakSet<object>();

/** Called by each IOLoop once, with its own never-throwing reporter. */
export function registerLoopReporter(loop: object, report: Reporter): void {
  reporters.set(loop, report);
}

/** Reports `err` to `loop`'s error handler; never throws. */
export function reportToLoop(loop: object, err: unknown, where: string): void {
  const report = reporters.get(loop);
  if (report !== undefined) {
    report(err, where);
    return;
  }
  try {
    console.error(`squall: uncaught error in ${where}:`, err);
  } catch {
    // console itself failed: nothing sane is left to do.
  }
}

/** Called by an IOLoop's close(). */
export function markLoopClosed(loop: object): void {
  closedLoops.add(loop);
}

/** Whether `loop` was closed. */
export function isLoopClosed(loop: object): boolean {
  return closedLoops.has(loop);
}
