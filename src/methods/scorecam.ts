import * as tf from '@tensorflow/tfjs';
import { weightedSum, type PerturbationMethod } from '../core/method.js';
import { perturbationScores } from './perturb.js';

/**
 * Score-CAM (Wang et al., CVPR-W 2020, arXiv 1910.01279), as pytorch-grad-cam: each channel,
 * upsampled to the input (bilinear, corners aligned) and min–max normalised (eps 1e-8), masks the
 * preprocessed input; the target score of each masked input is that channel's score, and
 * `w = softmax_k(score)`. No gradients; C forward passes per image, batched by `batchSize` (the
 * method builds the masks `[n, H, W, 1]`; the core or the model's runtime multiplies).
 */
export const scorecam: PerturbationMethod = {
  name: 'scorecam',
  title: 'Score-CAM',
  needs: 'scores',
  classSpecific: true,
  cam: async (ctx) => {
    const { activations } = ctx;
    const [m, h, w, c] = activations.shape;
    const scores = await perturbationScores(ctx, (pair, k0, n) => tf.tidy(() => {
      const [, H, W] = ctx.input(pair).shape;
      const channels = activations.slice([pair, 0, 0, k0], [1, h, w, n]).transpose([3, 1, 2, 0]) as tf.Tensor4D;
      const up = tf.image.resizeBilinear(channels, [H, W], true);
      const lo = up.min([1, 2], true);
      return up.sub(lo).div(up.max([1, 2], true).sub(lo).add(1e-8)) as tf.Tensor4D;
    }), ctx.scoreMasked);
    return tf.tidy(() => weightedSum(activations, tf.softmax(tf.tensor2d(scores, [m, c]))));
  },
};
