/**
 * Deletion and Insertion (Petsiuk et al., BMVC 2018, RISE §4.1). Pixels are taken in the map's
 * order, most relevant first, `ceil(H·W / steps)` per step. Deletion replaces them, step by step,
 * with a baseline (default `zero`: 0 in the model's input space); insertion starts from a baseline
 * (default `blur`) and puts the original pixels back. Each curve is the class probability (softmax)
 * at the `steps + 1` points; its area (x in [0, 1]) is the score: deletion lower is better,
 * insertion higher is better. All points of a curve run through the model in batches.
 */
import * as tf from '@tensorflow/tfjs';
import { nextTask } from '../core/pipeline.js';
import type { ExplainableModel } from '../model/types.js';
import { auc, baselineImage, blendProbabilities, inputTensor, relevanceOrder, type MetricCase, type PerturbBaseline } from './common.js';

/** Options of {@link deletionInsertion}. */
export interface DeletionOptions {
  /** Number of steps from 0 to all pixels (default 50: 51 points per curve). */
  steps?: number;
  /** What deleted pixels become (default `zero`). */
  deletionBaseline?: PerturbBaseline;
  /** The canvas insertion starts from (default `blur`). */
  insertionBaseline?: PerturbBaseline;
  /** Images per forward pass (default 16). */
  batchSize?: number;
}

/** A case's two curves and their areas. */
export interface DeletionScore {
  deletion: number[];
  insertion: number[];
  deletionAuc: number;
  insertionAuc: number;
}

/** Deletion and insertion curves for every case. */
export async function deletionInsertion(model: ExplainableModel, cases: MetricCase[], opts: DeletionOptions = {}): Promise<DeletionScore[]> {
  const steps = Math.max(1, opts.steps ?? 50);
  const out: DeletionScore[] = [];
  for (const c of cases) {
    const [H, W] = c.size;
    const order = relevanceOrder(c.map);
    const rank = new Float32Array(order.length);
    order.forEach((p, r) => { rank[p] = r; });
    // Point k of each curve: the pixels of rank < counts[k] are taken. Deletion goes from the image to
    // its baseline, insertion from its baseline to the image.
    const counts = Array.from({ length: steps + 1 }, (_, k) => Math.min(H * W, Math.ceil((k * H * W) / steps)));
    const [x, del, rankT] = tf.tidy(() => {
      const x = inputTensor(c);
      return [x, baselineImage(x, opts.deletionBaseline ?? 'zero'), tf.tensor2d(rank, [H, W])];
    });
    let ins: tf.Tensor3D | undefined;
    try {
      // Both curves at once, sharing the model's runtime; the deletion curve's first batches run
      // while the insertion canvas (a blur, ~15 ms) is made.
      const deletion = blendProbabilities(model, x, del, rankT, counts, c.classIndex, opts.batchSize);
      deletion.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
      await nextTask();
      ins = baselineImage(x, opts.insertionBaseline ?? 'blur');
      const insertion = blendProbabilities(model, ins, x, rankT, counts, c.classIndex, opts.batchSize);
      const [d, i] = (await Promise.all([deletion, insertion])).map((v) => Array.from(v));
      out.push({ deletion: d, insertion: i, deletionAuc: auc(d), insertionAuc: auc(i) });
    } finally {
      tf.dispose([x, del, rankT, ...(ins ? [ins] : [])]);
    }
  }
  return out;
}
