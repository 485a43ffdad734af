import * as tf from '@tensorflow/tfjs';
import { weightedSum, type GradientMethod } from '../core/method.js';

/**
 * Grad-CAM++ (Chattopadhay et al., WACV 2018, arXiv 1710.11063), closed form for an exponential
 * score: `α_ij = g² / (2g² + Σ_ab A_ab · g³ + 1e-6)` (0 where g = 0), `w_k = Σ_ij α_ij · ReLU(g_ij)`.
 */
export const gradcamPlusPlus: GradientMethod = {
  name: 'gradcam++',
  title: 'Grad-CAM++',
  needs: 'gradients',
  classSpecific: true,
  cam: (activations, gradients) => tf.tidy(() => {
    const g = gradients;
    const g2 = g.square();
    const sumA = activations.sum([1, 2], true);
    const alpha = g2.div(g2.mul(2).add(sumA.mul(g2.mul(g))).add(1e-6));
    const aij = tf.where(g.notEqual(0), alpha, tf.zerosLike(alpha));
    return weightedSum(activations, aij.mul(tf.relu(g)).sum([1, 2]) as tf.Tensor2D);
  }),
};
