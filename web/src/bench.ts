/**
 * The browser half of `npm run bench -- browser`: loads the α=0.75 MobileNet from the dev server on
 * the backend asked for (`?backend=`), then `window.runBench(pixels)` times one forward pass
 * (`predict`) and one whole Grad-CAM `explain` call for a 224×224 image.
 */
import * as tf from '@tensorflow/tfjs';
import { time, type Timing } from '../../bench/util.js';
import { explain, loadModelFromUrl } from 'gradcam';
import type { LayersExplainableModel } from '../../src/model/layers-model.js';
import { backendDevice, initBrowserBackend } from './backend.js';

export interface BenchResult { backend: string; device: string; forward: Timing; gradcam: Timing; mapBackend: string }

declare global {
  interface Window { benchReady?: Promise<void>; runBench?: (rgb: number[], runs: number) => Promise<BenchResult> }
}

let model: LayersExplainableModel;
const backend = initBrowserBackend(new URLSearchParams(location.search).get('backend'));
window.benchReady = backend.then(async () => {
  model = (await loadModelFromUrl('/models/mobilenet_v1_0.75_224/model.json')) as LayersExplainableModel;
});

window.runBench = async (rgb, runs) => {
  const image = { data: Uint8Array.from(rgb), width: 224, height: 224, channels: 3 as const };
  const x = tf.tidy(() => tf.tensor4d(image.data, [1, 224, 224, 3], 'float32').div(127.5).sub(1));
  const forward = await time(() => tf.tidy(() => (model.model.predict(x) as tf.Tensor).dataSync()), runs, 2);
  let mapBackend = '';
  const gradcam = await time(async () => {
    mapBackend = (await explain(model, [image], { targets: [282] }))[0].backend;
  }, runs, 2);
  x.dispose();
  return { backend: await backend, device: backendDevice(), forward, gradcam, mapBackend };
};
