/**
 * Targets as score functions: segmentation, regression, binary, multi-output, similarity and custom
 * targets against hand-derived maps on tiny built models; contrast and several layers on MobileNet;
 * target strings and their errors; one forward batch for every target of an image (Score-CAM).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  classify, contrast, explain, parseTarget, segment, similarTo, TARGET_FORMS, type ExplainableModel, type Target,
} from '../src/index.js';
import { wrapModel } from '../src/model/load.js';
import { initBackend } from '../src/node/backend.js';
import { MODEL_025, model, pearson, referenceInput } from './helpers.js';

const seeded = (seed: number) => tf.initializers.randomNormal({ seed, stddev: 0.6 });
const image = (s: number, f: (i: number) => number = (i) => (i * 91 + 13) % 256) =>
  ({ data: new Uint8Array(s * s * 3).map((_, i) => f(i)), width: s, height: s });
/** A gray image: r = g = b, so the luminance of a grayscale model is the value itself. */
const grayImage = (s: number) => ({ data: new Uint8Array(s * s * 3).map((_, i) => (Math.floor(i / 3) * 53 + 7) % 256), width: s, height: s });
const closeTo = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4) => {
  const scale = Math.max(...Array.from(expected, Math.abs), 1e-12);
  const worst = Math.max(...Array.from(actual, (v, i) => Math.abs(v - expected[i])));
  expect(worst / scale).toBeLessThan(tol);
};
/** The preprocessed `[-1, 1]` input of an image the size of the network (no resize). */
const input = (img: { data: Uint8Array }, s: number, ch = 3) =>
  tf.tidy(() => tf.tensor4d(img.data, [1, s, s, 3], 'float32').slice([0, 0, 0, 0], [1, s, s, ch]).div(127.5).sub(1) as tf.Tensor4D);

beforeAll(async () => {
  await initBackend('cpu');
});

