import * as tf from '@tensorflow/tfjs';
import { weightedSum, type PerturbationMethod } from '../core/method.js';
import { perturbationScores } from './perturb.js';

/**
 * Ablation-CAM (Desai & Ramaswamy, WACV 2020): channel k of the layer's activation is set to 0 and the
 * rest of the network run again; `w_k = (y − y_k) / |y|`, the relative drop of the target score.
 * (pytorch-grad-cam divides by the signed `y`; they agree whenever `y > 0`.) No gradients; C runs of
 * the head per image, batched by `batchSize`.
 */
export const ablationcam: PerturbationMethod = {
  name: 'ablationcam',
  title: 'Ablation-CAM',
  needs: 'scores',
  classSpecific: true,
  cam: async (ctx) => {
    const { activations } = ctx;
    const [m, h, w, c] = activations.shape;
    const row = (pair: number) => activations.slice([pair, 0, 0, 0], [1, h, w, c]);
    const ablated = await perturbationScores(ctx, (pair, k0, n) => tf.tidy(() => {
      const keep = tf.scalar(1).sub(tf.oneHot(tf.range(k0, k0 + n, 1, 'int32'), c)).reshape([n, 1, 1, c]);
      return row(pair).mul(keep) as tf.Tensor4D;
    }), ctx.scoreActivations);
    const base = new Float32Array(m);
    for (let pair = 0; pair < m; pair++) {
      const a = row(pair);
      try {
        base[pair] = (await ctx.scoreActivations(pair, a))[0];
      } finally {
        a.dispose();
      }
    }
    return tf.tidy(() => {
      const y = tf.tensor2d(base, [m, 1]);
      const drop = y.sub(tf.tensor2d(ablated, [m, c])).div(y.abs().maximum(1e-12));
      return weightedSum(activations, drop as tf.Tensor2D);
    });
  },
};
