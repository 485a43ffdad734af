/**
 * What every metric shares: the case it scores (one preprocessed image, one class, one map at the
 * network's input resolution), batched class probabilities, perturbation baselines and pixel order.
 */
import * as tf from '@tensorflow/tfjs';
import { upsampleMap } from '../core/maps.js';
import { runMasked } from '../core/blend.js';
import { Pipeline } from '../core/pipeline.js';
import { classLogits, probabilities } from '../core/outputs.js';
import type { Grid } from '../core/types.js';
import type { ExplainableModel } from '../model/types.js';

/**
 * One thing to score: a preprocessed image (model input space, `[H, W, 3]` row-major), the class
 * explained, and a saliency map `[H, W]` at the same resolution (higher = more relevant).
 */
export interface MetricCase {
  input: Float32Array;
  /** Network input `[H, W]`. */
  size: [number, number];
  classIndex: number;
  map: Float32Array;
}

/**
 * Probability of class `classes[i]` (softmax of output 0's class logits; sigmoid for sigmoid models)
 * for each of `count` inputs built by `make(i)` (`[H, W, 3]`), `batchSize` per forward pass (the next
 * batch built while one runs).
 */
export function classProbabilities(
  model: ExplainableModel, count: number, make: (i: number) => tf.Tensor3D, classes: (i: number) => number, batchSize = 16,
): Promise<Float32Array> {
  return probabilities_(model, count, (start, n) => {
    const x = tf.tidy(() => tf.stack(Array.from({ length: n }, (_, j) => make(start + j))) as tf.Tensor4D);
    return model.run(x).finally(() => x.dispose());
  }, classes, batchSize);
}

/**
 * {@link classProbabilities} of the inputs `from + (to − from) · mask_i` (`to`, `from` `[H, W, 3]`),
 * where mask i takes the pixels whose `rank` (`[H, W]`) is below `counts[i]`: deletion and insertion
 * steps. Blended by the model's runtime where it can.
 */
export function blendProbabilities(
  model: ExplainableModel, from: tf.Tensor3D, to: tf.Tensor3D, rank: tf.Tensor2D, counts: number[], classIndex: number, batchSize = 16,
): Promise<Float32Array> {
  const [t, f] = tf.tidy(() => [to.expandDims(0) as tf.Tensor4D, from.expandDims(0) as tf.Tensor4D]);
  return probabilities_(model, counts.length, (start, n) => runMasked(model, t, { rank, counts: counts.slice(start, start + n) }, f),
    () => classIndex, batchSize).finally(() => tf.dispose([t, f]));
}

/** Probabilities of `classes(i)` from the outputs of `forward(start, n)`, the next batch started while one runs. */
async function probabilities_(
  model: ExplainableModel, count: number, forward: (start: number, n: number) => Promise<tf.Tensor[]>,
  classes: (i: number) => number, batchSize: number,
): Promise<Float32Array> {
  const out = new Float32Array(count);
  const pipeline = new Pipeline();
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    await pipeline.add(forward(start, n).then(async (outs) => {
      const logits = tf.tidy(() => classLogits(model, outs[0]));
      tf.dispose(outs);
      const k = logits.shape[1];
      const data = (await logits.data()) as Float32Array;
      logits.dispose();
      for (let j = 0; j < n; j++) out[start + j] = probabilities(model, data.subarray(j * k, (j + 1) * k))[classes(start + j)];
    }));
  }
  await pipeline.drain();
  return out;
}

/** The case's input as a tensor `[H, W, 3]`. */
export const inputTensor = (c: MetricCase): tf.Tensor3D => tf.tensor3d(c.input, [c.size[0], c.size[1], 3]);

/**
 * What removed pixels become, in the model's input space: `zero` (0 in preprocessed space: mid-grey
 * for a [-1, 1] model, the dataset mean for a mean/std model), `mean` (the image's per-channel
 * mean) or `blur` (the image under a Gaussian blur, σ = `blurSigma` px, RISE's insertion canvas).
 */
