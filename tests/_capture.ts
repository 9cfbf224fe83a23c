// Copyright the squall authors. MIT license.

/** Runs `fn` with `console.error` replaced; returns what it was called with. */
export async function captureConsoleError(
  fn: () => unknown,
): Promise<unknown[][]> {
  const calls: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void calls.push(args);
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return calls;
}

/**
 * Runs `fn` while counting unhandled rejections (and stopping them from
 * failing the test module). First proves the detector works with a raw
 * rejected promise, so a count of 0 means something.
 */
export async function countUnhandledRejections(
  fn: () => unknown,
  options: { settleMs?: number } = {},
): Promise<number> {
  let count = 0;
  const onUnhandled = (event: PromiseRejectionEvent): void => {
    event.preventDefault();
    count++;
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    Promise.reject(new Error("control: a raw unhandled rejection"));
    await macrotask();
    if (count !== 1) {
      throw new Error(`Detector broken: saw ${count} control rejections`);
    }
    count = 0;
    await fn();
    // Short timeouts started by `fn` must fire while the detector listens.
    const { settleMs = 0 } = options;
    if (settleMs > 0) {
      await new Promise((resolve) => realSetTimeout(resolve, settleMs));
    }
    await macrotask();
    await macrotask();
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
  return count;
}

// Kept from load time, so macrotask() works while fake timers are installed.
const realSetTimeout = globalThis.setTimeout;

/** Waits for one macrotask turn (unhandled rejections are noticed by then). */
export function macrotask(): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, 0));
}

/**
 * Runs `tests/testdata/<name>` in a subprocess with `--expose-gc` (so it can
 * force full GCs before measuring) and returns the JSON line it prints.
 */
export async function runGcScript(
  name: string,
  ...args: string[]
): Promise<Record<string, unknown>> {
  const script = new URL(`./testdata/${name}`, import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--v8-flags=--expose-gc", script.pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `${name} exited with ${code}:\n${new TextDecoder().decode(stderr)}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(stdout));
}
