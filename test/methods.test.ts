/**
 * Each CAM method against its closed form on tiny hand-built models, the principal-component
 * projection against a known decomposition, smoothing, counterfactuals, per-image targets, leaks.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCompare } from '../src/cli/compare.js';
import { explain, type ImageExplanation } from '../src/index.js';
import { AUGMENTATIONS, firstComponent } from '../src/core/smooth.js';
import { methods, type MethodName } from '../src/methods/index.js';
import { wrapModel } from '../src/model/load.js';
import type { ExplainableModel } from '../src/model/types.js';
import { initBackend } from '../src/node/backend.js';
import { MODEL_025, model, pearson, referenceInput, sharedImage } from './helpers.js';

const S = 8; // input and layer size of the tiny model
const K = 4; // channels
const CELLS = S * S;

/** input 8×8×3 → conv 3×3 (relu, 4 channels, 'conv') → global average pool → dense (3 logits, 'fc'). */
function convGapDense(conv?: Partial<Parameters<typeof tf.layers.conv2d>[0]>) {
  const input = tf.input({ shape: [S, S, 3] });
  const convLayer = tf.layers.conv2d({ filters: K, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv',
    kernelInitializer: tf.initializers.randomNormal({ seed: 11 }), biasInitializer: tf.initializers.constant({ value: 0.2 }), ...conv });
  const gap = tf.layers.globalAveragePooling2d({}).apply(convLayer.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const fc = tf.layers.dense({ units: 3, name: 'fc', kernelInitializer: tf.initializers.randomNormal({ seed: 12 }),
    biasInitializer: tf.initializers.constant({ value: 0.5 }) });
  const net = tf.model({ inputs: input, outputs: fc.apply(gap) as tf.SymbolicTensor });
  return { net, convLayer, W: fc.getWeights()[0].arraySync() as number[][], m: wrapModel(net) };
}

const image = { data: new Uint8Array(CELLS * 3).map((_, i) => (i * 91 + 13) % 256), width: S, height: S };

/** The conv activation `A[i][k]` (i = cell) and the logits, computed directly with the layers. */
function forward(net: tf.LayersModel, convLayer: tf.layers.Layer, img: { data: Uint8Array }) {
  return tf.tidy(() => {
    const x = tf.tensor4d(img.data, [1, S, S, 3], 'float32').div(127.5).sub(1);
    const a = (convLayer.apply(x) as tf.Tensor).reshape([CELLS, K]).arraySync() as number[][];
    const logits = (net.predict(x) as tf.Tensor).reshape([-1]).arraySync() as number[];
    return { a, logits, x: x.arraySync() as number[][][][] };
  });
}

const closeTo = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number) => {
  const scale = Math.max(...Array.from(expected, Math.abs), 1e-12);
  const worst = Math.max(...Array.from(actual, (v, i) => Math.abs(v - expected[i])));
  expect(worst / scale).toBeLessThan(tol);
};

beforeAll(async () => {
  await initBackend('cpu');
});

