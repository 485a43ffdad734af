/**
 * Guided backpropagation (Springenberg et al. 2015) and Guided Grad-CAM (Selvaraju et al. 2017, §3):
 * pixel-level saliency. Guided backpropagation is the gradient of the class score with respect to the
 * input pixels, where every ReLU lets a gradient through only where both its input and the incoming
 * gradient are positive. Guided Grad-CAM multiplies it by the (upsampled) CAM, which makes it
 * class-discriminative. The results are images at the network's input resolution, not layer maps.
 */
import * as tf from '@tensorflow/tfjs';
import { GradcamError, type ExplainableModel } from '../model/types.js';
import type { Target } from '../targets/index.js';
import { targetPicker, withCpuFallback, type CoreExplainOptions } from './explain.js';
import { withGradients } from './gradients.js';
import { preprocessBatch, type ImageInput, type RgbImage } from './image.js';
import { tidyRead, upsampleMap } from './maps.js';
import { classLogits } from './outputs.js';
import type { Grid } from './types.js';

/** Options of {@link guidedBackprop}. */
export type GuidedOptions = Pick<CoreExplainOptions, 'targets' | 'top' | 'parse' | 'batchSize' | 'counterfactual' | 'onWarning'>;

/** The guided backpropagation of one target in one image. */
export interface GuidedTarget {
  /** The target's class (−1 for a target without one) and its name or description. */
  classIndex: number;
  className: string;
  /** The target's description. */
  target: string;
  /** Network input width and height: the size of `saliency`. */
  width: number;
  height: number;
  /** Guided gradient with respect to the preprocessed input, `height × width × channels`, row-major. */
  saliency: Float32Array;
  /** Set by `guidedGradcam`: `saliency` × the upsampled CAM. */
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
 * Guided backpropagation for each image and target (chosen as in `explain`: `targets`, `top`). The
 * model itself is not changed: the guided ReLU gradients are registered only while the input gradient
 * is computed. One backward pass per batch; falls back to the cpu backend where an input-gradient
 * kernel is missing. Needs the model's differentiable `forward`.
 */
export async function guidedBackprop(model: ExplainableModel, images: ImageInput[], opts: GuidedOptions = {}): Promise<GuidedTarget[][]> {
  const forward = model.forward?.bind(model);
  if (!forward) throw new GradcamError(`guided backpropagation needs a differentiable forward pass, which ${model.format} models do not offer`, model.source);
  const targetsOf = targetPicker(model, images.length, opts);
  const batchSize = Math.max(1, opts.batchSize ?? 8);
  const [height, width] = model.preprocessing.size;
  const channels = model.preprocessing.channels ?? 3;
  const labelOf = (c: number | undefined, name: string) => (c !== undefined && c >= 0 && c < model.labels.length ? model.labels[c] : name);
  const out: GuidedTarget[][] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    let pairs: { row: number; target: Target }[] = [];
    const compute = () => withGradients(GUIDED, () => tf.tidy(() => {
      const x = preprocessBatch(batch, model.preprocessing);
      const logits = classLogits(model, forward(x)[0]);
      const k = logits.shape[1];
      const all = logits.dataSync() as Float32Array;
      pairs = batch.flatMap((_, row) => targetsOf(start + row, all.subarray(row * k, row * k + k)).map((target) => ({ row, target })));
      return tf.grad((xi) => {
        const outs = forward(xi as tf.Tensor4D);
        return tf.addN(pairs.map((p, m) => p.target.score(outs.map((o) => o.slice(m, 1))).sum()));
      })(tf.gather(x, tf.tensor1d(pairs.map((p) => p.row), 'int32')));
    }));
    const { value: g } = await withCpuFallback(model, 'guided backpropagation', compute, opts.onWarning);
    const data = (await g.data()) as Float32Array; // read outside the tidy (returning a large array from it is slow)
    g.dispose();
    const size = height * width * channels;
    out.push(...batch.map((_, row) => pairs.flatMap((p, m) => (p.row !== row ? [] : [{
      classIndex: p.target.classIndex ?? -1, className: labelOf(p.target.classIndex, p.target.name), target: p.target.name,
      width, height, saliency: data.slice(m * size, (m + 1) * size),
    }]))));
  }
  return out;
}

/**
 * Guided Grad-CAM: `saliency × CAM`, the CAM (a normalised layer-resolution map such as a target's
 * `cam`) upsampled bilinearly to the saliency's size. Works with the map of any method.
 */
export function combineGuided(target: GuidedTarget, cam: Grid): Float32Array {
  const up = upsampleMap(cam, [target.height, target.width]);
  const channels = target.saliency.length / up.length;
  return target.saliency.map((v, i) => v * up[Math.floor(i / channels)]);
}

/**
 * A saliency (`height × width × ch`, ch 3 or 1) as an RGB image, the usual way (pytorch-grad-cam's
 * `deprocess_image`): standardised, scaled by 0.1 around mid-grey, clipped. A one-channel saliency is grey.
 */
export function saliencyImage(saliency: Float32Array, width: number, height: number): RgbImage {
  let mean = 0;
  for (const v of saliency) mean += v;
  mean /= saliency.length;
  let sq = 0;
  for (const v of saliency) sq += (v - mean) ** 2;
  const std = Math.sqrt(sq / saliency.length);
  const ch = saliency.length / (width * height);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) {
    const v = saliency[ch === 3 ? i : Math.floor(i / 3)];
    data[i] = Math.round(255 * Math.min(1, Math.max(0, ((v - mean) / (std + 1e-5)) * 0.1 + 0.5)));
  }
  return { data, width, height, channels: 3 };
}

/**
 * The Guided Grad-CAM picture of a target: {@link saliencyImage} of {@link combineGuided}, at the
 * network's input size, or resized (bilinear) to `size`, e.g. the image region the network saw.
 */
export function guidedImage(target: GuidedTarget, cam: Grid, size?: { width: number; height: number }): RgbImage {
  const img = saliencyImage(combineGuided(target, cam), target.width, target.height);
  if (!size || (size.width === img.width && size.height === img.height)) return img;
  const data = tidyRead(() => tf.image.resizeBilinear(tf.tensor3d(Float32Array.from(img.data), [img.height, img.width, 3]), [size.height, size.width], false, true)
    .round().clipByValue(0, 255));
  return { data: Uint8Array.from(data), width: size.width, height: size.height, channels: 3 };
}
