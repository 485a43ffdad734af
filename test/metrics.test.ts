/**
 * Metrics with known answers: a tiny model whose class-0 logit is the mean brightness of one box of
 * the image, so the true evidence is known. The box's map must beat random, which must beat the
 * inverted map, on every faithfulness metric; Grad-CAM must point into the box; imputation must
 * reproduce a harmonic (linear) image; nothing leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { wrapModel } from '../src/model/load.js';
import type { ExplainableModel } from '../src/model/types.js';
import { initBackend } from '../src/node/backend.js';
import {
  auc, averageDrop, baselineImage, borderShare, boxDistance, confidenceChange, deletionInsertion, energyInBoxes, evaluate, imputeNoisyLinear,
  increaseInConfidence, pointingHit, road, seededRandom, type Box, type MetricCase,
} from '../src/metrics/index.js';
import { relevanceOrder } from '../src/metrics/common.js';

const S = 96; // image and input size
const BOX: Box = [64, 64, 87, 87]; // the evidence: class 0's logit is 8·(mean brightness of this box in [0, 1]) − 4
const inBox = (i: number) => { const x = i % S, y = Math.floor(i / S); return x >= BOX[0] && x <= BOX[2] && y >= BOX[1] && y <= BOX[3]; };

/** input → 'feat' (1×1 conv: mean of the channels, relu; pixels in [-1, 1], so black is 0) → flatten → dense: [box logit, 0]. */
function boxModel(): ExplainableModel {
  const input = tf.input({ shape: [S, S, 3] });
  const feat = tf.layers.conv2d({ filters: 1, kernelSize: 1, activation: 'relu', name: 'feat', weights: [tf.fill([1, 1, 3, 1], 1 / 3), tf.zeros([1])] });
  const area = (BOX[2] - BOX[0] + 1) * (BOX[3] - BOX[1] + 1);
  const w = new Float32Array(S * S * 2);
  for (let i = 0; i < S * S; i++) if (inBox(i)) w[i * 2] = 8 / area;
  const dense = tf.layers.dense({ units: 2, name: 'fc', weights: [tf.tensor2d(w, [S * S, 2]), tf.tensor1d([-4, 0])] });
  const out = dense.apply(tf.layers.flatten().apply(feat.apply(input))) as tf.SymbolicTensor;
  return wrapModel(tf.model({ inputs: input, outputs: out }), { labels: ['box', 'other'] });
}

/** Black image with a white box (and a few grey specks outside so the background is not flat). */
const image = (() => {
  const data = new Uint8Array(S * S * 3);
  for (let i = 0; i < S * S; i++) data.fill(inBox(i) ? 255 : i % 37 === 0 ? 60 : 0, i * 3, i * 3 + 3);
  return { data, width: S, height: S };
})();

let model: ExplainableModel;
let input: Float32Array;
const truth = Float32Array.from({ length: S * S }, (_, i) => (inBox(i) ? 1 : 0));
const inverted = truth.map((v) => 1 - v);
const rand = seededRandom(3);
const random = Float32Array.from({ length: S * S }, rand);
const caseOf = (map: Float32Array): MetricCase => ({ input, size: [S, S], classIndex: 0, map });

beforeAll(async () => {
  await initBackend('wasm');
  model = boxModel();
  input = tf.tidy(() => tf.tensor3d(image.data, [S, S, 3], 'float32').div(127.5).sub(1).dataSync() as Float32Array);
});

