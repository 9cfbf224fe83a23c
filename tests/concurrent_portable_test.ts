// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";

const MOD_URL = import.meta.resolve("../concurrent/mod.ts");

Deno.test("concurrent/ source uses no Deno API", async () => {
  const dir = new URL("../concurrent/", import.meta.url);
  let files = 0;
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    files++;
    const text = await Deno.readTextFile(new URL(entry.name, dir));
    assert.doesNotMatch(
      text,
      /\bDeno\.[A-Za-z_$]|globalThis\.Deno\b|\bDeno\[/,
      `${entry.name} refers to the Deno namespace`,
    );
  }
  assert.ok(files >= 10, `only ${files} files read`);
});

Deno.test("concurrent works with globalThis.Deno deleted (subprocess)", async () => {
  const script = `
    delete globalThis.Deno;
    const m = await import(${JSON.stringify(MOD_URL)});
    const out = {};
    const f = new m.Future();
    setTimeout(() => f.setResult("future"), 1);
    out.future = await f;
    out.timeout = await m.withTimeout(0, new m.Future()).catch((e) => e.name);
    await m.sleep(1);
    out.slept = true;
    out.dummy = await new m.DummyExecutor().submit((a, b) => a + b, 1, 2);
    const pool = new m.WorkerExecutor({ size: 1 });
    out.worker = await pool.submit((n) => n * 2, 21);
    pool.shutdown();
    out.denoGone = typeof globalThis.Deno;
    console.log(JSON.stringify(out));
  `;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=js", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, err);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout)), {
    future: "future",
    timeout: "TimeoutError",
    slept: true,
    dummy: 3,
    worker: 42,
    denoGone: "undefined",
  });
});
