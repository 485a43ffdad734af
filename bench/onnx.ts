/**
 * ONNX models (issue 14), ratios measured in one run:
 * - Grad-CAM on resnet18.onnx (ORT body + TF.js head) vs plain-torch hook Grad-CAM on ResNet-18, 1 thread
 *   (bench/onnx-torch.py with Debian's python3-torch; the column is skipped when torch is absent);
 * - Score-CAM (all 256 channels, default batches of 8) on mobilenet_v1_0.25_224.onnx vs the same weights as a
 *   TF.js model on wasm; ONNX Runtime in worker threads (the default in Node) and on the main thread;
 * - deletion + insertion per map, same two models.
 * - Ablation-CAM on vit_tiny.onnx: the head's passes on ONNX Runtime vs on the imported TF.js head.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { evaluate, explain } from '../src/index.js';
import { methods } from '../src/methods/index.js';
import { initBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { loadOnnxFile } from '../src/model/onnx/node.js';
import type { ExplainableModel } from '../src/model/types.js';
import { availableParallelism } from 'node:os';
import { MODEL_025, SHARED_DIR } from '../scripts/shared.js';
import { referenceInput } from '../test/helpers.js';
import { ms, table, time, timeAlternating } from './util.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const onnxPath = (n: string) => path.join(SHARED_DIR, 'models', 'onnx', `${n}.onnx`);

export default async function run(): Promise<void> {
  await initBackend('wasm');
  const img = referenceInput('cat_dog');
  const rows: (string | number)[][] = [];

  // Grad-CAM, resnet18
  const resnet = await loadModel(onnxPath('resnet18'));
  const gc = await time(() => explain(resnet, [img], { targets: [282] }), 9, 2);
  let torchMs: number | undefined;
  try {
    torchMs = Number(execFileSync('/usr/bin/python3', [path.join(here, 'onnx-torch.py'), '9'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch { /* python3-torch absent */ }
  rows.push(['Grad-CAM resnet18.onnx (ORT body + TF.js head)', ms(gc.median),
    torchMs ? `plain-torch hook Grad-CAM ${ms(torchMs)}` : 'torch absent (perf-anchors: pytorch-grad-cam 262 ms)',
    `${(gc.median / (torchMs ?? 262)).toFixed(2)}×`]);
  resnet.dispose();

  // ViT head
  const vit = await loadModel(onnxPath('vit_tiny'));
  const vt = await time(() => explain(vit, [img], { targets: [282] }), 5, 1);
  rows.push(['Grad-CAM vit_tiny.onnx (token grid)', ms(vt.median), 'perf-anchors: pytorch-grad-cam 58 ms', `${(vt.median / 58).toFixed(2)}×`]);
  // Ablation-CAM's 192 head passes: on ONNX Runtime (the graph cut at the layer) vs the imported TF.js head.
  const tfjsHead = Object.create(vit, {
    split: { value: async (x: tf.Tensor4D, layer: string) => ({ ...(await vit.split(x, layer)), runHead: undefined }) },
  }) as ExplainableModel;
  const ablation = (m: ExplainableModel) => () => explain(m, [img], { targets: [282], method: methods.ablationcam });
  const [abOrt, abTfjs] = await timeAlternating([vit, tfjsHead].map(ablation), 1, 1);
  rows.push(['Ablation-CAM vit_tiny.onnx (192 channels), head on ORT', ms(abOrt.median), `TF.js head ${ms(abTfjs.median)}`, `${(abOrt.median / abTfjs.median).toFixed(2)}×`]);
  vit.dispose();

  // Score-CAM and deletion/insertion, MobileNet v1 0.25: ONNX (ORT in worker threads, the default;
  // and on the main thread, one ORT thread in all) vs TF.js wasm, at the same batch size.
  const onnx = await loadOnnxFile(onnxPath('mobilenet_v1_0.25_224'));
  const onnx1 = await loadOnnxFile(onnxPath('mobilenet_v1_0.25_224'), { ortOptions: { workers: 0 } });
  const tfjs = await loadModel(MODEL_025);
  const workers = Math.min(4, availableParallelism());
  // Alternating rounds (tfjs, ORT in workers, ORT on the main thread), medians of 5.
  const scoreCam = (m: ExplainableModel) => () => explain(m, [img], { targets: [282], method: methods.scorecam });
  const [scTfjs, scOnnx, scOnnx1] = await timeAlternating([tfjs, onnx, onnx1].map(scoreCam), 5, 1);
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  rows.push([`Score-CAM mobilenet_v1_0.25 (256 channels), ORT in ${workers} workers`, ms(scOnnx.median), `tfjs-wasm ${ms(scTfjs.median)}`, ratio(scOnnx.median, scTfjs.median)]);
  rows.push(['… ORT on the main thread, 1 thread', ms(scOnnx1.median), `tfjs-wasm ${ms(scTfjs.median)}`, ratio(scOnnx1.median, scTfjs.median)]);

  const del = async (m: ExplainableModel) => {
    const explained = await explain(m, [img], { targets: [282] });
    return () => evaluate(m, [{ image: img }], { targets: [282], metrics: ['deletion'], baselines: false, explained });
  };
  const [dTfjs, dOnnx, dOnnx1] = await timeAlternating([await del(tfjs), await del(onnx), await del(onnx1)], 5, 1);
  rows.push([`deletion + insertion per map (51 steps each), ORT in ${workers} workers`, ms(dOnnx.median), `tfjs-wasm ${ms(dTfjs.median)}`, ratio(dOnnx.median, dTfjs.median)]);
  rows.push(['… ORT on the main thread, 1 thread', ms(dOnnx1.median), `tfjs-wasm ${ms(dTfjs.median)}`, ratio(dOnnx1.median, dTfjs.median)]);
  for (const m of [onnx, onnx1, tfjs]) m.dispose();
  table(['what', 'ONNX (ORT + TF.js head)', 'against', 'ratio'], rows);
  void tf;
}
