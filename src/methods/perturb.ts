/**
 * The loop shared by the perturbation methods (Score-CAM, Ablation-CAM): for each image, C perturbed
 * copies (one per channel) run through the network in batches of `ctx.batchSize`, and every class
 * explained for that image is scored from the same logits.
 */
import * as tf from '@tensorflow/tfjs';
import type { CamContext } from '../core/method.js';

/**
 * Scores `[M, C]`: entry (m, k) is `sign · logit[classes[m]]` of the k-th perturbed copy of row m's image.
 * `perturbed(m, k0, n)` returns logits `[n, classes]` for channels `k0 … k0+n−1` of the image of row m.
 */
export function perturbationScores(ctx: CamContext, perturbed: (m: number, k0: number, n: number) => tf.Tensor2D): Float32Array {
  const [m, , , c] = ctx.activations.shape;
  const scores = new Float32Array(m * c);
  const batch = Math.max(1, ctx.batchSize);
  const byImage = new Map<number, number[]>();
  ctx.rows.forEach((row, i) => byImage.set(row, [...(byImage.get(row) ?? []), i]));
  for (const pairs of byImage.values()) {
    const cols = tf.tensor1d(pairs.map((i) => ctx.classes[i]), 'int32');
    for (let k0 = 0; k0 < c; k0 += batch) {
      const n = Math.min(batch, c - k0);
      const s = tf.tidy(() => tf.gather(perturbed(pairs[0], k0, n), cols, 1).mul(ctx.sign).dataSync());
      pairs.forEach((pair, j) => { for (let k = 0; k < n; k++) scores[pair * c + k0 + k] = s[k * pairs.length + j]; });
    }
    cols.dispose();
  }
  return scores;
}
