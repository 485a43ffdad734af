import * as tf from '@tensorflow/tfjs';
import { termsSum, type GradientMethod } from '../core/method.js';

/**
 * LayerCAM (Jiang et al., IEEE TIP 2021): every position weighted by its own positive gradient,
 * `L = ReLU(Σ_k ReLU(g_k) ⊙ A_k)`. Works on early, high-resolution layers too.
 */
export const layercam: GradientMethod = {
  name: 'layercam',
  title: 'LayerCAM',
  needs: 'gradients',
  classSpecific: true,
  cam: (activations, gradients) => tf.tidy(() => termsSum(tf.relu(gradients).mul(activations))),
};
