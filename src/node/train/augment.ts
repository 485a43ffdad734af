/** Image augmentation for training: random crop, horizontal flip and brightness, one op per batch. */
import * as tf from '@tensorflow/tfjs';
import type { Preprocessing } from '../../model/types.js';

/** Ranges of the random changes. */
export interface AugmentOptions {
  /** Smallest crop side as a fraction of the image side (default 0.8; 1 = no cropping). */
  minCrop?: number;
  /** Flip half the images left–right (default true). */
  flip?: boolean;
  /** Brightness factor drawn from [1 − b, 1 + b] (default 0.25). */
  brightness?: number;
}

/**
 * Augments a preprocessed batch `[N, H, W, 3]` (values in the model's input scale): every image gets
 * its own random crop (resized back to H×W), flip and brightness change. `random` gives numbers in [0, 1).
 */
export function augmentBatch(x: tf.Tensor4D, pre: Preprocessing, random: () => number, opts: AugmentOptions = {}): tf.Tensor4D {
  const minCrop = opts.minCrop ?? 0.8;
  const flip = opts.flip ?? true;
  const b = opts.brightness ?? 0.25;
  const n = x.shape[0];
  const boxes: number[][] = [];
  const factors: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = minCrop + (1 - minCrop) * random();
    const y1 = (1 - s) * random();
    const x1 = (1 - s) * random();
    // x1 > x2 makes cropAndResize mirror the crop: the flip comes for free.
    boxes.push(flip && random() < 0.5 ? [y1, x1 + s, y1 + s, x1] : [y1, x1, y1 + s, x1 + s]);
    factors.push(1 - b + 2 * b * random());
  }
  return tf.tidy(() => {
    const [H, W] = [x.shape[1], x.shape[2]];
    const cropped = tf.image.cropAndResize(x, tf.tensor2d(boxes), tf.range(0, n, 1, 'int32') as tf.Tensor1D, [H, W]);
    // Brightness scales the pixel values 0..255, i.e. the input's distance from its black level.
    const f = tf.tensor4d(factors, [n, 1, 1, 1]);
    if (pre.mean && pre.std) {
      const mean = tf.tensor1d(pre.mean);
      const std = tf.tensor1d(pre.std);
      return cropped.mul(std).add(mean).mul(f).clipByValue(0, 1).sub(mean).div(std) as tf.Tensor4D;
    }
    const [lo, hi] = pre.range;
    return cropped.sub(lo).mul(f).clipByValue(0, hi - lo).add(lo) as tf.Tensor4D;
  });
}
