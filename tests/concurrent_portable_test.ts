// Copyright the squall authors. MIT license.

import assert from "node:assert/strict";

const MOD_URL = import.meta.resolve("../concurrent/mod.ts");

/** Runs a command; returns its exit code and decoded output. */
async function run(
  command: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

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
  const { code, stdout, stderr } = await run(Deno.execPath(), [
    "eval",
    "--ext=js",
    script,
  ]);
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout), {
    future: "future",
    timeout: "TimeoutError",
    slept: true,
    dummy: 3,
    worker: 42,
    denoGone: "undefined",
  });
});

async function hasNode(): Promise<boolean> {
  try {
    const { code } = await new Deno.Command("node", { args: ["--version"] })
      .output();
    return code === 0;
  } catch {
    return false;
  }
}

// CI installs Deno through npm, so Node is there; elsewhere this is skipped.
Deno.test({
  name: "concurrent runs on Node.js once bundled; WorkerExecutor says why not",
  ignore: !(await hasNode()),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const bundle = `${dir}/concurrent.mjs`;
      const built = await run(Deno.execPath(), [
        "bundle",
        "--platform=browser",
        "-o",
        bundle,
        MOD_URL,
      ]);
      assert.equal(built.code, 0, built.stderr);
      const check = `${dir}/check.mjs`;
      await Deno.writeTextFile(
        check,
        `
        import * as m from "./concurrent.mjs";
        const out = {};
        const f = new m.Future();
        setTimeout(() => f.setResult("future"), 1);
        out.future = await f;
        out.timeout = await m.withTimeout(0, new m.Future()).catch((e) => e.name);
        await m.sleep(1);
        out.dummy = await new m.DummyExecutor().submit((a, b) => a + b, 1, 2);
        const ignored = new m.Future();
        ignored.setException(new Error("never awaited"));
        try {
          new m.WorkerExecutor();
        } catch (e) {
          out.worker = e.message;
        }
        console.log(JSON.stringify(out));
        `,
      );
      const node = await run("node", [check]);
      assert.equal(node.code, 0, node.stderr);
      const out = JSON.parse(node.stdout);
      assert.equal(out.future, "future");
      assert.equal(out.timeout, "TimeoutError");
      assert.equal(out.dummy, 3);
      assert.match(out.worker, /no Web Worker API/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
