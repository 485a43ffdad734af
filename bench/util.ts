/** Timing helpers for the benchmarks: several repetitions, min and median. */
export interface Timing { min: number; median: number; runs: number }

/** Times `fn` `runs` times after `warmup` untimed calls. */
export async function time(fn: () => unknown | Promise<unknown>, runs = 5, warmup = 1): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return { min: ms[0], median: ms[Math.floor(ms.length / 2)], runs };
}

/**
 * {@link time} for several functions whose times are compared: each round runs every one in turn,
 * so that the machine's drift (it is shared) weighs on all of them alike.
 */
export async function timeAlternating(fns: (() => unknown | Promise<unknown>)[], runs = 5, warmup = 1): Promise<Timing[]> {
  for (let i = 0; i < warmup; i++) for (const fn of fns) await fn();
  const times = fns.map((): number[] => []);
  for (let i = 0; i < runs; i++) {
    for (const [j, fn] of fns.entries()) {
      const t = performance.now();
      await fn();
      times[j].push(performance.now() - t);
    }
  }
  return times.map((ms) => {
    ms.sort((a, b) => a - b);
    return { min: ms[0], median: ms[Math.floor(ms.length / 2)], runs };
  });
}

/** Formats milliseconds. */
export const ms = (v: number) => `${v.toFixed(1)} ms`;

/** Prints a Markdown table. */
export function table(header: string[], rows: (string | number)[][]): void {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}
