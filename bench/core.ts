/**
 * Grad-CAM vs one forward pass, α=0.75 MobileNet, batch 1 and 8, wasm and cpu. "forward" is the
 * model's own `predict` (TF.js fused kernels); "Grad-CAM" is the whole `explain` call (preprocess,
 * forward to the layer, head + backward, maps, upsampling to 224², peaks). Target: ≤ 2.0× on wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { explain } from '../src/index.js';
import { preprocessBatch } from '../src/core/image.js';
import type { LayersExplainableModel } from '../src/model/layers-model.js';
import { initBackend, type NodeBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { MODEL_075 } from '../scripts/shared.js';
import { referenceInput } from '../test/helpers.js';
import { ms, table, time } from './util.js';

export default async function run(): Promise<void> {
  const rows: (string | number)[][] = [];
  const stems = ['cat_dog', 'both', 'chelsea', 'coffee', 'dogs', 'grace_hopper', 'squirrel_cls', 'vegetables'];
  for (const backend of ['wasm', 'cpu'] as NodeBackend[]) {
    await initBackend(backend);
    const m = (await loadModel(MODEL_075)) as LayersExplainableModel;
    for (const n of [1, 8]) {
      const images = stems.slice(0, n).map(referenceInput);
      const x = preprocessBatch(images, m.preprocessing);
      const runs = backend === 'cpu' ? 3 : 7;
      const forward = await time(() => tf.tidy(() => (m.model.predict(x) as tf.Tensor).dataSync()), runs);
      const cam = await time(() => explain(m, images, { targets: [282], batchSize: n }), runs);
      x.dispose();
      rows.push([backend, n, `${ms(forward.min)} / ${ms(forward.median)}`, `${ms(cam.min)} / ${ms(cam.median)}`,
        `${(cam.min / forward.min).toFixed(2)}× / ${(cam.median / forward.median).toFixed(2)}×`]);
    }
    m.dispose();
  }
  table(['backend', 'batch', 'forward (min / median)', 'Grad-CAM (min / median)', 'ratio (min / median)'], rows);
}
