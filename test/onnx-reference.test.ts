/**
 * ONNX models against pytorch-grad-cam on the same weights (../shared/reference-onnx): the layer-resolution
 * maps of Grad-CAM (every model), Grad-CAM++, LayerCAM and Eigen-CAM (resnet18, mobilenet v1) correlate
 * with Pearson ≥ 0.99; the explained score matches too. Gradients are taken through the split model's
 * TF.js head (ONNX Runtime runs the body).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withGradients, WASM_SAFE_GRADIENTS } from '../src/core/gradients.js';
import type { OnnxExplainableModel } from '../src/model/onnx/model.js';
import { loadOnnxFile } from '../src/model/onnx/node.js';
import { initBackend } from '../src/node/backend.js';
import { SHARED_DIR } from '../scripts/shared.js';
import { pearson, referenceInput } from './helpers.js';
import { preprocess } from '../src/core/image.js';

const REF = path.join(SHARED_DIR, 'reference-onnx');
const MODELS = path.join(SHARED_DIR, 'models', 'onnx');

interface Ref {
  image_stem: string; method: string; score: number;
  target: { kind: 'class' | 'segment'; classIndex: number; mask?: string };
  layer: { tensor: string }; cam_layer_norm: number[][];
}

/** The exact network input of a reference image, preprocessed as the model says (the library's own preprocess). */
const input = (model: OnnxExplainableModel, stem: string) => preprocess(referenceInput(stem), model.preprocessing);

async function mask(file: string): Promise<tf.Tensor2D> {
  const { data, info } = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
  return tf.tensor2d(Float32Array.from(data, (v) => (v > 127 ? 1 : 0)), [info.height, info.width]);
}

/** Maps at the layer's resolution [h*w] for one image/target. */
function cams(a: tf.Tensor4D, g: tf.Tensor4D): Record<string, Float32Array> {
  return tf.tidy(() => {
    const [, h, w, c] = a.shape;
    const gradcam = a.mul(g.mean([1, 2], true)).sum(3).relu();
    const g2 = g.square(), g3 = g2.mul(g);
    const sumA = a.sum([1, 2], true);
    const aij = g2.div(g2.mul(2).add(sumA.mul(g3)).add(1e-7));
    const alpha = tf.where(g.notEqual(0), aij, tf.zerosLike(aij));
    const ppWeights = g.relu().mul(alpha).sum([1, 2], true);
    const gradcampp = a.mul(ppWeights).sum(3).relu();
    const layercam = a.mul(g.relu()).sum(3).relu();
    // Eigen-CAM: projection on the first principal direction (power iteration on the covariance).
    const flat = a.reshape([h * w, c]);
    const centred = flat.sub(flat.mean(0));
    let v = tf.ones([c, 1]).div(Math.sqrt(c));
    const cov = tf.matMul(centred, centred, true, false);
    for (let i = 0; i < 100; i++) { const u = tf.matMul(cov, v); v = u.div(u.norm()); }
    const eigen = tf.matMul(centred, v).reshape([h * w]);
    return {
      GradCAM: gradcam.dataSync() as Float32Array,
      GradCAMPlusPlus: gradcampp.dataSync() as Float32Array,
      LayerCAM: layercam.dataSync() as Float32Array,
      EigenCAM: eigen.dataSync() as Float32Array,
    };
  });
}

const relu = (x: Float32Array) => x.map((v) => Math.max(0, v));

describe('ONNX models vs pytorch-grad-cam', () => {
  beforeAll(async () => { await initBackend('wasm'); });
  const results: string[] = [];
  afterAll(() => console.log(results.join('\n')));

  for (const name of readdirSync(REF).filter((d) => statSync(path.join(REF, d)).isDirectory()).sort()) {
    it(name, async () => {
      const model = await loadOnnxFile(path.join(MODELS, `${name}.onnx`));
      const before = tf.memory().numTensors;
      const refs = readdirSync(path.join(REF, name)).filter((f) => f.endsWith('.json'))
        .map((f) => JSON.parse(readFileSync(path.join(REF, name, f), 'utf8')) as Ref);
      const worst: Record<string, number> = {};
      for (const stem of [...new Set(refs.map((r) => r.image_stem))].sort()) {
        const x = input(model, stem);
        const layer = model.resolveLayer(refs[0].layer.tensor);
        expect(layer).toBe(refs[0].layer.tensor);
        const run = await model.split(x, layer);
        const mine = refs.filter((r) => r.image_stem === stem);
        for (const classIndex of [...new Set(mine.map((r) => r.target.classIndex))]) {
          const t = mine.find((r) => r.target.classIndex === classIndex)!.target;
          const m = t.mask ? await mask(path.join(REF, name, t.mask)) : undefined;
          const score = (outs: tf.Tensor[]) => {
            const y = outs[0];
            if (!m) return y.slice([0, classIndex], [y.shape[0], 1]).sum();
            const [n, h, w] = y.shape;
            return y.slice([0, 0, 0, classIndex], [n!, h!, w!, 1]).reshape([n!, h!, w!]).mul(m).sum();
          };
          const s = tf.tidy(() => score(run.head(run.activation)).dataSync()[0]);
          const g = withGradients(WASM_SAFE_GRADIENTS, () => tf.grad((a: tf.Tensor) => score(run.head(a as tf.Tensor4D)))(run.activation)) as tf.Tensor4D;
          const maps = cams(run.activation, g);
          g.dispose();
          m?.dispose();
          for (const r of mine.filter((q) => q.target.classIndex === classIndex)) {
            expect(Math.abs(s - r.score)).toBeLessThan(1e-3 * Math.max(1, Math.abs(r.score)));
            const ref = Float32Array.from(r.cam_layer_norm.flat());
            const mapped = maps[r.method];
            const p = r.method === 'EigenCAM'
              ? Math.max(pearson(relu(mapped), ref), pearson(relu(mapped.map((v) => -v)), ref))
              : pearson(mapped, ref);
            worst[r.method] = Math.min(worst[r.method] ?? 1, p);
          }
        }
        run.dispose();
        x.dispose();
      }
      results.push(`${name}: ${Object.entries(worst).map(([k, v]) => `${k} min r=${v.toFixed(4)}`).join(', ')}`);
      for (const [method, p] of Object.entries(worst)) expect(p, `${name} ${method}`).toBeGreaterThanOrEqual(0.99);
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });
  }
});
