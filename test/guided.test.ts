/**
 * Guided backpropagation and Guided Grad-CAM: the closed form on a tiny dense ReLU net, the model and
 * TF.js's gradient registry left unchanged, and on MobileNet the class-discriminative product.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { combineGuided, guidedBackprop, guidedGradcam, saliencyImage } from '../src/index.js';
import { wrapModel } from '../src/model/load.js';
import { initBackend } from '../src/node/backend.js';
import { MODEL_025, model, pearson, referenceInput } from './helpers.js';

/** input 2×2×3 → flatten → dense 6 (relu or relu6 layer) → dense 3 (logits). */
function denseNet(relu6: boolean) {
  const input = tf.input({ shape: [2, 2, 3] });
  const hidden = tf.layers.dense({ units: 6, name: 'h', kernelInitializer: tf.initializers.randomNormal({ seed: 21, stddev: 2 }) });
  const act = relu6 ? tf.layers.reLU({ maxValue: 6 }) : tf.layers.activation({ activation: 'relu' });
  const out = tf.layers.dense({ units: 3, name: 'o', kernelInitializer: tf.initializers.randomNormal({ seed: 22 }) });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const net = tf.model({ inputs: input, outputs: out.apply(act.apply(hidden.apply(flat) as tf.SymbolicTensor)) as tf.SymbolicTensor });
  const [W1, b1] = hidden.getWeights().map((w) => w.arraySync()) as [number[][], number[]];
  const W2 = out.getWeights()[0].arraySync() as number[][];
  return { net, W1, b1, W2 };
}

/** ∂y_c/∂x through one ReLU layer: Σ_j W1[i,j] · gate_j · W2[j,c], gate = (0 < z_j ≤ max) and, guided, W2[j,c] > 0. */
function closedForm(W1: number[][], b1: number[], W2: number[][], x: number[], c: number, max: number, guided: boolean): number[] {
  const z = b1.map((b, j) => b + x.reduce((s, v, i) => s + v * W1[i][j], 0));
  const gate = z.map((v, j) => (v > 0 && v <= max && (!guided || W2[j][c] > 0) ? 1 : 0));
  return x.map((_, i) => W1[i].reduce((s, w, j) => s + w * gate[j] * W2[j][c], 0));
}

const image = { data: new Uint8Array([10, 60, 30, 200, 180, 220, 90, 100, 40, 255, 5, 128]), width: 2, height: 2 };
const x = Array.from(image.data, (p) => p / 127.5 - 1);

describe('guided backpropagation on a dense ReLU net', () => {
  it.each([false, true])('gates each ReLU by its input and its incoming gradient (relu6: %s), as the closed form', async (relu6) => {
    await initBackend('cpu');
    const { net, W1, b1, W2 } = denseNet(relu6);
    const m = wrapModel(net, { preprocessing: { size: [2, 2] } });
    const relu = tf.getGradient('Relu');
    const relu6Grad = tf.getGradient('Relu6');
    const before = tf.memory().numTensors;
    const [targets] = await guidedBackprop(m, [image], { targets: [0, 1, 2] });
    expect(tf.memory().numTensors).toBe(before);
    // The registry is restored: the model is not changed.
    expect(tf.getGradient('Relu')).toBe(relu);
    expect(tf.getGradient('Relu6')).toBe(relu6Grad);
    let differs = false;
    for (const t of targets) {
      const guided = closedForm(W1, b1, W2, x, t.classIndex, relu6 ? 6 : Infinity, true);
      const plain = closedForm(W1, b1, W2, x, t.classIndex, relu6 ? 6 : Infinity, false);
      t.saliency.forEach((v, i) => expect(v).toBeCloseTo(guided[i], 5));
      differs ||= guided.some((v, i) => Math.abs(v - plain[i]) > 1e-3);
      // And the ordinary gradient afterwards is the plain one.
      const g = tf.tidy(() => tf.grad((xi) => m.forward!(xi as tf.Tensor4D)[0].slice([0, t.classIndex], [1, 1]).sum())(
        tf.tensor4d(x, [1, 2, 2, 3])).dataSync());
      Array.from(g).forEach((v, i) => expect(v).toBeCloseTo(plain[i], 5));
    }
    expect(differs).toBe(true); // the guided gate changed something: the check is not vacuous
    net.dispose();
  });
});

describe('Guided Grad-CAM on MobileNet α=0.25, cat_dog', () => {
  it('is class-discriminative: the cat product lies on the cat (bottom), the dog product on the dog (top)', async () => {
    const m = await model(MODEL_025);
    const warnings: string[] = [];
    const img = referenceInput('cat_dog');
    await guidedGradcam(m, [img], { targets: [281] }); // warm-up (and the one cpu-fallback warning)
    const before = tf.memory().numTensors;
    const [r] = await guidedGradcam(m, [img], { targets: [281, 243], onWarning: (w) => warnings.push(w) });
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.getBackend()).toBe('wasm'); // the cpu fallback restores the backend
    expect(warnings).toEqual([]); // and is remembered: warned once, on the warm-up
    const [cat, dog] = r.targets;
    expect([cat.classIndex, dog.classIndex]).toEqual([281, 243]);
    expect([cat.width, cat.height]).toEqual([224, 224]);
    const topShare = (v: Float32Array) => {
      let top = 0, all = 0;
      v.forEach((x, i) => { all += Math.abs(x); if (i < v.length / 2) top += Math.abs(x); });
      return top / all;
    };
    expect(topShare(cat.guidedGradcam!)).toBeLessThan(0.35);
    expect(topShare(dog.guidedGradcam!)).toBeGreaterThan(0.65);
    // Guided backpropagation alone is hardly class-specific; the product is.
    expect(Math.abs(pearson(cat.saliency, dog.saliency))).toBeGreaterThan(Math.abs(pearson(cat.guidedGradcam!, dog.guidedGradcam!)));
    // combineGuided with the target's own map reproduces the product; the image is 224×224 RGB.
    expect(combineGuided(cat, r.explanation.targets[0].cam)).toEqual(cat.guidedGradcam);
    const png = saliencyImage(cat.guidedGradcam!, 224, 224);
    expect(png.data.length).toBe(224 * 224 * 3);
    expect(new Set(png.data).size).toBeGreaterThan(50);
  });
});
