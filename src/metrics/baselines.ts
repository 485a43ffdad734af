/**
 * Reference maps that every metric is also computed on, through the same `explain` pipeline (same
 * upsampling, peaks and perturbations), so that each figure has a reference point: a map carrying no
 * information about the image (uniform noise at the layer's resolution) and the centre prior (a
 * Gaussian centred on the image, σ = a quarter of the layer's size).
 */
import * as tf from '@tensorflow/tfjs';
import type { ActivationMethod } from '../core/method.js';
import { seededRandom } from './common.js';

/** A map of uniform noise at the layer's resolution, new for every map, reproducible from `seed`. */
export function randomBaseline(seed = 0): ActivationMethod {
  const rand = seededRandom(seed);
  return {
    name: 'random', title: 'random map', needs: 'activations', classSpecific: false,
    cam: (activations) => {
      const [m, h, w] = activations.shape;
      return { cam: tf.tensor3d(Float32Array.from({ length: m * h * w }, rand), [m, h, w]) };
    },
  };
}

/** The centre prior: a Gaussian centred on the layer's grid, σ = max(h, w) / 4 cells. */
export const centreBaseline: ActivationMethod = {
  name: 'centre', title: 'centre Gaussian', needs: 'activations', classSpecific: false,
  cam: (activations) => {
    const [m, h, w] = activations.shape;
    const s = Math.max(h, w) / 4;
    const g = Float32Array.from({ length: h * w }, (_, i) =>
      Math.exp(-(((Math.floor(i / w) - (h - 1) / 2) ** 2 + ((i % w) - (w - 1) / 2) ** 2) / (2 * s * s))));
    return { cam: tf.tidy(() => tf.tensor3d(g, [1, h, w]).tile([m, 1, 1]) as tf.Tensor3D) };
  },
};
