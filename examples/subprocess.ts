// deno run --allow-run examples/subprocess.ts
//
// Talks to a child process line by line through a PipeIOStream wrapped
// around its stdin and stdout. The child is `deno eval` running a small
// upper-casing filter, so the example works wherever Deno does (`cat`
// would not exist on Windows).
import { PipeIOStream } from "../iostream/mod.ts";

const CHILD = `
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = "";
  for await (const chunk of Deno.stdin.readable) {
    pending += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = pending.indexOf("\\n")) >= 0) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      await Deno.stdout.write(encoder.encode(line.toUpperCase() + "\\n"));
    }
  }
`;

const child = new Deno.Command(Deno.execPath(), {
  args: ["eval", CHILD],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const pipe = new PipeIOStream({
  writable: child.stdin,
  readable: child.stdout,
});
const decoder = new TextDecoder();

for (const line of ["hello", "from the parent", "through a pipe"]) {
  await pipe.write(`${line}\n`);
  const reply = decoder.decode(await pipe.readUntil("\n")).trimEnd();
  console.log(`sent "${line}", child answered "${reply}"`);
}
pipe.close(); // closes the child's stdin: it reaches end of input and exits
const status = await child.status;
console.log(`child exited with code ${status.code}`);
