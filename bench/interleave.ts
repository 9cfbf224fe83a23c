// deno run -A bench/interleave.ts [rounds=60] [group filter]
//
// A steadier second opinion on bench/*_bench.ts for a busy machine: it
// loads the bench files with Deno.bench captured, runs every case of a
// group round-robin (so background load hits all cases alike) and prints
// median times and ratios to the group's baseline.
type Case = {
  name: string;
  group: string;
  baseline?: boolean;
  fn: () => Promise<void>;
};

const OPS_PER_ITERATION = 10_000; // every case in these files does 10,000

const cases: Case[] = [];
const realBench = Deno.bench;
(Deno as { bench: unknown }).bench = (c: Case) => cases.push(c);
try {
  await import("./locks_bench.ts");
  await import("./queues_bench.ts");
} finally {
  (Deno as { bench: unknown }).bench = realBench;
}

const rounds = Number(Deno.args[0] ?? 60);
const filter = Deno.args[1] ?? "";
const selected = cases.filter((c) => c.group.includes(filter));
const times = new Map<Case, number[]>(selected.map((c) => [c, []]));
for (const c of selected) for (let i = 0; i < 5; i++) await c.fn(); // warm up
for (let r = 0; r < rounds; r++) {
  for (const c of selected) {
    const start = performance.now();
    await c.fn();
    times.get(c)!.push(performance.now() - start);
  }
}

function median(c: Case): number {
  const sorted = [...times.get(c)!].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

for (const group of new Set(selected.map((c) => c.group))) {
  const members = selected.filter((c) => c.group === group);
  const base = median(members.find((c) => c.baseline) ?? members[0]!);
  console.log(group);
  for (const c of members) {
    const ms = median(c);
    console.log(
      `  ${c.name.padEnd(40)} ${(ms * 1000).toFixed(0).padStart(6)} µs` +
        `  ${(OPS_PER_ITERATION / ms / 1000).toFixed(1).padStart(5)} M ops/s` +
        `  ratio ${(base / ms).toFixed(2)}`,
    );
  }
}
