/**
 * ONNX models (issue 14), ratios measured in one run:
 * - Grad-CAM on resnet18.onnx (ORT body + TF.js head) vs plain-torch hook Grad-CAM on ResNet-18, 1 thread
 *   (bench/onnx-torch.py with Debian's python3-torch; the column is skipped when torch is absent);
 * - Score-CAM on mobilenet_v1_0.25_224.onnx vs the same weights as a TF.js model on wasm (both timed on
 *   the first 64 of 256 channels, extrapolated);
 * - deletion + insertion per map, same two models.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { evaluate, explain } from '../src/index.js';
import type { PerturbationContext, PerturbationMethod } from '../src/core/method.js';
import { methods } from '../src/methods/index.js';
import { initBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { MODEL_025, SHARED_DIR } from '../scripts/shared.js';
import { referenceInput } from '../test/helpers.js';
import { ms, table, time } from './util.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const onnxPath = (n: string) => path.join(SHARED_DIR, 'models', 'onnx', `${n}.onnx`);

const firstChannels = (method: PerturbationMethod, n: number): PerturbationMethod => ({
  ...method,
  cam: (ctx: PerturbationContext) => method.cam({ ...ctx, activations: ctx.activations.slice([0, 0, 0, 0], [-1, -1, -1, n]) }),
});

export default async function run(): Promise<void> {
  await initBackend('wasm');
  const img = referenceInput('cat_dog');
  const rows: (string | number)[][] = [];

  // Grad-CAM, resnet18
  const resnet = await loadModel(onnxPath('resnet18'));
  const gc = await time(() => explain(resnet, [img], { targets: [282] }), 9, 2);
  let torchMs: number | undefined;
  try {
    torchMs = Number(execFileSync('/usr/bin/python3', [path.join(here, 'onnx-torch.py'), '9'], { encoding: 'utf8' }).trim());
  } catch { /* python3-torch absent */ }
  rows.push(['Grad-CAM resnet18.onnx (ORT body + TF.js head)', ms(gc.median),
    torchMs ? `plain-torch hook Grad-CAM ${ms(torchMs)}` : 'torch absent (perf-anchors: pytorch-grad-cam 262 ms)',
    `${(gc.median / (torchMs ?? 262)).toFixed(2)}×`]);
  resnet.dispose();

  // ViT head
  const vit = await loadModel(onnxPath('vit_tiny'));
  const vt = await time(() => explain(vit, [img], { targets: [282] }), 5, 1);
  rows.push(['Grad-CAM vit_tiny.onnx (token grid)', ms(vt.median), 'perf-anchors: pytorch-grad-cam 58 ms', `${(vt.median / 58).toFixed(2)}×`]);
  vit.dispose();

  // Score-CAM and deletion/insertion, MobileNet v1 0.25: ONNX vs TF.js wasm
  const onnx = await loadModel(onnxPath('mobilenet_v1_0.25_224'));
  const tfjs = await loadModel(MODEL_025);
  const sc = firstChannels(methods.scorecam, 64);
  const scOnnx = await time(() => explain(onnx, [img], { targets: [282], method: sc, batchSize: 64 }), 3, 1);
  const scTfjs = await time(() => explain(tfjs, [img], { targets: [282], method: sc, batchSize: 64 }), 3, 1);
  rows.push(['Score-CAM mobilenet_v1_0.25 (256 ch, from 64)', ms(scOnnx.median * 4), `tfjs-wasm ${ms(scTfjs.median * 4)}`, `${(scOnnx.median / scTfjs.median).toFixed(2)}×`]);

  const del = async (m: typeof onnx) => {
    const explained = await explain(m, [img], { targets: [282] });
    return time(() => evaluate(m, [{ image: img }], { targets: [282], metrics: ['deletion'], baselines: false, explained }), 3, 1);
  };
  const dOnnx = await del(onnx), dTfjs = await del(tfjs);
  rows.push(['deletion + insertion per map (51 steps each)', ms(dOnnx.median), `tfjs-wasm ${ms(dTfjs.median)}`, `${(dOnnx.median / dTfjs.median).toFixed(2)}×`]);
  onnx.dispose();
  tfjs.dispose();
  table(['what', 'ONNX (ORT + TF.js head)', 'against', 'ratio'], rows);
  void tf;
}
