/**
 * `eval … --queue`: each image is evaluated by a worker (`evaluate` on that image alone, every
 * method and baseline), and the enqueuing command merges the per-image cases into one result: the
 * means and curves are recomputed over all cases in file order, as `evaluate` computes them. The
 * random baseline and ROAD's noise are seeded per image (not per run), so those rows differ slightly
 * from a local run's; every method's own cases are the same.
 */
import { averageDrop, increaseInConfidence, mean, type EvalResult, type MethodResult } from '../metrics/index.js';
import { runQueued, type QueuedRunOptions, type QueuedRunResult } from './enqueue.js';

const meanCurve = (curves: number[][]) => curves[0]?.map((_, i) => mean(curves.map((c) => c[i])));

/** Merges one-image results (in file order) into the result of all images. */
export function mergeEval(parts: EvalResult[]): EvalResult {
  const first = parts[0];
  const methods = first.methods.map((m0, k): MethodResult => {
    const cases = parts.flatMap((p, i) => p.methods[k].cases.map((c) => ({ ...c, image: i })));
    const out: MethodResult = { method: m0.method, title: m0.title, baseline: m0.baseline, cases };
    if (m0.averageDrop !== undefined) {
      const conf = cases.map((c) => ({ probability: c.probability, maskedProbability: c.maskedProbability! }));
      Object.assign(out, { averageDrop: averageDrop(conf), increaseInConfidence: increaseInConfidence(conf) });
    }
    if (m0.deletionAuc !== undefined) {
      Object.assign(out, {
        deletionAuc: mean(cases.map((c) => c.deletionAuc!)), insertionAuc: mean(cases.map((c) => c.insertionAuc!)),
        deletionCurve: meanCurve(cases.map((c) => c.deletion!)), insertionCurve: meanCurve(cases.map((c) => c.insertion!)),
      });
    }
    if (m0.road !== undefined) {
      Object.assign(out, { road: mean(cases.map((c) => c.road!)), roadMorf: meanCurve(cases.map((c) => c.roadMorf!)), roadLerf: meanCurve(cases.map((c) => c.roadLerf!)) });
    }
    const boxed = cases.filter((c) => c.pointingHit !== undefined);
    if (boxed.length) {
      out.pointingGame = { hits: boxed.filter((c) => c.pointingHit).length, total: boxed.length };
      out.energy = mean(boxed.map((c) => c.energy!));
    }
    return out;
  });
  return { ...first, images: parts.length, methods };
}

/** Evaluates `files` on the queue; images that fail are reported through `onError` and left out. */
export async function evaluateQueued(
  files: string[], opts: Omit<QueuedRunOptions, 'onResult' | 'out'> & { eval: NonNullable<QueuedRunOptions['eval']> },
): Promise<{ result?: EvalResult; run: QueuedRunResult }> {
  const parts: (EvalResult | undefined)[] = files.map(() => undefined);
  const run = await runQueued(files, files.map((f) => f), {
    ...opts, out: '', onResult: (_file, index, result) => { parts[index] = result as EvalResult; },
  });
  const got = parts.filter((p): p is EvalResult => !!p);
  return { result: got.length ? mergeEval(got) : undefined, run };
}
