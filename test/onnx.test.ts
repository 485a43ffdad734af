/**
 * ONNX import: ONNX Runtime and the imported TF.js program agree (≤ 1e-3 on every output of the seven
 * shared models, cat_dog, batch 1); layers, auto layer, tokens, preprocessing and labels from the
 * `.json`; split = run; bad files give one-line errors; nothing leaks; sessions are released.
 */
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { rankMasks } from '../src/core/blend.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { OnnxExplainableModel } from '../src/model/onnx/model.js';
import { loadOnnxFile } from '../src/model/onnx/node.js';
import { appendToModel, parseOnnx, withExtraOutputs } from '../src/model/onnx/proto.js';
import { initBackend } from '../src/node/backend.js';
import { SHARED_DIR } from '../scripts/shared.js';
import { preprocess } from '../src/core/image.js';
import { referenceInput } from './helpers.js';

const MODELS = path.join(SHARED_DIR, 'models', 'onnx');
const NAMES = ['mobilenet_v1_0.25_224', 'resnet18', 'mobilenet_v2', 'efficientnet_b0', 'squeezenet1_1', 'vit_tiny', 'lraspp_mobilenet_v3'];
const fixture = (name: string) => JSON.parse(readFileSync(path.join(MODELS, `${name}.json`), 'utf8')) as { targetLayer: { tensor: string } };

const catDog = (model: OnnxExplainableModel) => preprocess(referenceInput('cat_dog'), model.preprocessing);

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);