describe('segmentation target (SemanticSegmentationTarget) on conv 1×1 → conv 1×1 → softmax per pixel', () => {
  const S = 8, C = 3, K = 3;
  let net: tf.LayersModel, feat: tf.layers.Layer, V: number[][], m: ExplainableModel, A: number[][], L: number[][];
  const img = image(S);
  beforeAll(() => {
    const x = tf.input({ shape: [S, S, 3] });
    feat = tf.layers.conv2d({ filters: C, kernelSize: 1, activation: 'relu', name: 'feat', kernelInitializer: seeded(1), biasInitializer: 'ones' });
    const seg = tf.layers.conv2d({ filters: K, kernelSize: 1, name: 'seg', kernelInitializer: seeded(2) });
    const y = tf.layers.activation({ activation: 'softmax' }).apply(seg.apply(feat.apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor);
    net = tf.model({ inputs: x, outputs: y as tf.SymbolicTensor });
    m = wrapModel(net);
    V = (seg.getWeights()[0].arraySync() as number[][][][])[0][0];
    const b = seg.getWeights()[1].arraySync() as number[];
    tf.tidy(() => {
      A = (feat.apply(input(img, S)) as tf.Tensor).reshape([S * S, C]).arraySync() as number[][];
    });
    L = A.map((a) => b.map((bc, c) => bc + a.reduce((s, v, k) => s + v * V[k][c], 0)));
  });

  it('strips the per-pixel softmax: output 0 is the logits [N, 8, 8, 3]', async () => {
    expect(m.activation).toBe('softmax');
    expect(m.outputs[0].shape).toEqual([null, S, S, K]);
    const x = input(img, S);
    const [y] = await m.run(x);
    closeTo(y.dataSync(), L.flat(), 1e-5);
    tf.dispose([x, y]);
  });

  it("segment:C with the model's own argmax mask equals Σ_k M_ij·V[k,c]·A_ijk (HiResCAM) and (ΣM/hw)·Σ_k V[k,c]·A_ijk (Grad-CAM)", async () => {
    let tested = 0;
    for (let c = 0; c < K; c++) {
      const M = L.map((l) => (l.indexOf(Math.max(...l)) === c ? 1 : 0));
      if (!M.some((v) => v === 1)) continue; // the class owns no pixel
      tested++;
      const [hi] = await explain(m, [img], { method: 'hirescam', layer: 'feat', targets: [`segment:${c}`] });
      const [gc] = await explain(m, [img], { method: 'gradcam', layer: 'feat', targets: [`segment:${c}`] });
      const t = hi.targets[0];
      expect(t.target).toBe(`segment class ${c} "class ${c}"`);
      expect(t.score).toBeCloseTo(L.reduce((s, l, i) => s + M[i] * l[c], 0), 4);
      closeTo(t.rawCam.data, A.map((a, i) => M[i] * a.reduce((s, v, k) => s + v * V[k][c], 0)));
      const frac = M.reduce<number>((s, v) => s + v, 0) / (S * S);
      closeTo(gc.targets[0].rawCam.data, A.map((a) => frac * a.reduce((s, v, k) => s + v * V[k][c], 0)));
    }
    expect(tested).toBeGreaterThanOrEqual(2); // two classes share the image: the masks differ
    // A plain class (or the top class) of a segmentation model is its segment target; its logit the pixels' mean.
    const [top] = await explain(m, [img], { method: 'hirescam', layer: 'feat' });
    const mean = [0, 1, 2].map((c) => L.reduce((s, l) => s + l[c], 0) / (S * S));
    const best = mean.indexOf(Math.max(...mean));
    expect([top.targets[0].target, top.predictions[0].classIndex]).toEqual([`segment class ${best} "class ${best}"`, best]);
    expect(top.predictions[0].logit).toBeCloseTo(mean[best], 4);
  });

  it('a given mask (any resolution, resized nearest) replaces the argmax', async () => {
    // Left half of a 16×16 mask → the left 4 columns of the 8×8 output.
    const mask = { data: Float32Array.from({ length: 256 }, (_, i) => (i % 16 < 8 ? 1 : 0)), width: 16, height: 16 };
    const [r] = await explain(m, [img], { method: 'hirescam', layer: 'feat', targets: ['segment:1'], parse: { mask } });
    const M = A.map((_, i) => (i % S < 4 ? 1 : 0));
    closeTo(r.targets[0].rawCam.data, A.map((a, i) => M[i] * a.reduce((s, v, k) => s + v * V[k][1], 0)));
    expect(r.targets[0].rawCam.data.filter((_, i) => i % S >= 4).every((v) => v === 0)).toBe(true);
    // The same mask as a tensor (the caller's: not disposed by the target).
    const t = tf.tensor2d(mask.data, [16, 16]);
    const [rt] = await explain(m, [img], { method: 'hirescam', layer: 'feat', targets: [segment(1, t)] });
    closeTo(rt.targets[0].rawCam.data, r.targets[0].rawCam.data, 1e-6);
    expect(t.isDisposed).toBe(false);
    t.dispose();
  });
});

describe('regression target on a grayscale linear model: conv 3×3 (linear) → flatten → dense 1', () => {
  const S = 6, C = 2;
  it('output:0 equals Σ_k V_ijk·A_ijk (HiResCAM) and Σ_k mean(V_k)·A_ijk (Grad-CAM); the score is the output', async () => {
    const x = tf.input({ shape: [S, S, 1] });
    const feat = tf.layers.conv2d({ filters: C, kernelSize: 3, padding: 'same', name: 'feat', kernelInitializer: seeded(3), biasInitializer: 'ones' });
    const dense = tf.layers.dense({ units: 1, name: 'out', kernelInitializer: seeded(4), biasInitializer: 'ones' });
    const net = tf.model({ inputs: x, outputs: dense.apply(tf.layers.flatten().apply(feat.apply(x) as tf.SymbolicTensor)) as tf.SymbolicTensor });
    const m = wrapModel(net);
    expect(m.preprocessing.channels).toBe(1);
    expect([m.activation, m.labels]).toEqual(['none', ['class 0']]);
    const img = grayImage(S);
    const Vflat = dense.getWeights()[0].dataSync();
    const V = Array.from({ length: S * S }, (_, i) => [Vflat[i * C], Vflat[i * C + 1]]);
    const { A, y } = tf.tidy(() => {
      const xin = input(img, S, 1);
      return { A: (feat.apply(xin) as tf.Tensor).reshape([S * S, C]).arraySync() as number[][], y: (net.predict(xin) as tf.Tensor).dataSync()[0] };
    });
    const [hi] = await explain(m, [img], { method: 'hirescam', layer: 'feat', targets: ['output:0'] });
    const t = hi.targets[0];
    expect([t.target, t.classIndex]).toEqual(['output 0', -1]);
    expect(t.score).toBeCloseTo(y, 4);
    closeTo(t.rawCam.data, A.map((a, i) => a[0] * V[i][0] + a[1] * V[i][1]));
    const meanV = [0, 1].map((k) => V.reduce((s, v) => s + v[k], 0) / (S * S));
    const [gc] = await explain(m, [img], { method: 'gradcam', layer: 'feat', targets: ['output:0'] });
    closeTo(gc.targets[0].rawCam.data, A.map((a) => a[0] * meanV[0] + a[1] * meanV[1]));
    closeTo(gc.targets[0].weights!, meanV);
    net.dispose();
  });
});

describe('binary, multi-output and similarity targets on conv → GAP → dense heads', () => {
  const S = 6, C = 3;
  const img = image(S);
  function body() {
    const x = tf.input({ shape: [S, S, 3] });
    const feat = tf.layers.conv2d({ filters: C, kernelSize: 3, padding: 'same', activation: 'relu', name: 'feat', kernelInitializer: seeded(5), biasInitializer: 'ones' });
    const gap = tf.layers.globalAveragePooling2d({}).apply(feat.apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const A = tf.tidy(() => (feat.apply(input(img, S)) as tf.Tensor).reshape([S * S, C]).arraySync() as number[][]);
    return { x, gap, A };
  }
  /** Grad-CAM on GAP → dense: Σ_k W[k]·A_k / (h·w). */
  const camOf = (A: number[][], w: number[]) => A.map((a) => a.reduce((s, v, k) => s + (v * w[k]) / (S * S), 0));

  it('a one-unit sigmoid model: labels negative/positive, the sigmoid stripped, binary:negative = −binary:positive', async () => {
    const { x, gap, A } = body();
    const dense = tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'p', kernelInitializer: seeded(6) });
    const net = tf.model({ inputs: x, outputs: dense.apply(gap) as tf.SymbolicTensor });
    const m = wrapModel(net);
    expect([m.activation, m.labels]).toEqual(['sigmoid', ['negative', 'positive']]);
    const W = Array.from(dense.getWeights()[0].dataSync());
    const z = tf.tidy(() => Math.log(1 / (net.predict(input(img, S)) as tf.Tensor).dataSync()[0] - 1) * -1);
    const [r] = await explain(m, [img], { targets: ['binary:positive', 'binary:negative', 'positive'] });
    const [pos, neg, byName] = r.targets;
    expect([pos.classIndex, neg.classIndex, byName.target]).toEqual([1, 0, pos.target]);
    expect(pos.logit).toBeCloseTo(z, 4);
    expect(pos.probability + neg.probability).toBeCloseTo(1, 5);
    expect(pos.probability).toBeCloseTo(1 / (1 + Math.exp(-z)), 5);
    closeTo(pos.rawCam.data, camOf(A, W));
    closeTo(neg.rawCam.data, camOf(A, W).map((v) => -v));
    const [preds] = await classify(m, [img]);
    expect(preds.map((p) => p.className)).toEqual(z > 0 ? ['positive', 'negative'] : ['negative', 'positive']);
    net.dispose();
  });

  it('several outputs: all returned by run, chosen by name or index (output:I@name), each map from its own head', async () => {
    const { x, gap, A } = body();
    const cls = tf.layers.dense({ units: 3, activation: 'softmax', name: 'cls', kernelInitializer: seeded(7) });
    const reg = tf.layers.dense({ units: 2, name: 'reg', kernelInitializer: seeded(8) });
    const net = tf.model({ inputs: x, outputs: [cls.apply(gap) as tf.SymbolicTensor, reg.apply(gap) as tf.SymbolicTensor] });
    const m = wrapModel(net);
    expect(m.outputs.map((o) => [o.name, o.shape])).toEqual([['cls', [null, 3]], ['reg', [null, 2]]]);
    const R = reg.getWeights()[0].arraySync() as number[][];
    const xin = input(img, S);
    const outs = await m.run(xin);
    expect(outs.map((o) => o.shape)).toEqual([[1, 3], [1, 2]]);
    const [byName, byIndex, c2] = (await explain(m, [img], { targets: ['output:1@reg', 'output:1@1', 2] }))[0].targets;
    expect(byName.target).toBe('output 1 of "reg"');
    expect(byName.score).toBeCloseTo(outs[1].dataSync()[1], 5);
    closeTo(byName.rawCam.data, camOf(A, R.map((r) => r[1])));
    closeTo(byIndex.rawCam.data, byName.rawCam.data, 1e-6);
    expect(pearson(c2.rawCam.data, byName.rawCam.data)).toBeLessThan(0.999); // output 0's class 2 is another map
    expect(() => parseTarget('output:0@nope', m)).toThrow(/unknown output 'nope': outputs are 0 "cls", 1 "reg"/);
    tf.dispose([xin, ...outs]);
    net.dispose();
  });

  it('similarTo: cosine similarity of the output to a concept vector; 1 for the image\'s own output', async () => {
    const { x, gap } = body();
    const emb = tf.layers.dense({ units: 4, name: 'emb', kernelInitializer: seeded(9) });
    const net = tf.model({ inputs: x, outputs: emb.apply(gap) as tf.SymbolicTensor });
    const m = wrapModel(net);
    const own = tf.tidy(() => Array.from((net.predict(input(img, S)) as tf.Tensor).dataSync()));
    const other = [1, -2, 0.5, 3];
    const cos = own.reduce((s, v, i) => s + v * other[i], 0) / (Math.hypot(...own) * Math.hypot(...other));
    const [r] = await explain(m, [img], { targets: [similarTo(own, { label: 'itself' }), similarTo(other)] });
    expect(r.targets.map((t) => t.target)).toEqual(['similarity to itself', 'similarity to a 4-vector']);
    expect(r.targets[0].score).toBeCloseTo(1, 5);
    expect(r.targets[1].score).toBeCloseTo(cos, 5);
    net.dispose();
  });

  it('Score-CAM scores every target of an image from the same forward batches', async () => {
    const { x, gap } = body();
    const net = tf.model({ inputs: x, outputs: tf.layers.dense({ units: 3, name: 'fc', kernelInitializer: seeded(10) }).apply(gap) as tf.SymbolicTensor });
    const m = wrapModel(net);
    let calls = 0;
    const counting = new Proxy(m, {
      get(t, k) {
        if (k === 'run') return (xs: tf.Tensor4D) => { calls++; return t.run(xs); };
        const v = Reflect.get(t, k) as unknown;
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    const [all] = await explain(counting, [img], { method: 'scorecam', layer: 'feat', targets: [0, 1, 2], batchSize: 2 });
    expect(calls).toBe(Math.ceil(C / 2)); // not 3 × that
    for (const [i, t] of all.targets.entries()) {
      const [alone] = await explain(m, [img], { method: 'scorecam', layer: 'feat', targets: [i], batchSize: 2 });
      closeTo(t.rawCam.data, alone.targets[0].rawCam.data, 1e-5);
    }
    net.dispose();
  });
});

describe('target strings', () => {
  const labels = ['cat', 'dog', 't-shirt', 'pull-over'];
  const m = { labels, outputs: [{ name: 'out', shape: [null, 4] }], activation: 'softmax' } as const;
  const fake = m as unknown as ExplainableModel;

  it('parses every form', () => {
    const names = ['1', 'dog', 'contrast:0-1', 'contrast:t-shirt-pull-over', 'segment:cat', 'output:3', 'prob:dog', 'neg:cat']
      .map((s) => parseTarget(s, fake).name);
    expect(names).toEqual(['class 1 "dog"', 'class 1 "dog"', 'contrast 0 "cat" − 1 "dog"', 'contrast 2 "t-shirt" − 3 "pull-over"',
      'segment class 0 "cat"', 'output 3', 'probability of class 1 "dog"', 'not class 0 "cat"']);
    const custom: Target = { name: 'mine', score: (o) => o[0].sum(1) };
    expect(parseTarget(custom, fake)).toBe(custom);
  });

  it('rejects bad strings with an error that lists the valid forms', () => {
    const forms = new RegExp(`valid target forms: ${TARGET_FORMS.map((f) => f.replace(/[|]/g, '\\|')).join(', ')}`);
    for (const bad of ['foo:1', 'contrast:0', 'contrast:cat-cow', 'output:x', 'segment:', 'binary:maybe', 'neg:']) {
      expect(() => parseTarget(bad, fake), bad).toThrow(forms);
    }
    expect(() => parseTarget('binary:positive', fake)).toThrow(/needs a model with one sigmoid output unit; this one has 4 classes/);
    expect(() => parseTarget('similar:ref.jpg', fake)).toThrow(/similar:ref.jpg needs the concept vector.*similarTo/);
    expect(() => parseTarget('dgo', fake)).toThrow(/unknown class 'dgo'/);
  });
});

describe('contrast, custom targets and several layers on MobileNet α=0.25 (cat_dog)', () => {
  const CAT = 282, DOG = 243;
  const cells = (t: { cam: { data: Float32Array; width: number } }, lower: boolean) =>
    t.cam.data.reduce((s, v, i) => s + ((Math.floor(i / t.cam.width) >= t.cam.width / 2) === lower ? v : 0), 0);

  it('contrast moves the map between the animals: cat − dog on the cat (bottom), dog − cat on the dog (top)', async () => {
    const m = await model(MODEL_025);
    const [r] = await explain(m, [referenceInput('cat_dog')], { targets: [`contrast:${CAT}-${DOG}`, contrast(DOG, CAT)] });
    const [catVsDog, dogVsCat] = r.targets;
    expect(catVsDog.target).toBe('contrast 282 "tiger cat" − 243 "bull mastiff"');
    expect(catVsDog.peak!.y).toBeGreaterThan(112);
    expect(dogVsCat.peak!.y).toBeLessThan(112);
    expect(cells(catVsDog, true)).toBeGreaterThan(2 * cells(catVsDog, false));
    expect(cells(dogVsCat, false)).toBeGreaterThan(2 * cells(dogVsCat, true));
    expect(catVsDog.score).toBeCloseTo(-dogVsCat.score, 4);
  });

  it('a custom target object (sum of the five domestic-cat logits) explains the cat, named as given', async () => {
    const m = await model(MODEL_025);
    const cats: Target = { name: 'domestic cats 281–285', score: (outs) => outs[0].reshape([outs[0].shape[0], -1]).slice([0, 281], [-1, 5]).sum(1) as tf.Tensor1D };
    const [r] = await explain(m, [referenceInput('cat_dog')], { targets: [cats], top: 0 });
    const [t] = r.targets;
    expect([t.target, t.classIndex]).toEqual(['domestic cats 281–285', -1]);
    const logits = (await classify(m, [referenceInput('cat_dog')], 1000))[0];
    expect(t.score).toBeCloseTo(logits.filter((p) => p.classIndex >= 281 && p.classIndex <= 285).reduce((s, p) => s + p.logit, 0), 3);
    expect(t.peak!.y).toBeGreaterThan(112);
  });

  it('several layers: each map normalised and upsampled to the image, averaged, renormalised (no leak)', async () => {
    const m = await model(MODEL_025);
    const img = referenceInput('cat_dog');
    const layers = ['conv_pw_11_relu', 'conv_pw_13_relu'];
    await explain(m, [img], { targets: [CAT], layer: layers });
    const before = tf.memory().numTensors;
    const [fused] = await explain(m, [img], { targets: [CAT], layer: layers });
    expect(tf.memory().numTensors).toBe(before);
    const singles = await Promise.all(layers.map(async (layer) => (await explain(m, [img], { targets: [CAT], layer }))[0].targets[0]));
    const t = fused.targets[0];
    expect([fused.layer, fused.layers]).toEqual([layers.join('+'), layers]);
    expect(t.layers!.map((l) => [l.layer, l.cam.width])).toEqual([[layers[0], 14], [layers[1], 7]]);
    closeTo(t.layers![1].cam.data, singles[1].cam.data, 1e-5);
    const mean = singles[0].heatmap.data.map((v, i) => (v + singles[1].heatmap.data[i]) / 2);
    const lo = Math.min(...mean), hi = Math.max(...mean);
    closeTo(t.heatmap.data, mean.map((v) => (v - lo) / (hi - lo)), 1e-4);
    expect(pearson(t.heatmap.data, singles[0].heatmap.data)).toBeLessThan(0.999); // the fusion differs from either layer
    expect(pearson(t.heatmap.data, singles[1].heatmap.data)).toBeLessThan(0.999);
    expect([t.cam.width, t.cam.height]).toEqual([14, 14]); // the fused map at the finest layer's resolution
  });
});
