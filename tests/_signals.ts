// Copyright the squall authors. MIT license.

/**
 * Calls `send` (which signals a process) every 0.1 ms or so until `exited`
 * settles, as Ctrl-C pressed again and again while a program shuts down. A
 * program that keeps its signal listeners until it is gone ignores them
 * all; one that drops them earlier, even a millisecond before its exit, is
 * killed by the next one.
 */
export async function signalUntilExit(
  send: () => void,
  exited: Promise<unknown>,
): Promise<void> {
  let done = false;
  exited.then(() => done = true, () => done = true);
  while (!done) {
    // Timers cannot wait less than a millisecond: send a burst, spaced by
    // spinning, then give `exited` a turn of the event loop to settle in.
    const end = performance.now() + 1;
    for (let next = performance.now(); next < end; next += 0.1) {
      while (performance.now() < next) {
        // Spin.
      }
      send();
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}