describe('ONNX models', () => {
  beforeAll(async () => { await initBackend('wasm'); });

  for (const name of NAMES) {
    it(`${name}: ONNX Runtime = imported TF.js (≤ 1e-3), split = run, no leaks`, async () => {
      const model = await loadOnnxFile(path.join(MODELS, `${name}.onnx`));
      const x = catDog(model);
      const before = tf.memory().numTensors;
      const ort = await model.run(x);
      const mine = model.forward(x);
      expect(ort.map((t) => t.shape)).toEqual(mine.map((t) => t.shape));
      expect(ort[0].shape.slice(1)).toEqual(model.outputs[0].shape.slice(1));
      const d = maxAbsDiff(ort[0], mine[0]);
      console.log(`${name}: logits max |ORT − TF.js| = ${d.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(1e-3);
      // The split model: ORT body up to the auto layer + TF.js head gives the same outputs.
      expect(model.defaultLayer).toBe(fixture(name).targetLayer.tensor);
      const run = await model.split(x, model.defaultLayer);
      const viaHead = tf.tidy(() => run.head(run.activation));
      expect(maxAbsDiff(viaHead[0], ort[0])).toBeLessThanOrEqual(1e-3);
      // rows: the same image twice.
      const twice = tf.tidy(() => run.head(tf.concat([run.activation, run.activation]) as tf.Tensor4D, [0, 0]));
      expect(twice[0].shape[0]).toBe(2);
      expect(tf.tidy(() => maxAbsDiff(twice[0].slice([1], [1]), ort[0]))).toBeLessThanOrEqual(1e-3);
      // The head on ONNX Runtime (the graph cut at the layer; Ablation-CAM's passes) = the TF.js head, on
      // altered activations of the same image twice. LR-ASPP's head reads sizes computed from the
      // image's shape, so it has none and the TF.js head serves.
      expect(Boolean(run.runHead), 'has an ONNX Runtime head').toBe(name !== 'lraspp_mobilenet_v3');
      const altered = tf.tidy(() => tf.concat([run.activation, run.activation.mul(tf.linspace(0, 2, run.activation.shape[3]))]) as tf.Tensor4D);
      const byOrt = run.runHead ? await run.runHead(altered, [0, 0]) : [];
      const byTfjs = tf.tidy(() => run.head(altered, [0, 0]));
      if (run.runHead) {
        expect(byOrt.map((t) => t.shape)).toEqual(byTfjs.map((t) => t.shape));
        byOrt.forEach((t, i) => expect(maxAbsDiff(t, byTfjs[i])).toBeLessThanOrEqual(1e-3));
        expect(tf.tidy(() => maxAbsDiff(byOrt[0].slice([0], [1]), byOrt[0].slice([1], [1])))).toBeGreaterThan(1e-3);
      }
      [...ort, ...mine, ...viaHead, ...twice, altered, ...byOrt, ...byTfjs].forEach((t) => t.dispose());
      run.dispose();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      model.dispose();
    });
  }

  it('ViT: the class token is taken before the last MLP, so the TF.js head runs it on one token (logits: the test above)', async () => {
    const vit = await loadOnnxFile(path.join(MODELS, 'vit_tiny.onnx'), { ortOptions: { workers: 0 } });
    const p = vit.program;
    const rankOf = (name: string) => p.meta.get(name)!.shape.length;
    const matmuls = (block: string) => p.steps.filter((s) => s.node.opType === 'MatMul' && s.node.name.includes(`/${block}/mlp/`));
    expect(matmuls('encoder_layer_3').map((s) => rankOf(s.outputs[0]))).toEqual([2, 2]); // [B, C]: one token
    expect(matmuls('encoder_layer_2').map((s) => rankOf(s.outputs[0]))).toEqual([3, 3]); // [B, 197, C]: every token
    // The layer explained by default is still a full token grid.
    expect(vit.layers.find((l) => l.name === vit.defaultLayer)!.shape).toEqual([null, 197, 192]);
    vit.dispose();
  });

  it('reads labels, preprocessing and tokens from the .json and the graph', async () => {
    const vit = await loadOnnxFile(path.join(MODELS, 'vit_tiny.onnx'));
    expect(vit.labels[282]).toBe('tiger cat');
    expect(vit.preprocessing.mean).toEqual([0.485, 0.456, 0.406]);
    const layer = vit.layers.find((l) => l.name === vit.defaultLayer)!;
    expect(layer.shape).toEqual([null, 197, 192]);
    expect(layer.tokens).toEqual({ grid: [14, 14], drop: 1 });
    const x = tf.zeros([1, 224, 224, 3]) as tf.Tensor4D;
    const run = await vit.split(x, 'auto');
    expect(run.activation.shape).toEqual([1, 14, 14, 192]);
    run.dispose();
    x.dispose();
    vit.dispose();
    const v1 = await loadOnnxFile(path.join(MODELS, 'mobilenet_v1_0.25_224.onnx'));
    expect(v1.preprocessing).toMatchObject({ size: [224, 224], range: [-1, 1] });
    expect(v1.preprocessing.mean).toBeUndefined();
    expect(v1.activation).toBe('softmax');
    // A torch module path resolves to its last tensor.
    expect(v1.resolveLayer('conv_pw_13_relu')).toBe('/conv_pw_13_relu/Clip_output_0');
    expect(() => v1.resolveLayer('nope')).toThrow(/layer 'nope' not found/);
    v1.dispose();
    const seg = await loadOnnxFile(path.join(MODELS, 'lraspp_mobilenet_v3.onnx'));
    expect(seg.labels.length).toBe(21);
    expect(seg.labels[15]).toBe('person');
    expect(seg.outputs[0].shape).toEqual([null, 224, 224, 21]);
    seg.dispose();
  });

  it('auto layer without the .json: the same tensors as the fixtures name', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'onnx-'));
    for (const name of ['squeezenet1_1', 'vit_tiny', 'lraspp_mobilenet_v3']) {
      copyFileSync(path.join(MODELS, `${name}.onnx`), path.join(dir, `${name}.onnx`));
      const m = await loadOnnxFile(path.join(dir, `${name}.onnx`));
      expect(m.defaultLayer, name).toBe(fixture(name).targetLayer.tensor);
      m.dispose();
    }
  });

  it('bad files: one-line errors', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'onnx-'));
    const bytes = readFileSync(path.join(MODELS, 'squeezenet1_1.onnx'));
    const cases: [string, Uint8Array | string, RegExp][] = [
      ['truncated.onnx', bytes.subarray(0, bytes.length >> 1), /truncated/],
      ['text.onnx', 'hello, this is not a model', /not an ONNX model/],
      ['empty.onnx', new Uint8Array(0), /not an ONNX model/],
    ];
    for (const [file, data, re] of cases) {
      writeFileSync(path.join(dir, file), data);
      const err = await loadOnnxFile(path.join(dir, file)).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain(file);
      expect((err as Error).message).not.toContain('\n');
    }
    await expect(loadOnnxFile(path.join(dir, 'absent.onnx'))).rejects.toThrow(/absent\.onnx: model not found/);
  });

  it('external weight data: missing is a one-line error naming both files; present, it is read and inlined for ONNX Runtime', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'onnx-ext-'));
    // An extra initializer stored outside the file, as torch.onnx.export writes large models.
    const weights = new Float32Array([1, 2, 3, 4]);
    const bytes = appendToModel(readFileSync(path.join(MODELS, 'squeezenet1_1.onnx')), {
      graph: { initializer: [{ name: 'unused_external', dims: [4], dataType: 1, dataLocation: 1,
        externalData: [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: '16' }] }] },
    });
    const file = path.join(dir, 'external.onnx');
    writeFileSync(file, bytes);
    const err = await loadOnnxFile(file).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/external\.onnx: .*external weight data 'weights\.bin' is missing/);
    expect((err as Error).message).not.toContain('\n');
    writeFileSync(path.join(dir, 'weights.bin'), new Uint8Array(weights.buffer));
    const model = await loadOnnxFile(file);
    expect(model.program.statics.has('unused_external')).toBe(true);
    const x = catDog(model);
    const [logits] = await model.run(x);
    expect(logits.shape).toEqual([1, 1000]);
    tf.dispose([x, logits]);
    model.dispose();
  });

  it('a model with two image inputs is refused in one line naming both', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'onnx-two-'));
    const file = path.join(dir, 'two_inputs.onnx');
    writeFileSync(file, appendToModel(readFileSync(path.join(MODELS, 'squeezenet1_1.onnx')), {
      graph: { input: [{ name: 'depth', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 1 }, { dimValue: 224 }, { dimValue: 224 }] } } } }] },
    }));
    const err = await loadOnnxFile(file).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/two_inputs\.onnx: the model has 2 inputs \(\w+, depth\); gradcam explains models with one image input/);
    expect((err as Error).message).not.toContain('\n');
  });

  it('ONNX Runtime in worker threads = on the main thread; a batch of 19 runs in calls of 8 = one by one; inputs blended by ONNX Runtime = blended in TF.js (cached blend images too); disposed models refuse', async () => {
    const file = path.join(MODELS, 'mobilenet_v1_0.25_224.onnx');
    const pooled = await loadOnnxFile(file, { ortOptions: { workers: 2 } });
    const inline = await loadOnnxFile(file, { ortOptions: { workers: 0 } });
    const before = tf.memory().numTensors;
    const x = tf.tidy(() => {
      const one = catDog(pooled);
      return tf.concat(Array.from({ length: 19 }, (_, i) => one.mul(1 - i / 40))) as tf.Tensor4D;
    });
    const [a] = await pooled.run(x);
    const [b] = await inline.run(x);
    const last = x.slice([18], [1]);
    const [c] = await inline.run(last);
    expect(a.shape).toEqual([19, 1000]);
    expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-5);
    expect(tf.tidy(() => maxAbsDiff(a.slice([18], [1]), c))).toBeLessThanOrEqual(1e-4);
    // The rows differ (the batch was not collapsed to one image).
    expect(tf.tidy(() => maxAbsDiff(a.slice([0], [1]), c))).toBeGreaterThan(1e-3);
    // Blended by ONNX Runtime (Score-CAM's masks, deletion steps) = blended in TF.js, then run.
    const [, h, w] = x.shape;
    const to = x.slice([0], [1]);
    const from = tf.tidy(() => x.slice([18], [1]).reverse(2));
    const masks = tf.tidy(() => tf.stack(Array.from({ length: 11 }, (_, i) => tf.linspace(0, 1, h * w).reshape([h, w, 1]).pow(i / 3))) as tf.Tensor4D);
    const blended = tf.tidy(() => from.add(to.sub(from).mul(masks)) as tf.Tensor4D);
    const [d] = await pooled.runMasked(to, masks, from);
    const [e] = await inline.run(blended);
    const [f] = await inline.runMasked(to, masks);
    const scaled = tf.tidy(() => to.mul(masks)) as tf.Tensor4D;
    const [g] = await inline.run(scaled);
    expect(d.shape).toEqual([11, 1000]);
    expect(maxAbsDiff(d, e)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(f, g)).toBeLessThanOrEqual(1e-4);
    expect(tf.tidy(() => maxAbsDiff(d.slice([0], [1]), d.slice([10], [1])))).toBeGreaterThan(1e-2);
    // Masks made in the graph from a rank map and a count per row = the same masks made in TF.js.
    const rank = tf.tidy(() => tf.linspace(0, h * w - 1, h * w).reverse().reshape([h, w]) as tf.Tensor2D);
    const counts = [0, 5000, 20000, h * w];
    for (const base of [from, undefined]) {
      const [p] = await pooled.runMasked(to, { rank, counts }, base);
      const built = tf.tidy(() => { const m = rankMasks({ rank, counts }); return (base ? base.add(to.sub(base).mul(m)) : to.mul(m)) as tf.Tensor4D; });
      const [q] = await inline.run(built);
      expect(maxAbsDiff(p, q)).toBeLessThanOrEqual(1e-4);
      tf.dispose([p, q, built]);
    }
    rank.dispose();
    // Blend images are sent once per worker and cached (8 each): 10 images, then the first again.
    const images = Array.from({ length: 10 }, (_, i) => x.slice([i], [1]));
    const two = masks.slice([3], [2]);
    for (const k of [...images.keys(), 0]) {
      const [p] = await pooled.runMasked(images[k], two);
      const [q] = await inline.runMasked(images[k], two);
      expect(maxAbsDiff(p, q)).toBeLessThanOrEqual(1e-4);
      tf.dispose([p, q]);
    }
    tf.dispose([a, b, c, d, e, f, g, x, last, to, from, masks, blended, scaled, two, ...images]);
    expect(tf.memory().numTensors).toBe(before);
    pooled.dispose();
    inline.dispose();
    const y = catDog(inline);
    await expect(pooled.run(y)).rejects.toThrow(/disposed/);
    y.dispose();
  });

  it('protobuf: appended graph outputs parse as extra outputs', async () => {
    const bytes = new Uint8Array(readFileSync(path.join(MODELS, 'squeezenet1_1.onnx')));
    const m = await parseOnnx(withExtraOutputs(bytes, [{ name: '/features/features.12/Concat_output_0', elemType: 1 }]));
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['logits', '/features/features.12/Concat_output_0']);
    expect(m.opset).toBe(17);
  });
});
