/**
 * Guided backpropagation (Springenberg et al. 2015) and Guided Grad-CAM (Selvaraju et al. 2017, §3):
 * pixel-level saliency. Guided backpropagation is the gradient of the class score with respect to the
 * input pixels, where every ReLU lets a gradient through only where both its input and the incoming
 * gradient are positive. Guided Grad-CAM multiplies it by the (upsampled) CAM, which makes it
 * class-discriminative. The results are images at the network's input resolution, not layer maps.
 */
import * as tf from '@tensorflow/tfjs';
import type { ExplainableModel } from '../model/types.js';
import { classScores } from '../targets/index.js';
import { explain, targetPicker, withCpuFallback, type ExplainOptions, type Grid, type ImageExplanation } from './explain.js';
import { withGradients } from './gradients.js';
import { preprocessBatch, type ImageInput, type RgbImage } from './image.js';

/** Options of {@link guidedBackprop}. */
export type GuidedOptions = Pick<ExplainOptions, 'targets' | 'top' | 'batchSize' | 'counterfactual' | 'onWarning'>;

/** The guided backpropagation of one class in one image. */
export interface GuidedTarget {
  classIndex: number;
  className: string;
  /** Network input width and height: the size of `saliency`. */
  width: number;
  height: number;
  /** Guided gradient with respect to the preprocessed input, `height × width × 3`, row-major RGB. */
  saliency: Float32Array;
  /** Set by {@link guidedGradcam}: `saliency` × the upsampled CAM. */
  guidedGradcam?: Float32Array;
}

/** ReLU gradients gated by the sign of the incoming gradient too (guided backpropagation). */
const GUIDED: tf.GradConfig[] = [
  { kernelName: 'Relu', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.relu(dy as tf.Tensor).mul(tf.step(x)) }) },
  {
    kernelName: 'Relu6', inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => tf.relu(dy as tf.Tensor).mul(tf.step(x).mul(tf.lessEqual(x, 6).toFloat())) }),
  },
];

/**
 * Guided backpropagation for each image and class (classes chosen as in {@link explain}: `targets`,
 * `top`). The model itself is not changed: the guided ReLU gradients are registered only while the
 * input gradient is computed. One backward pass per batch; falls back to the cpu backend where an
 * input-gradient kernel is missing (depthwise convolutions on wasm).
 */
export async function guidedBackprop(model: ExplainableModel, images: ImageInput[], opts: GuidedOptions = {}): Promise<GuidedTarget[][]> {
  const targetsOf = targetPicker(model, images.length, opts);
  const batchSize = Math.max(1, opts.batchSize ?? 8);
  const [height, width] = model.preprocessing.size;
  const out: GuidedTarget[][] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    const compute = () => withGradients(GUIDED, () => tf.tidy(() => {
      const x = preprocessBatch(batch, model.preprocessing);
      const logits = model.logits(x);
      const k = logits.shape[1];
      const all = logits.dataSync() as Float32Array;
      const pairs = batch.flatMap((_, row) => targetsOf(start + row, all.subarray(row * k, row * k + k)).map((cls) => ({ row, cls })));
      const xs = tf.gather(x, tf.tensor1d(pairs.map((p) => p.row), 'int32'));
      const classes = pairs.map((p) => p.cls);
      const g = tf.grad((xi) => classScores(model.logits(xi as tf.Tensor4D), classes, opts.counterfactual ? -1 : 1).sum())(xs);
      return { pairs, data: g.dataSync() as Float32Array };
    }));
    const { value } = await withCpuFallback(model, 'guided backpropagation', compute, opts.onWarning);
    const size = height * width * 3;
    out.push(...batch.map((_, row) => value.pairs.flatMap((p, m) => (p.row !== row ? [] : [{
      classIndex: p.cls, className: model.labels[p.cls], width, height, saliency: value.data.slice(m * size, (m + 1) * size),
    }]))));
  }
  return out;
}

/**
 * Guided Grad-CAM: `saliency × CAM`, the CAM (a normalised layer-resolution map such as a target's
 * `cam`) upsampled bilinearly to the saliency's size. Works with the map of any method.
 */
export function combineGuided(target: GuidedTarget, cam: Grid): Float32Array {
  const up = tf.tidy(() => {
    const u = tf.image.resizeBilinear(tf.tensor3d(cam.data, [cam.height, cam.width, 1]), [target.height, target.width], false, true);
    const lo = u.min();
    return u.sub(lo).div(u.max().sub(lo).add(1e-7)).dataSync() as Float32Array;
  });
  return target.saliency.map((v, i) => v * up[Math.floor(i / 3)]);
}

/**
 * Guided Grad-CAM for each image and class: {@link explain} (any method: `opts.method`), then
 * {@link guidedBackprop} for the same classes, multiplied by each target's CAM.
 */
export async function guidedGradcam(
  model: ExplainableModel, images: ImageInput[], opts: ExplainOptions = {},
): Promise<{ explanation: ImageExplanation; targets: GuidedTarget[] }[]> {
  const explanations = await explain(model, images, opts);
  const guided = await guidedBackprop(model, images, {
    ...opts, targets: explanations.map((e) => e.targets.map((t) => t.classIndex)), top: 0,
  });
  return explanations.map((explanation, i) => ({
    explanation,
    targets: guided[i].map((g, k) => ({ ...g, guidedGradcam: combineGuided(g, explanation.targets[k].cam) })),
  }));
}

/**
 * A saliency (`height × width × 3`) as an RGB image, the usual way (pytorch-grad-cam's
 * `deprocess_image`): standardised, scaled by 0.1 around mid-grey, clipped.
 */
export function saliencyImage(saliency: Float32Array, width: number, height: number): RgbImage {
  let mean = 0;
  for (const v of saliency) mean += v;
  mean /= saliency.length;
  let sq = 0;
  for (const v of saliency) sq += (v - mean) ** 2;
  const std = Math.sqrt(sq / saliency.length);
  const data = new Uint8Array(saliency.length);
  for (let i = 0; i < saliency.length; i++) {
    data[i] = Math.round(255 * Math.min(1, Math.max(0, ((saliency[i] - mean) / (std + 1e-5)) * 0.1 + 0.5)));
  }
  return { data, width, height, channels: 3 };
}