export type PerturbBaseline = 'zero' | 'mean' | 'blur';

/** The baseline image `[H, W, 3]` for `x` `[H, W, 3]`. */
export function baselineImage(x: tf.Tensor3D, kind: PerturbBaseline, blurSigma = 5): tf.Tensor3D {
  return tf.tidy(() => {
    if (kind === 'zero') return tf.zerosLike(x);
    if (kind === 'mean') return tf.onesLike(x).mul(x.mean([0, 1], true));
    const r = Math.max(1, Math.ceil(2 * blurSigma));
    const g = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * blurSigma ** 2)));
    const s = g.reduce((a, b) => a + b, 0);
    const k = tf.tensor1d(g.map((v) => v / s));
    const pad = Math.min(r, x.shape[0] - 1, x.shape[1] - 1);
    const padded = tf.mirrorPad(x, [[pad, pad], [pad, pad], [0, 0]], 'reflect');
    // Separable: a [1, 2r+1] then a [2r+1, 1] depthwise kernel; zero padding covers any rest beyond the mirror.
    const row = k.reshape([1, 2 * r + 1, 1, 1]).tile([1, 1, 3, 1]) as tf.Tensor4D;
    const col = k.reshape([2 * r + 1, 1, 1, 1]).tile([1, 1, 3, 1]) as tf.Tensor4D;
    const b = tf.depthwiseConv2d(tf.depthwiseConv2d(padded.expandDims(0) as tf.Tensor4D, row, 1, 'same'), col, 1, 'same');
    return b.squeeze([0]).slice([pad, pad, 0], [x.shape[0], x.shape[1], 3]) as tf.Tensor3D;
  });
}

/**
 * A layer-resolution map (`cam`, normalised) at the network input `[H, W]`: bilinear with half-pixel
 * centres and renormalised to [0, 1], as `explain` makes its heatmaps.
 */
export function inputMap(cam: Grid, size: [number, number]): Float32Array {
  return upsampleMap(cam, size);
}

/** Pixel indices from most to least relevant (ties in index order, so the order is deterministic). */
export function relevanceOrder(map: Float32Array): Int32Array {
  // A stable LSD radix sort (4 passes of 8 bits) on keys that order as the values do, descending:
  // equal values keep pixel order. 50 176 pixels: ~1 ms, where a comparison sort takes ~35.
  const n = map.length;
  const values = new Float32Array(n);
  const bits = new Uint32Array(values.buffer);
  let keys = new Uint32Array(n);
  let order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    values[i] = map[i] === 0 ? 0 : map[i]; // -0 ties with 0
    keys[i] = bits[i] & 0x80000000 ? bits[i] : ~(bits[i] | 0x80000000) >>> 0;
    order[i] = i;
  }
  let nextKeys = new Uint32Array(n);
  let nextOrder = new Int32Array(n);
  const count = new Uint32Array(256);
  for (let shift = 0; shift < 32; shift += 8) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[(keys[i] >>> shift) & 255]++;
    for (let b = 0, at = 0; b < 256; b++) {
      const c = count[b];
      count[b] = at;
      at += c;
    }
    for (let i = 0; i < n; i++) {
      const at = count[(keys[i] >>> shift) & 255]++;
      nextKeys[at] = keys[i];
      nextOrder[at] = order[i];
    }
    [keys, nextKeys, order, nextOrder] = [nextKeys, keys, nextOrder, order];
  }
  return order;
}

/** Area under a curve sampled at equal steps on [0, 1] (trapezoid rule). */
export function auc(curve: ArrayLike<number>): number {
  const n = curve.length - 1;
  if (n < 1) return curve[0] ?? 0;
  let s = (curve[0] + curve[n]) / 2;
  for (let i = 1; i < n; i++) s += curve[i];
  return s / n;
}

export { seededRandom } from '../core/random.js';

/** Standard normal samples from a uniform PRNG (Box–Muller). */
export function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Mean of the finite values (NaN for none). */
export function mean(values: number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}
