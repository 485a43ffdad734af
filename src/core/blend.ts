/**
 * Perturbed inputs of the form `from + (to − from) · mask`: Score-CAM's masked inputs (`from` = 0),
 * deletion and insertion steps. Models that can blend in their own runtime (ONNX Runtime) do;
 * otherwise the batch is built in TF.js and run.
 */
import * as tf from '@tensorflow/tfjs';
import type { ExplainableModel, RankMasks } from '../model/types.js';

/**
 * The model's outputs on `from + (to − from) · mask` for each mask: `to`, `from` `[1, H, W, ch]`
 * (`from` absent = 0), `masks` `[B, H, W, 1]` or a threshold each on a rank map. The caller keeps
 * ownership of the inputs.
 */
export function runMasked(model: ExplainableModel, to: tf.Tensor4D, masks: tf.Tensor4D | RankMasks, from?: tf.Tensor4D): Promise<tf.Tensor[]> {
  if (model.runMasked) return model.runMasked(to, masks, from);
  const x = tf.tidy(() => {
    const m = masks instanceof tf.Tensor ? masks : rankMasks(masks);
    return (from ? from.add(to.sub(from).mul(m)) : to.mul(m)) as tf.Tensor4D;
  });
  return model.run(x).finally(() => x.dispose());
}

/**
 * {@link RankMasks} as a tensor `[B, H, W, 1]`, written in plain JavaScript (TF.js's broadcast
 * comparison on wasm takes several times longer).
 */
export function rankMasks({ rank, counts }: RankMasks): tf.Tensor4D {
  const [H, W] = rank.shape;
  const r = rank.dataSync();
  const data = new Float32Array(counts.length * H * W);
  counts.forEach((c, i) => {
    const m = data.subarray(i * H * W, (i + 1) * H * W);
    for (let p = 0; p < m.length; p++) if (r[p] < c) m[p] = 1;
  });
  return tf.tensor4d(data, [counts.length, H, W, 1]);
}
