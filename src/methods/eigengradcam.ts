import * as tf from '@tensorflow/tfjs';
import { project2d } from '../core/smooth.js';
import type { GradientMethod } from '../core/method.js';

/**
 * Eigen-Grad-CAM (pytorch-grad-cam): Eigen-CAM of the class-specific `gradients ⊙ activations`, i.e.
 * the first principal component of HiResCAM's terms.
 */
export const eigengradcam: GradientMethod = {
  name: 'eigengradcam',
  title: 'Eigen-Grad-CAM',
  needs: 'gradients',
  classSpecific: true,
  cam: (activations, gradients) => ({ cam: tf.tidy(() => project2d(gradients.mul(activations) as tf.Tensor4D)) }),
};
