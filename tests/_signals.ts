// Copyright the squall authors. MIT license.

/**
 * Calls `send` (which signals a process) about every millisecond until
 * `exited` settles, as Ctrl-C pressed again and again while a program shuts
 * down. A program that keeps its signal listeners until it is gone ignores
 * them all; one that drops them earlier is killed by the next one.
 */
export async function signalUntilExit(
  send: () => void,
  exited: Promise<unknown>,
): Promise<void> {
  let done = false;
  exited.then(() => done = true, () => done = true);
  while (!done) {
    send();
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