describe('faithfulness on a model with known evidence', () => {
  it('deletion AUC: true map < random < inverted; insertion the reverse', async () => {
    const [t, r, inv] = await deletionInsertion(model, [caseOf(truth), caseOf(random), caseOf(inverted)], { steps: 24 });
    expect(t.deletion[0]).toBeCloseTo(1 / (1 + Math.exp(-4)), 3); // nothing removed: the full box
    expect(t.deletionAuc).toBeLessThan(r.deletionAuc - 0.1);
    expect(r.deletionAuc).toBeLessThan(inv.deletionAuc - 0.1);
    expect(t.insertionAuc).toBeGreaterThan(r.insertionAuc + 0.1);
    expect(r.insertionAuc).toBeGreaterThan(inv.insertionAuc + 0.1);
    // The box is 576 of 9216 pixels: with the true map it is gone after the first of 24 steps (384 px) plus a bit.
    expect(t.deletion[2]).toBeLessThan(0.05);
    expect(t.deletion).toHaveLength(25);
  });

  it('Average Drop and Increase in Confidence: masking by the true map keeps the evidence, the inverted map removes it', async () => {
    const [t, inv] = await confidenceChange(model, [caseOf(truth), caseOf(inverted)]);
    expect(t.maskedProbability).toBeCloseTo(t.probability, 5);
    expect(inv.maskedProbability).toBeLessThan(0.05);
    expect(averageDrop([t])).toBeLessThan(0.01);
    expect(averageDrop([inv])).toBeGreaterThan(90);
    expect(increaseInConfidence([t, inv])).toBe(0);
  });

  it('ROAD: true map > random > inverted', async () => {
    const [t, r, inv] = await road(model, [caseOf(truth), caseOf(random), caseOf(inverted)], { percentages: [10, 50, 90] });
    expect(t.road).toBeGreaterThan(r.road + 0.1);
    expect(r.road).toBeGreaterThan(inv.road + 0.1);
    expect(t.morf[0]).toBeLessThan(0.05); // 10 % most relevant = the whole box, imputed from its black surroundings
    expect(t.lerf[2]).toBeGreaterThan(0.9); // 90 % least relevant removed: the box is still there
  });

  it('evaluate: Grad-CAM points into the box, the centre prior does not; Grad-CAM beats both baselines; no leak', async () => {
    await evaluate(model, [{ image }], { layer: 'feat', methods: ['gradcam'], metrics: ['confidence'] }); // warm-up
    const before = tf.memory().numTensors;
    const result = await evaluate(model, [{ image, name: 'synthetic', boxes: { box: [BOX] } }], {
      layer: 'feat', methods: ['gradcam'], deletion: { steps: 12 }, road: { percentages: [20, 80] },
    });
    expect(tf.memory().numTensors).toBe(before);
    const [g, rnd, centre] = result.methods;
    expect([g.method, rnd.method, centre.method]).toEqual(['gradcam', 'random', 'centre']);
    expect(g.pointingGame).toEqual({ hits: 1, total: 1 });
    expect(centre.pointingGame).toEqual({ hits: 0, total: 1 }); // (48, 48) is 22.6 px from the box
    expect(g.energy).toBeGreaterThan(0.9);
    expect(g.deletionAuc!).toBeLessThan(rnd.deletionAuc! - 0.1);
    expect(g.insertionAuc!).toBeGreaterThan(rnd.insertionAuc! + 0.1);
    expect(g.road!).toBeGreaterThan(rnd.road!);
    expect(g.averageDrop!).toBeLessThan(centre.averageDrop!);
    expect(g.cases[0]).toMatchObject({ name: 'synthetic', classIndex: 0, className: 'box', pointingHit: true });
  });

  it('evaluates the classes the boxes name: labels, indices and groups (the top-scoring member)', async () => {
    const result = await evaluate(model, [{ image, boxes: { other: [BOX], g: [BOX] } }], {
      layer: 'feat', methods: ['gradcam'], baselines: false, metrics: ['pointing'], groups: { g: [0, 1] },
    });
    expect(result.methods[0].cases.map((c) => c.classIndex)).toEqual([1, 0]);
  });
});

