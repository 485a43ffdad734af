/**
 * `npm run bench -- detect-study`: which method and layer give box-specific maps, on every detection of
 * the shared images (reference resize), per detector. Per (layer, method): pointing (the map's peak
 * inside the box), energy in the box (share of the map's mass), and deletion restricted to the box
 * (box pixels set to 0 in the map's order, 25 % per step; the detection's own score cell, relative to
 * its first value; area under the curve, lower is better). "centre prior" is a map peaked at the box
 * centre, for reference. Slow (minutes): not part of the test suite.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { explainWith } from '../src/core/explain.js';
import { peakOf } from '../src/core/maps.js';
import type { Grid } from '../src/core/types.js';
import { detectionTargets, detectorInput, energyInBox, inBox, toDetector } from '../src/detect/detect.js';
import { finalDetections, readOutputs } from '../src/detect/decode.js';
import { getMethod } from '../src/methods/index.js';
import { initBackend } from '../src/node/backend.js';
import { readImage } from '../src/node/image.js';
import { loadModel } from '../src/node/load.js';
import { sharedImage, sharedModel } from '../scripts/shared.js';
import { table } from './util.js';

const LAYERS: Record<string, string[]> = {
  centernet: ['extern1/hard_swish/mul_1', 'MobilenetV3/expanded_conv_11/add', 'CenternetHead/Relu', 'CenternetHead/Relu_1', 'CenternetHead/Relu_2'],
  nanodet: ['onnx_tf_prefix_Concat_62', 'onnx_tf_prefix_Concat_27', 'onnx_tf_prefix_Add_86', 'onnx_tf_prefix_Add_107'],
};
const METHODS = ['gradcam', 'hirescam', 'layercam', 'gradcam++'];
const DELETION_METHODS = ['gradcam', 'hirescam', 'layercam'];
const STEPS = 4;

export default async function run(): Promise<void> {
  await initBackend((process.env.BACKEND as 'wasm' | 'cpu') ?? 'wasm');
  const only = process.env.DETECTORS?.split(',') ?? ['centernet', 'nanodet'];
  for (const name of only) {
    const dir = sharedModel(`detect/${name}`);
    const det = toDetector(await loadModel(dir));
    const cfg = det.config;
    const model = det.model;
    const [H, W] = cfg.preprocessing.size;
    const images = readFileSync(`${dir}/expected-detections.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l).image as string);
    type Acc = { hits: number; energy: number; del: number; delN: number; n: number };
    const acc = new Map<string, Acc>();
    const add = (key: string, hit: boolean, e: number, d?: number) => {
      const a = acc.get(key) ?? { hits: 0, energy: 0, del: 0, delN: 0, n: 0 };
      a.n++; a.hits += +hit; a.energy += e;
      if (d !== undefined) { a.del += d; a.delN++; }
      acc.set(key, a);
    };
    for (const file of images) {
      const img = await readImage(sharedImage(file));
      const x = detectorInput(img, cfg, 'bilinear');
      const outs = await model.run(x);
      const dets = finalDetections(readOutputs(outs, cfg), cfg, W, H); // boxes in input pixels
      tf.dispose(outs);
      const targets = detectionTargets(det, dets);
      // The image as the network saw it (the maps are computed on the same input).
      const seen = { data: new Uint8Array(tf.tidy(() => x.sub(cfg.preprocessing.range[0]).mul(255 / (cfg.preprocessing.range[1] - cfg.preprocessing.range[0])).round().clipByValue(0, 255).squeeze().toInt()).dataSync()), width: W, height: H };
      if (!dets.length) { x.dispose(); continue; }
      // Deletion: the score of detection k's own cell on an input with part of its box set to 0.
      const scoreOf = async (xin: tf.Tensor4D, k: number) => {
        const o = await model.run(xin);
        const v = tf.tidy(() => targets[k].score(o).dataSync()[0]);
        tf.dispose([o, xin]);
        return v;
      };
      const boxPixels = (k: number) => {
        const b = dets[k].box;
        const px: number[] = [];
        for (let y = Math.max(0, Math.floor(b[1])); y < Math.min(H, Math.ceil(b[3])); y++) for (let xx = Math.max(0, Math.floor(b[0])); xx < Math.min(W, Math.ceil(b[2])); xx++) px.push(y * W + xx);
        return px;
      };
      const masked = (mask: Float32Array) => tf.tidy(() => x.mul(tf.tensor4d(mask, [1, H, W, 1])) as tf.Tensor4D);
      const full: number[] = [];
      for (let k = 0; k < dets.length; k++) {
        const mask = new Float32Array(H * W).fill(1);
        for (const p of boxPixels(k)) mask[p] = 0;
        full.push(await scoreOf(masked(mask), k));
      }
      const deletion = async (k: number, map: Grid) => {
        const px = boxPixels(k).sort((a, b) => map.data[b] - map.data[a]);
        const s0 = dets[k].raw.score;
        const curve = [1];
        for (let step = 1; step < STEPS; step++) {
          const mask = new Float32Array(H * W).fill(1);
          for (const p of px.slice(0, Math.ceil((step * px.length) / STEPS))) mask[p] = 0;
          curve.push((await scoreOf(masked(mask), k)) / s0);
        }
        curve.push(full[k] / s0);
        let area = 0;
        for (let i = 1; i < curve.length; i++) area += (curve[i - 1] + curve[i]) / 2 / STEPS;
        return area;
      };
      // Centre prior: a map peaked at the box centre.
      for (let k = 0; k < dets.length; k++) {
        const b = dets[k].box;
        const cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2, s = Math.max(8, Math.min(b[2] - b[0], b[3] - b[1]) / 2);
        const data = new Float32Array(H * W);
        for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) data[y * W + xx] = Math.exp(-((xx - cx) ** 2 + (y - cy) ** 2) / (2 * s * s));
        const map = { data, width: W, height: H };
        add('centre prior', inBox(peakOf(map), b), energyInBox(map, b), await deletion(k, map));
      }
      for (const layer of LAYERS[name]) {
        for (const m of METHODS) {
          const [e] = await explainWith(model, [seen], getMethod(m), { targets: [targets], top: 0, layer: model.resolveLayer(layer) });
          for (let k = 0; k < dets.length; k++) {
            const map = e.targets[k].heatmap;
            const d = DELETION_METHODS.includes(m) ? await deletion(k, map) : undefined;
            add(`${layer} [${e.targets[k].cam.height}×${e.targets[k].cam.width}] ${m}`, inBox(e.targets[k].peak, dets[k].box), energyInBox(map, dets[k].box), d);
          }
        }
        process.stderr.write(`${name} ${file} ${layer} done\n`);
      }
      x.dispose();
    }
    console.log(`\n### ${name} (${[...acc.values()][0]?.n ?? 0} detections)\n`);
    table(['layer', 'method', 'pointing', 'energy in box', 'deletion AUC (box, ↓)'],
      [...acc.entries()].map(([key, a]) => {
        const [layer, method] = key.includes('] ') ? [key.slice(0, key.indexOf('] ') + 1), key.slice(key.indexOf('] ') + 2)] : ['—', key];
        return [layer, method, `${a.hits}/${a.n}`, (a.energy / a.n).toFixed(2), a.delN ? (a.del / a.delN).toFixed(3) : '—'];
      }));
    model.dispose();
  }
}
