/**
 * ONNX models through the public API. `mobilenet_v1_0.25_224.onnx` holds exactly the weights of the
 * shared TF.js model, so every method must give the same map on both (Pearson ≥ 0.99); targets, token
 * layers, guided backpropagation and the metrics run through the same seam.
 */
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify, evaluate, explain, guidedBackprop, methods, type MethodName } from '../src/index.js';
import type { ExplainableModel } from '../src/model/types.js';
import { initBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { MODEL_025, SHARED_DIR, pearson, referenceInput, runCli } from './helpers.js';

const ONNX = (name: string) => path.join(SHARED_DIR, 'models', 'onnx', `${name}.onnx`);

let onnx: ExplainableModel, tfjs: ExplainableModel;
beforeAll(async () => {
  await initBackend('wasm');
  onnx = await loadModel(ONNX('mobilenet_v1_0.25_224'));
  tfjs = await loadModel(MODEL_025);
});
afterAll(() => { onnx.dispose(); tfjs.dispose(); });

describe('ONNX through explain()', () => {
  it('loadModel(.onnx): format, name, layers, classification = the TF.js model', async () => {
    expect(onnx.format).toBe('onnx');
    expect(onnx.name).toBe('mobilenet_v1_0.25_224.onnx');
    expect(onnx.defaultLayer).toBe('/conv_pw_13_relu/Clip_output_0');
    expect(onnx.layers.find((l) => l.name === onnx.defaultLayer)!.shape).toEqual([null, 7, 7, 256]);
    const img = referenceInput('cat_dog');
    const [a] = await classify(onnx, [img], 3);
    const [b] = await classify(tfjs, [img], 3);
    expect(a.map((p) => p.classIndex)).toEqual(b.map((p) => p.classIndex));
    expect(Math.abs(a[0].probability - b[0].probability)).toBeLessThan(1e-3);
  });

  const names = Object.keys(methods) as MethodName[];
  it.each(names)('%s: the same map as on the TF.js model of the same weights', async (method) => {
    const img = referenceInput('cat_dog');
    const before = tf.memory().numTensors;
    const opts = { method, targets: [282], batchSize: 64 };
    const [a] = await explain(onnx, [img], { ...opts, layer: 'conv_pw_13_relu' });
    const [b] = await explain(tfjs, [img], { ...opts, layer: 'conv_pw_13_relu' });
    expect(tf.memory().numTensors).toBe(before);
    const r = pearson(a.targets[0].cam.data, b.targets[0].cam.data);
    expect(r, method).toBeGreaterThanOrEqual(0.99);
    expect(Math.abs(a.targets[0].score - b.targets[0].score)).toBeLessThan(1e-3 * Math.max(1, Math.abs(b.targets[0].score)));
  });

  it('targets: contrast, probability, counterfactual, two layers', async () => {
    const img = referenceInput('cat_dog');
    const [r] = await explain(onnx, [img], { targets: ['contrast:282-243', 'prob:282', 'neg:282'] });
    const [plain] = await explain(onnx, [img], { targets: [282, 243] });
    const [l282, l243] = plain.targets.map((t) => t.score);
    expect(r.targets[0].score).toBeCloseTo(l282 - l243, 3);
    expect(r.targets[1].score).toBeGreaterThan(0);
    expect(r.targets[1].score).toBeLessThan(1);
    expect(r.targets[2].score).toBeCloseTo(-l282, 3);
    const [two] = await explain(onnx, [img], { targets: [282], layer: ['conv_pw_12_relu', 'conv_pw_13_relu'] });
    expect(two.targets[0].layers).toHaveLength(2);
  });

  it('ViT: token layer explained as a 14×14 grid (auto layer)', async () => {
    const vit = await loadModel(ONNX('vit_tiny'));
    const [r] = await explain(vit, [referenceInput('cat_dog')], { targets: [282] });
    expect(r.targets[0].cam.width).toBe(14);
    expect(r.targets[0].cam.height).toBe(14);
    expect(r.targets[0].layer).toBe('/encoder/layers/encoder_layer_3/ln_1/LayerNormalization_output_0');
    vit.dispose();
  });

  it('guided backpropagation through the imported TF.js program', async () => {
    const [g] = await guidedBackprop(onnx, [referenceInput('cat_dog')], { targets: [282] });
    expect(g[0].width).toBe(224);
    expect(g[0].saliency.some((v) => v !== 0)).toBe(true);
  });

  it('evaluate: deletion and insertion on ONNX Runtime (masks made in the graph) = on the TF.js model; no leaks', async () => {
    const img = referenceInput('cat_dog');
    const before = tf.memory().numTensors;
    // The same map on both, so that only the curves' forward passes differ.
    const explained = await explain(tfjs, [img], { targets: [282], layer: 'conv_pw_13_relu' });
    const opts = { methods: ['gradcam'] as MethodName[], targets: [282], metrics: ['deletion' as const], deletion: { steps: 20 }, baselines: false, explained };
    const [a, b] = [(await evaluate(onnx, [{ image: img }], opts)).methods[0], (await evaluate(tfjs, [{ image: img }], opts)).methods[0]];
    expect(tf.memory().numTensors).toBe(before);
    expect(a.insertionAuc).toBeGreaterThan(a.deletionAuc!);
    for (const k of ['deletionCurve', 'insertionCurve'] as const) {
      expect(a[k]!.length).toBe(21);
      a[k]!.forEach((v, i) => expect(Math.abs(v - b[k]![i]), `${k}[${i}]`).toBeLessThan(2e-3));
    }
  });

  it('CLI: layers and explain --model x.onnx; a bad file is a one-line error', async () => {
    const layers = await runCli(['layers', '--model', ONNX('squeezenet1_1')]);
    expect(layers.code).toBe(0);
    expect(layers.stdout).toMatch(/\/features\/features\.12\/Concat_output_0 .*← auto/);
    const out = path.join(os.tmpdir(), `onnx-cli-${process.pid}`);
    const ex = await runCli(['explain', path.join(SHARED_DIR, 'images', 'cat_dog.jpg'), '--model', ONNX('squeezenet1_1'), '--class', '282', '--out', out]);
    expect(ex.code).toBe(0);
    expect(existsSync(path.join(out, 'cat_dog.json'))).toBe(true);
    const bad = path.join(out, 'bad.onnx');
    writeFileSync(bad, 'not a model');
    const err = await runCli(['layers', '--model', bad]);
    expect(err.code).not.toBe(0);
    expect(err.stderr.trim()).toMatch(/^error: .*bad\.onnx: not an ONNX model/);
    expect(err.stderr.trim().split('\n')).toHaveLength(1);
  });
});
