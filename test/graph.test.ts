/**
 * Models that are not chains: residual adds, concatenations, nested models. The split head must
 * reproduce the model's own prediction, its gradient must match finite differences, and a tiny
 * model's Grad-CAM must equal the hand-derived CAM.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { explain } from '../src/index.js';
import { wrapModel } from '../src/model/load.js';
import { LayersExplainableModel } from '../src/model/layers-model.js';
import { initBackend } from '../src/node/backend.js';
import { MODEL_025, model, pearson, referenceInput } from './helpers.js';

beforeAll(async () => {
  await initBackend('cpu'); // float gradients checked against finite differences on the reference backend
});

/** A small random-weight net with a residual add, a concatenation and a smooth head. */
function residualNet(): tf.LayersModel {
  const init = { kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) };
  const input = tf.input({ shape: [12, 12, 3] });
  const c1 = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1', ...init }).apply(input) as tf.SymbolicTensor;
  const c2 = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'c2', ...init }).apply(c1) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(c2) as tf.SymbolicTensor;
  const add = tf.layers.add({ name: 'res' }).apply([bn, c1]) as tf.SymbolicTensor;
  const a = tf.layers.activation({ activation: 'relu', name: 'target' }).apply(add) as tf.SymbolicTensor;
  const branch = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'dw', depthwiseInitializer: tf.initializers.glorotNormal({ seed: 2 }) }).apply(a) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([a, branch, c1]) as tf.SymbolicTensor;
  const c3 = tf.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh', name: 'c3', ...init }).apply(cat) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({}).apply(c3) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'softmax', name: 'out', kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }).apply(gap) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe('a residual + concatenation net', () => {
  it('splits at an inner layer: the head reproduces the prediction and its gradient matches finite differences', async () => {
    const net = residualNet();
    const m = wrapModel(net);
    expect(m.defaultLayer).toBe('c3');
    const before = tf.memory().numTensors;
    const x = tf.randomUniform([2, 12, 12, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
    const run = await m.split(x, 'target');
    tf.tidy(() => {
      // The head (which also reads c1 through the skip and the concatenation) gives the model's own output.
      const probs = tf.softmax(run.head(run.activation)[0]);
      expect(tf.max(tf.abs(probs.sub(net.predict(x) as tf.Tensor))).dataSync()[0]).toBeLessThan(1e-5);

      // d logit_2 / dA for image 1 by autodiff, against central differences over every element.
      const a1 = run.activation.slice([1], [1]);
      const score = (a: tf.Tensor4D, rows: number[]) => run.head(a, rows)[0].slice([0, 2], [-1, 1]).reshape([-1]);
      const grad = tf.grad((a) => score(a as tf.Tensor4D, [1]).sum())(a1).dataSync();
      const n = a1.size;
      const eps = 1e-2;
      const eye = tf.oneHot(tf.range(0, n, 1, 'int32'), n).reshape([n, ...a1.shape.slice(1)]).mul(eps);
      const rows = new Array(n).fill(1);
      const plus = score(a1.add(eye) as tf.Tensor4D, rows).dataSync();
      const minus = score(a1.sub(eye) as tf.Tensor4D, rows).dataSync();
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < n; i++) {
        worst = Math.max(worst, Math.abs((plus[i] - minus[i]) / (2 * eps) - grad[i]));
        scale = Math.max(scale, Math.abs(grad[i]));
      }
      expect(scale).toBeGreaterThan(0);
      expect(worst).toBeLessThan(2e-3 * scale + 1e-5);
    });
    run.dispose();
    x.dispose();
    expect(tf.memory().numTensors).toBe(before); // dispose frees the activation and the captured skip tensors
    net.dispose();
  });

  it('explains every 4-D layer, including inside the residual block, without leaking', async () => {
    const net = residualNet();
    const m = wrapModel(net);
    const img = { data: new Uint8Array(12 * 12 * 3).map((_, i) => (i * 37) % 256), width: 12, height: 12 };
    const before = tf.memory().numTensors;
    for (const l of ['c1', 'res', 'target', 'dw', 'cat', 'c3']) {
      const [r] = await explain(m, [img], { layer: l, targets: [2] });
      expect(r.layer).toBe(l);
      expect(r.targets[0].cam.data.every(Number.isFinite)).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
  });
});

