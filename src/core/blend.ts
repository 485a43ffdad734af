/**
 * Perturbed inputs of the form `from + (to − from) · mask`: Score-CAM's masked inputs (`from` = 0),
 * deletion and insertion steps. Models that can blend in their own runtime (ONNX Runtime) do;
 * otherwise the batch is built in TF.js and run.
 */
import * as tf from '@tensorflow/tfjs';
import type { ExplainableModel } from '../model/types.js';

/**
 * The model's outputs on `from + (to − from) · mask` for each mask: `to`, `from` `[1, H, W, ch]`
 * (`from` absent = 0), `masks` `[B, H, W, 1]`. The caller keeps ownership of the inputs.
 */
export function runMasked(model: ExplainableModel, to: tf.Tensor4D, masks: tf.Tensor4D, from?: tf.Tensor4D): Promise<tf.Tensor[]> {
  if (model.runMasked) return model.runMasked(to, masks, from);
  const x = tf.tidy(() => (from ? from.add(to.sub(from).mul(masks)) : to.mul(masks)) as tf.Tensor4D);
  return model.run(x).finally(() => x.dispose());
}
