import * as tf from '@tensorflow/tfjs';
import { weightedSum, type PerturbationMethod } from '../core/method.js';
import { perturbationScores } from './perturb.js';

/**
 * Score-CAM (Wang et al., CVPR-W 2020, arXiv 1910.01279), as pytorch-grad-cam: each channel,
 * upsampled to the input (bilinear, corners aligned) and min–max normalised (eps 1e-8), masks the
 * preprocessed input; the target score of each masked input is that channel's score, and
 * `w = softmax_k(score)`. No gradients; C forward passes per image, batched by `batchSize`.
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
      const x = ctx.input(pair);
      const up = tf.image.resizeBilinear(activations.slice([pair, 0, 0, k0], [1, h, w, n]), [x.shape[1], x.shape[2]], true);
      const lo = up.min([1, 2], true);
      const masks = up.sub(lo).div(up.max([1, 2], true).sub(lo).add(1e-8)).transpose([3, 1, 2, 0]);
      return masks.mul(x) as tf.Tensor4D;
    }), ctx.scoreInputs);
    return tf.tidy(() => weightedSum(activations, tf.softmax(tf.tensor2d(scores, [m, c]))));
  },
};