describe('a one-conv + GAP + dense model', () => {
  it("has Grad-CAM equal to Zhou et al.'s CAM (Σ_k W[k,c] A_k), computed by hand", async () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const conv = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv',
      kernelInitializer: tf.initializers.randomNormal({ seed: 5 }) }).apply(input) as tf.SymbolicTensor;
    const gap = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
    const dense = tf.layers.dense({ units: 3, name: 'fc', kernelInitializer: tf.initializers.randomNormal({ seed: 6 }) });
    const net = tf.model({ inputs: input, outputs: dense.apply(gap) as tf.SymbolicTensor });
    const m = wrapModel(net);
    const img = { data: new Uint8Array(8 * 8 * 3).map((_, i) => (i * 91 + 13) % 256), width: 8, height: 8 };
    for (const c of [0, 1, 2]) {
      const [r] = await explain(m, [img], { targets: [c] });
      const expected = tf.tidy(() => {
        const x = tf.tensor4d(img.data, [1, 8, 8, 3], 'float32').div(127.5).sub(1);
        const a = (net.getLayer('conv').apply(x) as tf.Tensor).squeeze([0]);
        const w = (dense.getWeights()[0] as tf.Tensor2D).slice([0, c], [4, 1]).reshape([4]);
        return a.mul(w).sum(2).div(64).dataSync();
      });
      const raw = r.targets[0].rawCam.data;
      for (let i = 0; i < 64; i++) expect(raw[i]).toBeCloseTo(expected[i], 5);
      expect(r.targets[0].weights!.length).toBe(4);
    }
    net.dispose();
  });

  it('returns an all-zero map and a flag, never NaN, when there is no positive evidence', async () => {
    const input = tf.input({ shape: [6, 6, 3] });
    const conv = tf.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'relu', name: 'conv', kernelInitializer: 'ones', biasInitializer: 'ones' })
      .apply(input) as tf.SymbolicTensor;
    const gap = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.constant({ value: -1 }) }).apply(gap) as tf.SymbolicTensor;
    const net = tf.model({ inputs: input, outputs: out });
    const [r] = await explain(wrapModel(net), [{ data: new Uint8Array(6 * 6 * 3).fill(200), width: 6, height: 6 }], { targets: [0] });
    const t = r.targets[0];
    expect(t.noEvidence).toBe(true);
    expect(t.peak).toBeNull();
    expect(t.cam.data.every((v) => v === 0)).toBe(true);
    expect(t.heatmap.data.every((v) => v === 0)).toBe(true);
    net.dispose();
  });
});

describe('nested models: MobileNet used as a layer', () => {
  it('explains MobileNet wrapped in a functional and in a sequential model exactly as the bare model', async () => {
    await initBackend('wasm');
    const bare = (await model(MODEL_025)) as LayersExplainableModel;
    const img = referenceInput('cat_dog');
    const [ref] = await explain(bare, [img], { targets: [282] });

    const input = tf.input({ shape: [224, 224, 3] });
    const functional = tf.model({ inputs: input, outputs: bare.model.apply(input) as tf.SymbolicTensor });
    const sequential = tf.sequential({ layers: [bare.model] });
    for (const outer of [functional, sequential]) {
      const m = wrapModel(outer);
      expect(m.defaultLayer).toMatch(/conv_pw_13_relu$/);
      expect(m.resolveLayer('conv_pw_13_relu')).toBe(m.defaultLayer);
      const [r] = await explain(m, [img], { targets: [282] });
      expect(r.targets[0].logit).toBeCloseTo(ref.targets[0].logit, 4);
      expect(pearson(r.targets[0].cam.data, ref.targets[0].cam.data)).toBeGreaterThan(0.9999);
    }
  });
});
