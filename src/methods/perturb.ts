/**
 * The loop shared by the perturbation methods (Score-CAM, Ablation-CAM): for each pair, C perturbed
 * copies (one per channel) are scored in batches of `ctx.batchSize`, the next batch built while one
 * is scored. (The core scores every target of
 * one image from the same forward batch, so several targets per image cost one set of passes.)
 */
import type * as tf from '@tensorflow/tfjs';
import type { PerturbationContext } from '../core/method.js';
import { Pipeline } from '../core/pipeline.js';

/**
 * Scores `[M, C]`: entry (m, k) is pair m's target score on its k-th perturbed copy.
 * `perturbed(m, k0, n)` builds the perturbed copies for channels `k0 … k0+n−1` of pair m (the loop
 * disposes them) and `score` scores them for pair m.
 */
export async function perturbationScores(
  ctx: PerturbationContext,
  perturbed: (m: number, k0: number, n: number) => tf.Tensor4D,
  score: (m: number, x: tf.Tensor4D) => Promise<Float32Array>,
): Promise<Float32Array> {
  const [m, , , c] = ctx.activations.shape;
  const scores = new Float32Array(m * c);
  const batch = Math.max(1, ctx.batchSize);
  const pipeline = new Pipeline();
  for (let pair = 0; pair < m; pair++) {
    for (let k0 = 0; k0 < c; k0 += batch) {
      const x = perturbed(pair, k0, Math.min(batch, c - k0));
      const at = pair * c + k0;
      await pipeline.add(score(pair, x).then((s) => scores.set(s, at)).finally(() => x.dispose()));
    }
  }
  await pipeline.drain();
  return scores;
}
