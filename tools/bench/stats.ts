/**
 * Timing helpers for the benchmark. Every figure the bench reports is a ratio of two medians taken
 * in the same run, with the operations interleaved one by one, so a noisy shared machine slows both
 * sides of a ratio alike.
 */

export interface Summary {
  n: number;
  median: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile of sorted values (p in 0..100). */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((s, v) => s + v, 0);
  return {
    n: sorted.length,
    median:
      sorted.length % 2 === 1
        ? sorted[(sorted.length - 1) / 2]!
        : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2,
    p99: percentile(sorted, 99),
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** One timed operation; `run` gets the iteration number and may record extra marks into `marks`. */
export interface TimedOp {
  name: string;
  run: (i: number, marks: Map<string, number>) => Promise<unknown>;
  /** Untimed work after each run (waiting for background work it started), so the next run doesn't meet it. */
  after?: (i: number) => Promise<unknown>;
}

export interface InterleaveOptions {
  warmup: number;
  iterations: number;
  /** Stop measuring early (after at least `minIterations`) once this many ms have passed. */
  budgetMs?: number;
  minIterations?: number;
}

/**
 * Runs the operations one after the other, `iterations` times, rotating which goes first in each
 * round, and returns each one's durations in ms (and any marks, as ms since the op started).
 * Warm-up rounds run first and are discarded.
 */
export async function interleave(ops: readonly TimedOp[], options: InterleaveOptions): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(ops.map((o) => [o.name, []]));
  const record = (key: string, v: number) => {
    let list = samples.get(key);
    if (!list) samples.set(key, (list = []));
    list.push(v);
  };
  for (let w = 0; w < options.warmup; w++) {
    for (const op of ops) {
      await op.run(-1 - w, new Map());
      await op.after?.(-1 - w);
    }
  }
  const started = performance.now();
  for (let i = 0; i < options.iterations; i++) {
    for (let k = 0; k < ops.length; k++) {
      const op = ops[(i + k) % ops.length]!;
      const marks = new Map<string, number>();
      const t0 = performance.now();
      await op.run(i, marks);
      record(op.name, performance.now() - t0);
      for (const [mark, at] of marks) record(`${op.name}:${mark}`, at - t0);
      await op.after?.(i);
    }
    if (
      options.budgetMs !== undefined &&
      i + 1 >= (options.minIterations ?? 0) &&
      performance.now() - started > options.budgetMs
    )
      break;
  }
  return samples;
}

export const ms = (v: number) =>
  Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : "-";
