/**
 * Cost of each metric per image (one map, one class), α=0.75 MobileNet on wasm, next to one forward
 * pass (batch 1) and one Grad-CAM. Forward passes dominate: Deletion + Insertion run 2·(steps+1) of
 * them (batched 16 at a time), ROAD 2 per percentage plus a conjugate-gradient imputation each.
 */
import * as tf from '@tensorflow/tfjs';
import { explain } from '../src/index.js';
import { preprocess } from '../src/core/image.js';
import { confidenceChange, deletionInsertion, energyInBoxes, imputeNoisyLinear, inputMap, pointingHit, relevanceOrder, road, type MetricCase } from '../src/metrics/index.js';
import { initBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { MODEL_075 } from '../scripts/shared.js';
import { referenceInput } from '../test/helpers.js';
import { ms, table, time } from './util.js';

export default async function run(): Promise<void> {
  await initBackend('wasm');
  const model = await loadModel(MODEL_075);
  const image = referenceInput('chelsea');
  const x = preprocess(image, model.preprocessing);
  const [result] = await explain(model, [image]);
  const t = result.targets[0];
  const c: MetricCase = { input: x.dataSync() as Float32Array, size: [224, 224], classIndex: t.classIndex, map: inputMap(t.cam, [224, 224]) };
  const half = new Uint8Array(224 * 224);
  relevanceOrder(c.map).subarray(0, 224 * 112).forEach((p) => { half[p] = 1; });
  const rows: [string, string, () => unknown, number][] = [
    ['forward pass (batch 1)', '1 forward', async () => tf.dispose(await model.run(x)), 5],
    ['Grad-CAM (explain)', '1 forward + backward', () => explain(model, [image]), 5],
    ['Average Drop / Increase in Confidence', '2 forwards', () => confidenceChange(model, [c]), 5],
    ['Deletion + Insertion, 50 steps', '102 forwards', () => deletionInsertion(model, [c]), 2],
    ['Deletion + Insertion, 25 steps', '52 forwards', () => deletionInsertion(model, [c], { steps: 25 }), 2],
    ['ROAD, 9 percentages (10…90)', '18 forwards + 18 imputations', () => road(model, [c]), 2],
    ['ROAD, 5 percentages', '10 forwards + 10 imputations', () => road(model, [c], { percentages: [10, 30, 50, 70, 90] }), 2],
    ['  one imputation (50 % removed)', 'multigrid CG, 30 iterations/level', () => imputeNoisyLinear(c.input, half, 224, 224), 3],
    ['Pointing game + energy', 'none', () => [pointingHit(t.peak, [[0, 0, 430, 299]]), energyInBoxes(t.heatmap, [[0, 0, 430, 299]])], 5],
  ];
  const out: string[][] = [];
  let forward = 0;
  for (const [name, work, fn, runs] of rows) {
    const r = await time(fn, runs);
    forward ||= r.median;
    out.push([name, work, ms(r.median), `${(r.median / forward).toFixed(1)}×`]);
  }
  x.dispose();
  model.dispose();
  table(['metric (per image, one map)', 'work', 'median', '× forward'], out);
}
