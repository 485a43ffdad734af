/**
 * Every method on wasm, α=0.75 MobileNet (layer conv_pw_13_relu, 7×7×768), one 224×224 image, one
 * target: ms per map and the ratio to one forward pass (`model.predict`, batch 1) timed in the same run.
 * Then Score-CAM and Ablation-CAM at perturbation batch sizes 1, 16, 64: they cost C = 768 forward
 * passes (Score-CAM: the whole network; Ablation-CAM: only the head after the layer) per map. Score-CAM
 * is timed on its first 128 channels and extrapolated to 768 (said so in the table). Peak RSS is
 * sampled after every map.
 */
import * as tf from '@tensorflow/tfjs';
import { explain, type ExplainOptions } from '../src/index.js';
import { guidedBackprop, guidedGradcam } from '../src/index.js';
import { preprocess } from '../src/core/image.js';
import type { PerturbationMethod } from '../src/core/method.js';
import { methods, type MethodName } from '../src/methods/index.js';
import type { LayersExplainableModel } from '../src/model/layers-model.js';
import { initBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { MODEL_075 } from '../scripts/shared.js';
import { referenceInput } from '../test/helpers.js';
import { ms, table, time } from './util.js';

let peakRss = 0;
const sampleRss = () => { peakRss = Math.max(peakRss, process.memoryUsage().rss); };
const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;

/** `method` restricted to the first `n` channels of the layer (n perturbations instead of C). */
const firstChannels = (method: PerturbationMethod, n: number): PerturbationMethod => ({
  ...method,
  cam: async (ctx) => {
    const activations = ctx.activations.slice([0, 0, 0, 0], [-1, -1, -1, n]);
    try {
      const out = await method.cam({ ...ctx, activations });
      sampleRss();
      return out;
    } finally {
      activations.dispose();
    }
  },
});

export default async function run(): Promise<void> {
  await initBackend('wasm');
  const m = (await loadModel(MODEL_075)) as LayersExplainableModel;
  const image = referenceInput('cat_dog');
  const channels = m.layers.find((l) => l.name === m.defaultLayer)!.shape[3] as number;
  const x = tf.tidy(() => preprocess(image, m.preprocessing));
  const forward = await time(() => tf.tidy(() => (m.model.predict(x) as tf.Tensor).dataSync()), 9, 2);
  x.dispose();
  const target: ExplainOptions = { targets: [282] };
  const perMap = async (fn: () => Promise<unknown>, runs: number) => {
    const t = await time(async () => { await fn(); sampleRss(); }, runs, 1);
    return [ms(t.median), `${(t.median / forward.median).toFixed(1)}×`];
  };

  const rows: (string | number)[][] = [['forward pass (predict)', '1', ...[ms(forward.median), '1.0×']]];
  for (const name of Object.keys(methods) as MethodName[]) {
    const slow = name === 'scorecam';
    const passes = name === 'scorecam' ? `${channels} forward` : name === 'ablationcam' ? `${channels} head` : methods[name].needs === 'gradients' ? '1 + backward' : '1';
    rows.push([name + (slow || name === 'ablationcam' ? ' (batch 64)' : ''), passes,
      ...(await perMap(() => explain(m, [image], { ...target, method: name, batchSize: 64 }), slow ? 1 : 5))]);
  }
  rows.push(['gradcam + augSmooth', '6 + backward', ...(await perMap(() => explain(m, [image], { ...target, augSmooth: true }), 3))]);
  rows.push(['gradcam + eigenSmooth', '1 + backward', ...(await perMap(() => explain(m, [image], { ...target, eigenSmooth: true }), 5))]);
  rows.push(['guided backprop', '1 + backward to the input', ...(await perMap(() => guidedBackprop(m, [image], target), 3))]);
  rows.push(['guided Grad-CAM', 'Grad-CAM + guided', ...(await perMap(() => guidedGradcam(m, [image], target), 3))]);
  table(['method', 'passes per map', 'ms per map (median)', '× forward'], rows);

  console.log(`\nScore-CAM / Ablation-CAM by perturbation batch size (C = ${channels} channels; Score-CAM timed on ${128} channels × ${channels / 128})`);
  const scale: (string | number)[][] = [];
  for (const name of ['scorecam', 'ablationcam'] as const) {
    const n = name === 'scorecam' ? 128 : channels;
    for (const batch of [1, 16, 64]) {
      peakRss = 0;
      const method = firstChannels(methods[name], n);
      const t = await time(() => explain(m, [image], { ...target, method, batchSize: batch }), name === 'scorecam' ? 1 : 3, name === 'scorecam' ? 0 : 1);
      const full = (t.median * channels) / n;
      scale.push([name, batch, Math.ceil(channels / batch), `${(t.median / n).toFixed(2)} ms`, `${ms(full)}${n < channels ? ' (extrapolated)' : ''}`,
        `${(full / forward.median).toFixed(0)}×`, mb(peakRss)]);
    }
  }
  table(['method', 'batch', 'batches per map', 'ms per perturbation', 'ms per map', '× forward', 'peak RSS'], scale);
  m.dispose();
}
