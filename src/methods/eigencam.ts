import { project2d } from '../core/smooth.js';
import type { ActivationMethod } from '../core/method.js';

/**
 * Eigen-CAM (Muhammad & Yeasin, IJCNN 2020, arXiv 2008.00299): the activations `[h·w, C]`, centred per
 * channel, projected onto their first principal component. No gradients, no class: every target of
 * an image gets the same map. The sign is chosen to agree with `Σ_k A_k` (see `core/smooth.ts`).
 */
export const eigencam: ActivationMethod = {
  name: 'eigencam',
  title: 'Eigen-CAM',
  needs: 'activations',
  classSpecific: false,
  cam: (activations) => ({ cam: project2d(activations) }),
};
