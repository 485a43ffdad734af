import * as tf from '@tensorflow/tfjs';
import { weightedSum, type CamMethod } from '../core/method.js';
import { perturbationScores } from './perturb.js';

/**
 * Ablation-CAM (Desai & Ramaswamy, WACV 2020): channel k of the layer's activation is set to 0 and the
 * rest of the network run again; `w_k = (y − y_k) / |y|`, the relative drop of the class score.
 * (pytorch-grad-cam divides by the signed `y`; they agree whenever `y > 0`.) No gradients; C runs of
 * the head per image, batched by `batchSize`.
 */
export const ablationcam: CamMethod = {
  name: 'ablationcam',
  title: 'Ablation-CAM',
  needsGradients: false,
  classSpecific: true,
  cam: (ctx) => {
    const { activations, rows } = ctx;
    const [m, h, w, c] = activations.shape;
    const head = (a: tf.Tensor4D, at: number[]) => ctx.headLogits!(a, at);
    const ablated = perturbationScores(ctx, (pair, k0, n) => {
      const keep = tf.scalar(1).sub(tf.oneHot(tf.range(k0, k0 + n, 1, 'int32'), c)).reshape([n, 1, 1, c]);
      return head(activations.slice([pair, 0, 0, 0], [1, h, w, c]).mul(keep) as tf.Tensor4D, new Array<number>(n).fill(rows[pair]));
    });
    return tf.tidy(() => {
      const base = ctx.headScores(activations, rows, ctx.classes).reshape([m, 1]);
      const drop = base.sub(tf.tensor2d(ablated, [m, c])).div(base.abs().maximum(1e-12));
      return weightedSum(activations, drop as tf.Tensor2D);
    });
  },
};
