import * as tf from '@tensorflow/tfjs';
import { weightedSum, type GradientMethod } from '../core/method.js';

/**
 * XGrad-CAM (Fu et al., BMVC 2020, arXiv 2008.02312): `w_k = Σ_ij g_ij A_ij / (Σ_ij A_ij + 1e-7)`.
 */
export const xgradcam: GradientMethod = {
  name: 'xgradcam',
  title: 'XGrad-CAM',
  needs: 'gradients',
  classSpecific: true,
  cam: (activations, gradients) => tf.tidy(() =>
    weightedSum(activations, gradients.mul(activations).sum([1, 2]).div(activations.sum([1, 2]).add(1e-7)) as tf.Tensor2D)),
};
