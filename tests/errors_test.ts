import assert from "node:assert/strict";
import {
  CancelledError,
  InvalidStateError,
  TimeoutError,
} from "@squall/io/concurrent";

Deno.test("error classes set their name, keep the cause and are distinct", () => {
  const cause = new Error("root");
  for (const Cls of [TimeoutError, CancelledError, InvalidStateError]) {
    const err = new Cls("failed", { cause });
    assert.ok(err instanceof Error);
    assert.equal(err.name, Cls.name);
    assert.equal(err.message, "failed");
    assert.equal(err.cause, cause);
    assert.ok(new Cls().message.length > 0);
  }
  assert.ok(!(new TimeoutError() instanceof CancelledError));
});
