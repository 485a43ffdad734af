/**
 * Perturbed inputs of the form `from + (to − from) · mask` (Score-CAM's masked inputs: `from` = 0;
 * deletion and insertion steps), built directly in the layout the model runs: channels-first for
 * ONNX models, so that no batch is transposed. (It is also the faster product on TF.js's wasm
 * backend: a `[B, 1, H, W]` mask times a `[1, ch, H, W]` image broadcasts over whole planes.)
 */
import * as tf from '@tensorflow/tfjs';
import type { ExplainableModel } from '../model/types.js';

/** The layout perturbed batches are built in for `model`. */
export const layoutFor = (model: ExplainableModel): 'nhwc' | 'nchw' => model.inputLayout ?? 'nhwc';

/**
 * `from + (to − from) · mask` for each mask: `to`, `from` `[1, H, W, ch]` (NHWC; `from` absent = 0),
 * `masks` `[B, H, W, 1]`; the result `[B, H, W, ch]`, or `[B, ch, H, W]` for `layout` `'nchw'`.
 */
export function blend(to: tf.Tensor4D, masks: tf.Tensor4D, layout: 'nhwc' | 'nchw', from?: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    if (layout === 'nhwc') return (from ? from.add(to.sub(from).mul(masks)) : to.mul(masks)) as tf.Tensor4D;
    const [b, h, w] = masks.shape;
    const m = masks.reshape([b, 1, h, w]);
    const t = to.transpose([0, 3, 1, 2]);
    if (!from) return t.mul(m) as tf.Tensor4D;
    const f = from.transpose([0, 3, 1, 2]);
    return f.add(t.sub(f).mul(m)) as tf.Tensor4D;
  });
}
