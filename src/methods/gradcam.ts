import { weightedSum, type GradientMethod } from '../core/method.js';

/**
 * Grad-CAM (Selvaraju et al., ICCV 2017, arXiv 1610.02391):
 * `w_k = 1/(h·w) Σ_ij ∂y^c/∂A^k_ij`, `L = ReLU(Σ_k w_k A^k)`.
 */
export const gradcam: GradientMethod = {
  name: 'gradcam',
  title: 'Grad-CAM',
  needs: 'gradients',
  classSpecific: true,
  cam: (activations, gradients) => weightedSum(activations, gradients.mean([1, 2])),
};