describe('closed forms on conv → GAP → dense (∂y_c/∂A_k(i,j) = W[k,c]/(h·w) everywhere)', () => {
  let net: tf.LayersModel, W: number[][], m: ExplainableModel, a: number[][], logits: number[];
  beforeAll(() => {
    const built = convGapDense();
    ({ net, W, m } = built);
    ({ a, logits } = forward(net, built.convLayer, image));
  });
  afterAll(() => net.dispose());
  const sumA = (k: number) => a.reduce((s, row) => s + row[k], 0);
  const mapOf = (w: (k: number) => number) => a.map((row) => row.reduce((s, v, k) => s + w(k) * v, 0));
  const run = async (method: MethodName, c: number) => (await explain(m, [image], { method, targets: [c] }))[0].targets[0];

  it('the activation has positive evidence for every class (the test is not vacuous)', () => {
    for (let k = 0; k < K; k++) expect(sumA(k)).toBeGreaterThan(0);
  });

  it.each([0, 1, 2])("Grad-CAM is Zhou et al.'s CAM Σ_k W[k,c]·A_k divided by h·w; HiResCAM and XGrad-CAM equal it (class %i)", async (c) => {
    const cam = mapOf((k) => W[k][c] / CELLS);
    for (const method of ['gradcam', 'hirescam', 'xgradcam'] as MethodName[]) closeTo((await run(method, c)).rawCam.data, cam, 1e-5);
    closeTo((await run('gradcam', c)).weights!, W.map((r) => r[c] / CELLS), 1e-5);
  });

  it.each([0, 1, 2])('Grad-CAM++: w_k = h·w · ReLU(g)·g²/(2g² + ΣA_k·g³ + 1e-6) with g = W[k,c]/(h·w); LayerCAM = Σ_k ReLU(g)·A_k (class %i)', async (c) => {
    const g = (k: number) => W[k][c] / CELLS;
    const wpp = (k: number) => CELLS * Math.max(g(k), 0) * g(k) ** 2 / (2 * g(k) ** 2 + sumA(k) * g(k) ** 3 + 1e-6);
    closeTo((await run('gradcam++', c)).weights!, Array.from({ length: K }, (_, k) => wpp(k)), 1e-4);
    closeTo((await run('gradcam++', c)).rawCam.data, mapOf(wpp), 1e-4);
    closeTo((await run('layercam', c)).rawCam.data, mapOf((k) => Math.max(g(k), 0)), 1e-5);
  });

  it.each([0, 1, 2])('Ablation-CAM: w_k = mean(A_k)·W[k,c] / y_c (class %i)', async (c) => {
    const w = Array.from({ length: K }, (_, k) => (sumA(k) / CELLS) * W[k][c] / Math.abs(logits[c]));
    closeTo((await run('ablationcam', c)).weights!, w, 1e-4);
  });

  it('Score-CAM: w = softmax_k of the logit of the input masked by min–max(A_k) (layer size = input size)', async () => {
    const masked = tf.tidy(() => {
      const x = tf.tensor4d(image.data, [1, S, S, 3], 'float32').div(127.5).sub(1);
      const A = tf.tensor2d(a).reshape([1, S, S, K]);
      const lo = A.min([1, 2], true);
      const masks = A.sub(lo).div(A.max([1, 2], true).sub(lo).add(1e-8)).transpose([3, 1, 2, 0]);
      return (net.predict(masks.mul(x)) as tf.Tensor).arraySync() as number[][];
    });
    for (const c of [0, 2]) {
      const scores = masked.map((row) => row[c]);
      const e = scores.map((s) => Math.exp(s - Math.max(...scores)));
      const t = await run('scorecam', c);
      closeTo(t.weights!, e.map((v) => v / e.reduce((p, q) => p + q)), 1e-4);
      closeTo(t.rawCam.data, mapOf((k) => t.weights![k]), 1e-5);
    }
  });

  it('batches perturbations: Score-CAM and Ablation-CAM weights do not depend on the batch size', async () => {
    for (const method of ['scorecam', 'ablationcam'] as MethodName[]) {
      const [one] = await explain(m, [image], { method, targets: [1], batchSize: 1 });
      const [three] = await explain(m, [image], { method, targets: [1], batchSize: 3 });
      closeTo(three.targets[0].weights!, one.targets[0].weights!, 1e-6);
    }
  });

  it('counterfactual Grad-CAM negates the raw map; Eigen-CAM is the same for every class', async () => {
    const [plain] = await explain(m, [image], { targets: [0] });
    const [cf] = await explain(m, [image], { targets: [0], counterfactual: true });
    closeTo(cf.targets[0].rawCam.data, plain.targets[0].rawCam.data.map((v) => -v), 1e-6);
    const [eig] = await explain(m, [image], { method: 'eigencam', targets: [0, 1, 2] });
    expect(eig.targets[1].rawCam.data).toEqual(eig.targets[0].rawCam.data);
    expect(eig.targets[2].rawCam.data).toEqual(eig.targets[0].rawCam.data);
  });

  it('every method in the registry has a title and leaks no tensor, with and without smoothing', async () => {
    const names = Object.keys(methods) as MethodName[];
    expect(names).toEqual(expect.arrayContaining(['gradcam', 'gradcam++', 'xgradcam', 'hirescam', 'layercam', 'eigencam', 'eigengradcam', 'scorecam', 'ablationcam']));
    for (const name of names) {
      expect(methods[name].title.length).toBeGreaterThan(2);
      await explain(m, [image], { method: name, targets: [0] });
      const before = tf.memory().numTensors;
      for (const opts of [{}, { augSmooth: true }, { eigenSmooth: true }]) {
        const [r] = await explain(m, [image, image], { method: name, targets: [[0, 1], [2]], batchSize: 2, ...opts });
        expect(r.targets.every((t) => t.cam.data.every(Number.isFinite))).toBe(true);
      }
      expect(tf.memory().numTensors, name).toBe(before);
    }
  });
});

