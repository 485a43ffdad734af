import * as tf from '@tensorflow/tfjs';
import { termsSum, type CamMethod } from '../core/method.js';

/**
 * LayerCAM (Jiang et al., IEEE TIP 2021): every position weighted by its own positive gradient,
 * `L = ReLU(Σ_k ReLU(g_k) ⊙ A_k)`. Works on early, high-resolution layers too.
 */
export const layercam: CamMethod = {
  name: 'layercam',
  title: 'LayerCAM',
  needsGradients: true,
  classSpecific: true,
  cam: ({ activations, gradients }) => tf.tidy(() => termsSum(tf.relu(gradients!).mul(activations))),
};
