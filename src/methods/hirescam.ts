import { termsSum, type GradientMethod } from '../core/method.js';

/**
 * HiResCAM (Draelos & Carin 2020, arXiv 2011.08891): the gradient times the activation, element-wise,
 * summed over channels — no spatial averaging of the gradient. Equals Grad-CAM when the head is a
 * global average pool followed by linear layers.
 */
export const hirescam: GradientMethod = {
  name: 'hirescam',
  title: 'HiResCAM',
  needs: 'gradients',
  classSpecific: true,
  cam: (activations, gradients) => termsSum(gradients.mul(activations)),
};
