// Copyright the squall authors. MIT license.

/**
 * Lets squall code outside the IOLoop class (`PeriodicCallback`) report an
 * error to one particular loop's handler without a public method for it.
 * Private to squall.
 */

type Reporter = (err: unknown, where: string) => void;

const reporters = new WeakMap<object, Reporter>();

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
