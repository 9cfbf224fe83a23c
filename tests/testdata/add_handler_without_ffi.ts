// Run without --allow-ffi: addHandler must fail with a clear Error.
import { IOLoop, READ } from "../../ioloop/mod.ts";

const loop = new IOLoop({ makeCurrent: false });
try {
  loop.addHandler(0, () => {}, READ);
  console.log("no error");
} catch (err) {
  console.log(`${(err as Error).name}: ${(err as Error).message}`);
} finally {
  loop.close();
}
