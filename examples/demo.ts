// deno run examples/demo.ts
//
// Placeholder demo until locks/ and queues/ land.
import { TimeoutError } from "../mod.ts";

console.log(`squall: ${new TimeoutError("demo").name} is ready`);