describe('principal component (Eigen-CAM, eigen-smooth)', () => {
  /** X = σ₁ u₁ v₁ᵀ + σ₂ u₂ v₂ᵀ + column means, with u's centred and orthonormal, v's orthonormal. */
  function known(p: number, c: number) {
    const unit = (f: (i: number) => number, n: number) => {
      const v = Array.from({ length: n }, (_, i) => f(i));
      const mean = v.reduce((s, x) => s + x, 0) / n;
      const cv = v.map((x) => x - mean);
      const norm = Math.hypot(...cv);
      return cv.map((x) => x / norm);
    };
    const u1 = unit((i) => i * i, p);
    const u2raw = unit((i) => Math.sin(i * 1.7), p);
    const d = u2raw.reduce((s, x, i) => s + x * u1[i], 0);
    const u2 = unit((i) => u2raw[i] - d * u1[i], p);
    const v1 = Array.from({ length: c }, () => 1 / Math.sqrt(c));
    const v2 = Array.from({ length: c }, (_, k) => (k % 2 ? 1 : -1) * (c % 2 && k === c - 1 ? 0 : 1));
    const n2 = Math.hypot(...v2);
    const x = new Float64Array(p * c);
    for (let i = 0; i < p; i++) for (let k = 0; k < c; k++) x[i * c + k] = 5 * u1[i] * v1[k] + 2 * u2[i] * v2[k] / n2 + 3 + k;
    return { x, expected: u1.map((v) => 5 * v) };
  }

  it.each([[49, 256], [49, 16]])('recovers σ₁u₁ from a %i×%i matrix with a known SVD, sign towards Σ_k X_k', (p, c) => {
    const { x, expected } = known(p, c);
    closeTo(firstComponent(x, p, c), expected, 1e-9);
  });

  it('Eigen-CAM of a rank-1 activation u⊗v is its centred spatial map (u − ū)·‖v‖', async () => {
    // A 1×1 linear conv with a positive kernel makes A[i,k] = x_i · v_k when the 3 input channels are equal.
    const input = tf.input({ shape: [S, S, 3] });
    const conv = tf.layers.conv2d({ filters: K, kernelSize: 1, useBias: false, name: 'conv',
      kernelInitializer: tf.initializers.randomUniform({ minval: 0.1, maxval: 1, seed: 3 }) });
    const out = tf.layers.dense({ units: 2 }).apply(tf.layers.globalAveragePooling2d({}).apply(conv.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor);
    const net = tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
    const gray = { data: new Uint8Array(CELLS * 3).map((_, i) => Math.round(128 + 120 * Math.sin(Math.floor(i / 3) * 0.37))), width: S, height: S };
    const [r] = await explain(wrapModel(net), [gray], { method: 'eigencam', layer: 'conv', targets: [0] });
    const kernel = conv.getWeights()[0].arraySync() as number[][][][];
    const v = Array.from({ length: K }, (_, k) => kernel[0][0].reduce((s, row) => s + row[k], 0));
    const u = Array.from({ length: CELLS }, (_, i) => gray.data[i * 3] / 127.5 - 1);
    const mean = u.reduce((s, x) => s + x, 0) / CELLS;
    closeTo(r.targets[0].rawCam.data, u.map((x) => (x - mean) * Math.hypot(...v)), 1e-4);
    net.dispose();
  });
});

describe('smoothing', () => {
  let built: ReturnType<typeof convGapDense>;
  beforeAll(() => { built = convGapDense(); });
  afterAll(() => built.net.dispose());

  it('augSmooth = the average of the normalised maps of the flipped / intensity-scaled inputs, aligned back', async () => {
    const { m } = built;
    const [smooth] = await explain(m, [image], { targets: [1], augSmooth: true });
    const sum = new Float64Array(CELLS);
    for (const { flip, scale } of AUGMENTATIONS) {
      // Intensity scale s of the [-1, 1] input is pixel p → s·p + 127.5·(1 − s); a float tensor image carries it exactly.
      const t = tf.tidy(() => {
        const px = tf.tensor3d(image.data, [S, S, 3], 'float32').mul(scale).add(127.5 * (1 - scale));
        return (flip ? tf.reverse(px, 1) : px) as tf.Tensor3D;
      });
      const [r] = await explain(m, [t], { targets: [1] });
      t.dispose();
      r.targets[0].cam.data.forEach((v, i) => { sum[flip ? Math.floor(i / S) * S + (S - 1 - (i % S)) : i] += v; });
    }
    const lo = Math.min(...sum), hi = Math.max(...sum);
    closeTo(smooth.targets[0].cam.data, Array.from(sum, (v) => (v - lo) / (hi - lo)), 1e-4);
    expect(smooth.targets[0].logit).toBeCloseTo((await explain(m, [image], { targets: [1] }))[0].targets[0].logit, 5);
  });

  it("eigenSmooth = the first principal component of the method's terms w_k·A_k", async () => {
    const { m, net, convLayer } = built;
    const [plain] = await explain(m, [image], { targets: [2] });
    const [eig] = await explain(m, [image], { targets: [2], eigenSmooth: true });
    const { a } = forward(net, convLayer, image);
    const w = plain.targets[0].weights!;
    const terms = a.flatMap((row) => row.map((v, k) => v * w[k]));
    closeTo(eig.targets[0].rawCam.data, firstComponent(terms, CELLS, K), 1e-4);
    expect(pearson(eig.targets[0].rawCam.data, plain.targets[0].rawCam.data)).toBeGreaterThan(0);
  });
});

describe('MobileNet α=0.25 on cat_dog', () => {
  const CAT = 281; // tabby: the 0.25 model's best cat class here
  const DOG = 243;
  const topMass = (r: ImageExplanation) => {
    const h = r.targets[0].heatmap;
    let top = 0, all = 0;
    h.data.forEach((v, i) => { all += v; if (i < h.data.length / 2) top += v; });
    return top / all;
  };
  let m: ExplainableModel;
  beforeAll(async () => { m = await model(MODEL_025); });

  it('counterfactual: the plain cat map lies on the cat (bottom), the counterfactual one mostly on the dog (top)', async () => {
    const img = referenceInput('cat_dog');
    const [plain] = await explain(m, [img], { targets: [CAT] });
    const [cf] = await explain(m, [img], { targets: [CAT], counterfactual: true });
    expect(topMass(plain)).toBeLessThan(0.4);
    expect(topMass(cf)).toBeGreaterThan(0.6);
    expect(pearson(plain.targets[0].cam.data, cf.targets[0].cam.data)).toBeLessThan(0);
  });

  it('per-image targets in one batch, with a perturbation method: same as one image at a time', async () => {
    const imgs = [referenceInput('cat_dog'), referenceInput('chelsea')];
    const batch = await explain(m, imgs, { method: 'ablationcam', targets: [[CAT, DOG], [285]], batchSize: 64 });
    expect(batch.map((r) => r.targets.map((t) => t.classIndex))).toEqual([[CAT, DOG], [285]]);
    for (const [i, img] of imgs.entries()) {
      const [single] = await explain(m, [img], { method: 'ablationcam', targets: batch[i].targets.map((t) => t.classIndex), batchSize: 64 });
      for (const [k, t] of single.targets.entries()) closeTo(batch[i].targets[k].cam.data, t.cam.data, 1e-4);
    }
    expect(batch[0].targets[0].peak!.y).toBeGreaterThan(112);
    expect(batch[0].targets[1].peak!.y).toBeLessThan(112);
  });
});

describe('gradcam compare', () => {
  it('writes one titled grid: a row per class, the image then each method (Guided Grad-CAM after Grad-CAM)', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'gradcam-compare-'));
    const r = await runCompare(sharedImage('chelsea.png'), {
      model: MODEL_025, backend: 'wasm', class: ['285', '281'], target: [], methods: 'gradcam,eigencam', layer: [], out,
      batch: 16, colormap: 'jet', alpha: 0.5, guided: true,
    });
    expect(r.file).toBe(path.join(out, 'chelsea.compare.png'));
    expect(r.titles.map((row) => row.slice(1))).toEqual([['Grad-CAM', 'Guided Grad-CAM', 'Eigen-CAM'], ['Grad-CAM', 'Guided Grad-CAM', 'Eigen-CAM']]);
    expect(r.titles[0][0]).toMatch(/^Egyptian cat \(285\)/);
    const meta = await sharp(r.file).metadata();
    // 4 tiles of 224 px height at chelsea's aspect ratio (451×300), 2 rows with title bars.
    expect(meta.width).toBe(4 * Math.round((224 * 451) / 300) + 5 * 4);
    expect(meta.height).toBe(2 * (224 + 22 + 4) + 4);
  });
});