describe('pieces', () => {
  it('relevance order: values descending, equal values (0 and −0 too) in pixel order, as a comparison sort', () => {
    const rand = seededRandom(3);
    for (const gen of [() => rand() - 0.5, () => Math.round(rand() * 8) / 4 - 1, () => (rand() < 0.5 ? 0 : -0), () => rand() * 1e-38]) {
      const map = Float32Array.from({ length: 5000 }, gen);
      const expected = Int32Array.from(map.keys()).sort((a, b) => map[b] - map[a] || a - b);
      expect(Array.from(relevanceOrder(map))).toEqual(Array.from(expected));
    }
  });

  it('noisy linear imputation reproduces a linear image inside a hole (noise 0) and adds noise of the given σ', () => {
    const H = 40, W = 50;
    const img = Float32Array.from({ length: H * W * 3 }, (_, i) => { const p = Math.floor(i / 3); return 0.02 * (p % W) - 0.03 * Math.floor(p / W) + (i % 3) * 0.1; });
    const removed = new Uint8Array(H * W);
    for (let y = 5; y < 35; y++) for (let x = 8; x < 45; x++) removed[y * W + x] = 1;
    const filled = imputeNoisyLinear(img.map((v, i) => (removed[Math.floor(i / 3)] ? 9 : v)), removed, H, W, { noise: 0, iterations: 400 });
    let err = 0;
    for (let i = 0; i < img.length; i++) err = Math.max(err, Math.abs(filled[i] - img[i]));
    expect(err).toBeLessThan(1e-4);
    const quick = imputeNoisyLinear(img, removed, H, W, { noise: 0 }); // default: 30 iterations per level of the cascade
    expect(Math.max(...Array.from(quick, (v, i) => Math.abs(v - img[i])))).toBeLessThan(0.01);
    const noisy = imputeNoisyLinear(img, removed, H, W, { noise: 0.05, iterations: 400, rand: seededRandom(1) });
    const d = Array.from(noisy, (v, i) => v - filled[i]).filter((_, i) => removed[Math.floor(i / 3)]);
    const sd = Math.sqrt(d.reduce((s, v) => s + v * v, 0) / d.length);
    expect(sd).toBeGreaterThan(0.045);
    expect(sd).toBeLessThan(0.055);
  });

  it('pointing game within 15 px, energy inside boxes, border share, AUC by the trapezoid rule, baselines', () => {
    expect(boxDistance({ x: 10, y: 10 }, [20, 20, 30, 30])).toBeCloseTo(Math.SQRT2 * 10);
    expect(pointingHit({ x: 10, y: 10 }, [[20, 20, 30, 30]])).toBe(true);
    expect(pointingHit({ x: 5, y: 5 }, [[20, 20, 30, 30]])).toBe(false);
    expect(pointingHit(null, [[0, 0, 99, 99]])).toBe(false);
    const grid = { data: Float32Array.from({ length: 100 }, (_, i) => (i % 10 < 5 ? 3 : 1)), width: 10, height: 10 };
    expect(energyInBoxes(grid, [[0, 0, 4, 9]])).toBeCloseTo(0.75);
    const flat = { data: new Float32Array(80 * 80).fill(1), width: 80, height: 80 };
    expect(borderShare(flat)).toBeCloseTo(1 - 0.75 ** 2); // the outer eighth on each side
    const centred = { data: Float32Array.from({ length: 6400 }, (_, i) => (Math.abs((i % 80) - 40) < 10 && Math.abs(Math.floor(i / 80) - 40) < 10 ? 1 : 0)), width: 80, height: 80 };
    expect(borderShare(centred)).toBe(0);
    expect(auc([1, 0.5, 0])).toBeCloseTo(0.5);
    expect(auc([1, 1, 1, 1])).toBeCloseTo(1);
    const means = tf.tidy(() => {
      const x = tf.tensor3d(input, [S, S, 3]);
      return [x.mean().dataSync()[0], baselineImage(x, 'blur').mean().dataSync()[0], baselineImage(x, 'mean').mean().dataSync()[0]];
    });
    expect(means[1]).toBeCloseTo(means[0], 2); // a blur keeps the mean (reflected edges)
    expect(means[2]).toBeCloseTo(means[0], 3);
  });
});
