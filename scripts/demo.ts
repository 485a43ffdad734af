/**
 * `npm run demo`: explains every image in ../shared/images with the α=0.75 MobileNet (top-2
 * classes, Grad-CAM) into out/: a JSON report and overlay/heatmap PNGs per image and class.
 */
import { runExplain } from '../src/cli/explain.js';
import { MODEL_075, SHARED_DIR } from './shared.js';
import path from 'node:path';

const out = path.resolve('out');
const n = await runExplain([path.join(SHARED_DIR, 'images')], {
  model: MODEL_075, backend: 'wasm', class: [], target: [], top: 2, method: 'gradcam', layer: [], out, batch: 8, colormap: 'jet', alpha: 0.5,
});
console.log(`explained ${n} images → ${out}/ (open the .png overlays; .json has the 7×7 maps, peaks and predictions)`);
