/** Grad-CAM core on the real shared models: where the maps point, batching, targets, layers, leaks. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { classify, explain } from '../src/index.js';
import { Pipeline } from '../src/core/pipeline.js';
import { readImage } from '../src/node/image.js';
import { MODEL_025, MODEL_075, MODEL_GRAPH, model, pearson, referenceInput, sharedImage } from './helpers.js';

const CAT = 282; // tiger cat
const DOG = 243; // bull mastiff

describe('Grad-CAM on cat_dog.jpg (α=0.75)', () => {
  it('puts the tiger cat on the cat and the bull mastiff on the dog, with clearly different maps', async () => {
    const m = await model(MODEL_075);
    const image = await readImage(sharedImage('cat_dog.jpg'));
    const [r] = await explain(m, [image], { targets: ['tiger cat', DOG] });
    const [cat, dog] = r.targets;
    expect([cat.classIndex, dog.classIndex]).toEqual([CAT, DOG]);
    expect(r.layer).toBe('conv_pw_13_relu');
    expect(cat.heatmap.width).toBe(640);
    expect(cat.heatmap.height).toBe(480);
    // The cat lies across the lower half; the dog sits in the upper middle.
    expect(cat.peak!.y).toBeGreaterThan(0.55 * 480);
    expect(dog.peak!.y).toBeLessThan(0.5 * 480);
    expect(dog.peak!.x).toBeGreaterThan(0.25 * 640);
    expect(dog.peak!.x).toBeLessThan(0.75 * 640);
    expect(pearson(cat.cam.data, dog.cam.data)).toBeLessThan(0.5);
    // Logits, not probabilities, are explained; probabilities are the softmax of the logits.
    expect(dog.probability).toBeGreaterThan(cat.probability);
    expect(dog.logit).toBeGreaterThan(1);
  });

  it('classifies chelsea.png as a cat and coffee.png as espresso', async () => {
    const m = await model(MODEL_075);
    const [chelsea, coffee] = await classify(m, [await readImage(sharedImage('chelsea.png')), await readImage(sharedImage('coffee.png'))]);
    expect(chelsea[0].classIndex).toBeGreaterThanOrEqual(281);
    expect(chelsea[0].classIndex).toBeLessThanOrEqual(285);
    expect(coffee[0].className).toBe('espresso');
    // Probabilities are the softmax of the logits: ratios are exp(logit differences), all 1000 sum to 1.
    for (const p of chelsea.slice(1)) expect(p.probability / chelsea[0].probability).toBeCloseTo(Math.exp(p.logit - chelsea[0].logit), 5);
    const [all] = await classify(m, [await readImage(sharedImage('chelsea.png'))], 1000);
    expect(all.reduce((s, p) => s + p.probability, 0)).toBeCloseTo(1, 4);
    expect(all.map((p) => p.logit)).toEqual([...all.map((p) => p.logit)].sort((a, b) => b - a));
  });
});

describe('targets, layers and batching (α=0.25)', () => {
  it('explains a batch exactly as it explains images one by one, with per-image targets', async () => {
    const m = await model(MODEL_025);
    const imgs = ['cat_dog', 'chelsea', 'coffee'].map(referenceInput);
    const batch = await explain(m, imgs, { targets: [[CAT], [CAT, 285], [967]], batchSize: 3 });
    for (const [i, img] of imgs.entries()) {
      const [single] = await explain(m, [img], { targets: batch[i].targets.map((t) => t.classIndex) });
      expect(batch[i].targets.map((t) => t.classIndex)).toEqual(single.targets.map((t) => t.classIndex));
      for (const [k, t] of single.targets.entries()) {
        const d = Math.max(...t.cam.data.map((v, j) => Math.abs(v - batch[i].targets[k].cam.data[j])));
        expect(d).toBeLessThan(1e-4);
        expect(batch[i].targets[k].logit).toBeCloseTo(t.logit, 3);
      }
    }
  });

  it('an image with an empty target list gets no maps, the others theirs', async () => {
    const m = await model(MODEL_025);
    const imgs = ['cat_dog', 'chelsea'].map(referenceInput);
    const before = tf.memory().numTensors;
    for (const method of ['gradcam', 'scorecam'] as const) {
      const r = await explain(m, imgs, { targets: [[], [CAT]], method, batchSize: 256 });
      expect(r.map((x) => x.targets.length)).toEqual([0, 1]);
      expect(r[0].predictions).toHaveLength(5);
      const none = await explain(m, imgs, { targets: [[], []] });
      expect(none.map((x) => x.targets.length)).toEqual([0, 0]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('explains the top k classes in order', async () => {
    const m = await model(MODEL_025);
    const [r] = await explain(m, [referenceInput('cat_dog')], { top: 3 });
    expect(r.targets.map((t) => t.classIndex)).toEqual(r.predictions.slice(0, 3).map((p) => p.classIndex));
    expect(r.targets[0].logit).toBeGreaterThanOrEqual(r.targets[1].logit);
  });

  it('rejects unknown class names and out-of-range indices, saying what is valid', async () => {
    const m = await model(MODEL_025);
    const img = [referenceInput('chelsea')];
    await expect(explain(m, img, { targets: ['tigr cat'] })).rejects.toThrow(/unknown class 'tigr cat'/);
    await expect(explain(m, img, { targets: ['persian'] })).rejects.toThrow(/did you mean 283 "Persian cat"/);
    await expect(explain(m, img, { targets: [1000] })).rejects.toThrow(/out of range: valid indices are 0–999/);
    await expect(explain(m, img, { targets: ['crane'] })).rejects.toThrow(/ambiguous: 134 .*517/);
  });

  it("picks conv_pw_13_relu for 'auto', accepts any named layer, and lists candidates for a bad name", async () => {
    const m = await model(MODEL_025);
    expect(m.resolveLayer('auto')).toBe('conv_pw_13_relu');
    expect(() => m.resolveLayer('conv_pw_99')).toThrow(/layer 'conv_pw_99' not found; layers with a 4-D output: .*conv_pw_13_relu \[7,7,256\]/);
    const [r] = await explain(m, [referenceInput('cat_dog')], { targets: [CAT], layer: 'conv_pw_11_relu' });
    expect([r.targets[0].cam.height, r.targets[0].cam.width]).toEqual([14, 14]);
    expect(Math.min(...r.targets[0].cam.data)).toBe(0);
    expect(Math.max(...r.targets[0].cam.data)).toBeCloseTo(1, 5);
  });

  it('leaks no tensor: the count is flat after each explain, classify and several-layer explain', async () => {
    // One warm-up fills the caches (layer plans, kernels); after it every call must return to the same count,
    // so three calls catch any leak (a leak adds at least one tensor per call).
    const m = await model(MODEL_025);
    const img = referenceInput('both');
    await explain(m, [img], { targets: [CAT] });
    const before = tf.memory().numTensors;
    for (const opts of [{ targets: [CAT, DOG] }, { targets: [`contrast:${CAT}-${DOG}`], layer: ['conv_pw_12_relu', 'conv_pw_13_relu'] }, { top: 2, augSmooth: true }]) {
      await explain(m, [img, img], opts);
      expect(tf.memory().numTensors).toBe(before);
    }
    await classify(m, [img]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('GraphModel (TF-Hub MobileNet 0.25, 1001 classes)', () => {
  it('explains by node name, with background at index 0 in the label map', async () => {
    const g = await model(MODEL_GRAPH);
    expect(g.format).toBe('graph');
    expect(g.name).toBe('mobilenet_v1_0.25_224_graph'); // the folder's name, not "model.json"
    expect(g.activation).toBe('none'); // TF-Hub's classifier outputs logits
    expect(g.labels.length).toBe(1001);
    expect(g.labels[0]).toBe('background');
    expect(g.defaultLayer).toBe('module_apply_default/MobilenetV1/MobilenetV1/Conv2d_13_pointwise/Relu6');
    expect(g.preprocessing.range).toEqual([0, 1]);
    const [r] = await explain(g, [referenceInput('cat_dog')], { targets: ['tiger cat', 'bull mastiff'], layer: g.defaultLayer });
    const [cat, dog] = r.targets;
    expect(cat.classIndex).toBe(CAT + 1);
    expect(cat.peak!.y).toBeGreaterThan(0.55 * 224);
    expect(dog.peak!.y).toBeLessThan(0.5 * 224);
    const [chelsea] = await classify(g, [referenceInput('chelsea')]);
    expect(chelsea[0].className).toMatch(/cat/);
  });
});

describe('Pipeline (batches in flight)', () => {
  it('keeps at most `depth` jobs running, and the first error surfaces once every job has settled', async () => {
    let running = 0, peak = 0;
    const settled: number[] = [];
    const job = (i: number, fail = false) => (async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      settled.push(i);
      if (fail) throw new Error(`job ${i} failed`);
    })();
    const ok = new Pipeline(2);
    for (let i = 0; i < 6; i++) await ok.add(job(i));
    await ok.drain();
    expect(peak).toBe(2);
    expect(settled).toEqual([0, 1, 2, 3, 4, 5]);

    settled.length = 0;
    const bad = new Pipeline(2);
    const err = await (async () => {
      for (let i = 0; i < 6; i++) await bad.add(job(i, i === 1 || i === 2));
      await bad.drain();
    })().catch((e: Error) => e);
    expect((err as Error).message).toBe('job 1 failed');
    // Stopped adding soon after the failure, and nothing was left running.
    expect(settled.length).toBeLessThan(6);
    expect(running).toBe(0);
  });
});
