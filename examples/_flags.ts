// Command-line flags for the examples, parsed with node:util's parseArgs.
import { parseArgs, type ParseArgsConfig } from "node:util";

/**
 * Parses `Deno.args` as string and boolean flags. Skips a leading "--"
 * (`deno task serve -- --port 0` passes it along); on a bad flag prints the
 * problem and exits with code 2.
 */
export function parseFlags<O extends NonNullable<ParseArgsConfig["options"]>>(
  options: O,
): ReturnType<typeof parseArgs<{ options: O }>>["values"] {
  const args = Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args;
  try {
    return parseArgs({ args, options }).values;
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    Deno.exit(2);
  }
}

/** Reads a port flag; exits with code 2 unless it is an integer in range. */
export function portFlag(value: string, min = 0): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < min || port > 65535) {
    console.error(`--port must be ${min}-65535, got "${value}"`);
    Deno.exit(2);
  }
  return port;
}
