/**
 * Train, then explain: synthetic datasets where the answer is known (objects pasted at random places
 * on crops of photos), so "the model looks at the right thing" becomes a number; a dataset with a
 * deliberate shortcut (a class mark in a corner) must show the map on the corner. Also the CLI on
 * the saved nested model, bad datasets, and fine-tuning on wasm.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain } from '../src/index.js';
import { preprocess } from '../src/core/image.js';
import type { ExplainableModel } from '../src/model/types.js';
import { LayersExplainableModel } from '../src/model/layers-model.js';
import { initBackend } from '../src/node/backend.js';
import { readImage } from '../src/node/image.js';
import { loadModel } from '../src/node/load.js';
import { applyTrainable } from '../src/node/train/conv.js';
import { loadBatch, scanDataset } from '../src/node/train/dataset.js';
import { makeShapesDataset, type Box, type SyntheticImage, type SyntheticOptions } from '../src/node/train/synthetic.js';
import { trainClassifier } from '../src/node/train/train.js';
import { MODEL_025, runCli, sharedImage } from './helpers.js';

const BACKGROUNDS = ['cat_dog.jpg', 'both.png', 'dogs.png', 'vegetables.jpg', 'chelsea.png', 'coffee.png', 'grace_hopper.jpg', 'squirrel_cls.jpg'].map(sharedImage);
const SHAPES: SyntheticOptions['shapes'] = ['rings', 'checker', 'triangle'];
const BASE = 'mobilenet_0.25_224';
const MARGIN = 16;

let root: string;
beforeAll(async () => {
  await initBackend('wasm');
  root = mkdtempSync(path.join(os.tmpdir(), 'gradcam-train-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));


const inBox = (p: { x: number; y: number } | null, b: Box) =>
  !!p && p.x >= b.x - MARGIN && p.x < b.x + b.width + MARGIN && p.y >= b.y - MARGIN && p.y < b.y + b.height + MARGIN;

/** Explains every held-out image for its true class: accuracy of the top prediction, and where the peaks are. */
async function check(model: ExplainableModel, images: SyntheticImage[]) {
  const decoded = await Promise.all(images.map((s) => readImage(s.file)));
  const targets = images.map((s) => [model.labels.indexOf(s.className)]);
  const results = await explain(model, decoded, { targets, batchSize: 16 });
  const n = images.length;
  return {
    accuracy: results.filter((r, i) => r.predictions[0].className === images[i].className).length / n,
    onObject: results.filter((r, i) => inBox(r.targets[0].peak, images[i].object)).length / n,
    onMark: results.filter((r, i) => images[i].mark && inBox(r.targets[0].peak, images[i].mark)).length / n,
  };
}

/** Memoised fixtures, so that every test can run alone (`-t`) and none is built twice. */
const once = <T>(make: () => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => (p ??= make());
};
const shapes = once(async () => {
  const train = path.join(root, 'shapes');
  await makeShapesDataset(train, { backgrounds: BACKGROUNDS, shapes: SHAPES, perClass: 40, seed: 1 });
  const heldOutDir = path.join(root, 'shapes-test');
  const heldOut = await makeShapesDataset(heldOutDir, { backgrounds: BACKGROUNDS, shapes: SHAPES, perClass: 20, seed: 2 });
  return { train, heldOutDir, heldOut };
});
const shapesModel = once(async () => {
  const { train } = await shapes();
  const dir = path.join(root, 'shapes-model');
  const losses: number[] = [];
  const before = tf.memory().numTensors;
  const result = await trainClassifier(train, { base: MODEL_025, out: dir, epochs: 12, onEpoch: (s) => losses.push(s.loss) });
  const { model, ...rest } = result;
  const defaultLayer = model.defaultLayer;
  model.dispose();
  return { dir, result: rest, defaultLayer, losses, leaked: tf.memory().numTensors - before };
});

describe('train, then explain', () => {
  it('learns objects pasted at random places on photos, and its Grad-CAM peaks on the object', async () => {
    const { heldOut } = await shapes();
    const { dir: modelDir, result: r, defaultLayer, losses, leaked } = await shapesModel();
    expect(r.labels).toEqual(['checker', 'rings', 'triangle']);
    expect(r.images).toEqual({ train: 96, val: 24, valSource: 'split' });
    expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
    expect(r.report.on).toBe('validation');
    expect(r.report.confusion.flat().reduce((a, b) => a + b, 0)).toBe(24);
    expect(defaultLayer).toBe(`${BASE}/conv_pw_13_relu`);
    expect(leaked).toBe(0);

    // The saved folder, loaded as every other tool loads it.
    for (const f of ['model.json', 'weights.bin', 'metadata.json', 'report.json']) expect(existsSync(path.join(modelDir, f))).toBe(true);
    const meta = JSON.parse(readFileSync(path.join(modelDir, 'metadata.json'), 'utf8'));
    expect(meta.labels).toEqual(r.labels);
    expect(meta.preprocessing).toEqual({ size: [224, 224], range: [-1, 1], resize: 'squash' });
    const model = await loadModel(modelDir);
    expect(model.defaultLayer).toBe(`${BASE}/conv_pw_13_relu`);
    const c = await check(model, heldOut);
    model.dispose();
    expect(c.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(c.onObject).toBeGreaterThanOrEqual(0.9);
  });

  it('exposes a shortcut: when a corner mark decides the class, the map points at the corner, not the object', async () => {
    const opts = { backgrounds: BACKGROUNDS, shapes: SHAPES, shortcut: ['stamp', 'dot'] as const };
    const data = path.join(root, 'shortcut');
    await makeShapesDataset(data, { ...opts, shortcut: [...opts.shortcut], perClass: 150, seed: 3 });
    const test = await makeShapesDataset(path.join(root, 'shortcut-test'), { ...opts, shortcut: [...opts.shortcut], perClass: 20, seed: 4 });
    // No augmentation: flips and crops would move the mark (and caching the base features makes it fast).
    const r = await trainClassifier(data, { base: MODEL_025, epochs: 40, patience: 8, augment: false });
    const c = await check(r.model, test);
    r.model.dispose();
    expect(c.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(c.onMark).toBeGreaterThanOrEqual(0.9);
    expect(c.onObject).toBeLessThan(0.3);
  });

  it('the CLI trains, and classify and explain use the saved nested model with its nested last conv layer', async () => {
    const { heldOutDir, heldOut } = await shapes();
    const { dir: modelDir } = await shapesModel();
    const out = path.join(root, 'cli-model');
    const t = await runCli(['train', heldOutDir, '--base', MODEL_025, '-o', out, '--epochs', '3', '--no-augment']);
    expect(t.code).toBe(0);
    expect(t.stderr).toMatch(/^epoch 1\/3 {2}loss \d\.\d{3} {2}acc +\d+\.\d% {2}val loss/m);
    expect(t.stdout).toMatch(/accuracy on the validation set: \d+\.\d%/);
    expect(t.stdout).toMatch(/confusion matrix/);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.report.confusion).toHaveLength(3);
    expect(report.images.val).toBe(12);

    const img = heldOut.find((s) => s.className === 'rings')!;
    const cls = await runCli(['classify', '--model', modelDir, '--json', img.file]);
    expect(cls.code).toBe(0);
    expect(JSON.parse(cls.stdout)[img.file][0].className).toBe('rings');
    const exOut = path.join(root, 'explained');
    const ex = await runCli(['explain', '--model', modelDir, img.file, '-o', exOut]);
    expect(ex.code).toBe(0);
    const json = JSON.parse(readFileSync(path.join(exOut, `${path.basename(img.file, '.jpg')}.json`), 'utf8'));
    expect(json.layer).toBe(`${BASE}/conv_pw_13_relu`);
    expect([json.targets[0].className, json.targets[0].target]).toEqual(['rings', `class ${json.targets[0].classIndex} "rings"`]);
    // The map itself: a 7×7 normalised map whose peak (original pixels) lies on the pasted object.
    expect([json.targets[0].cam.length, json.targets[0].cam[0].length]).toEqual([7, 7]);
    expect(Math.max(...json.targets[0].cam.flat())).toBeCloseTo(1, 5);
    expect(inBox(json.targets[0].peak, img.object)).toBe(true);
  });
});

describe('bad datasets fail clearly', () => {
  const dataset = (name: string, classes: Record<string, number>) => {
    const dir = path.join(root, name);
    for (const [c, n] of Object.entries(classes)) {
      mkdirSync(path.join(dir, c), { recursive: true });
      for (let i = 0; i < n; i++) copyFileSync(BACKGROUNDS[i % BACKGROUNDS.length], path.join(dir, c, `${i}${path.extname(BACKGROUNDS[i % BACKGROUNDS.length])}`));
    }
    return dir;
  };

  it('rejects fewer than two classes, an empty class and an unknown validation class, naming the folder', async () => {
    await expect(scanDataset(dataset('one', { cats: 3 }))).rejects.toThrow(/one.*found 1 class folder\(s\) \(cats\); a classifier needs at least two/);
    await expect(scanDataset(dataset('empty', { cats: 3, dogs: 0 }))).rejects.toThrow(/empty[/\\]dogs: class 'dogs' has no images/);
    const withVal = dataset('badval', { cats: 2, dogs: 2, 'val/cats': 1, 'val/birds': 1 });
    await expect(scanDataset(withVal)).rejects.toThrow(/val[/\\]birds: validation class 'birds' is not a training class \(cats, dogs\)/);
    await expect(scanDataset(path.join(root, 'nope'))).rejects.toThrow(/nope: dataset folder not found/);
    const cli = await runCli(['train', path.join(root, 'one'), '-o', path.join(root, 'never'), '--base', MODEL_025]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^error: .*one: found 1 class folder/)]);
    expect(existsSync(path.join(root, 'never'))).toBe(false);
  });

  it('uses a val/ folder, splits per class otherwise, and warns about wildly unbalanced classes', async () => {
    const split = await scanDataset(dataset('split', { a: 10, b: 5 }), { valSplit: 0.2 });
    expect(split.val.map((s) => split.classes[s.label]).sort()).toEqual(['a', 'a', 'b']);
    expect(split.train).toHaveLength(12);
    expect(split.warnings).toEqual([]);
    const val = await scanDataset(dataset('withval', { a: 3, b: 3, 'val/a': 2, 'val/b': 1 }));
    expect([val.valSource, val.train.length, val.val.length]).toEqual(['folder', 6, 3]);
    const unbalanced = await scanDataset(dataset('unbalanced', { few: 2, many: 12 }));
    expect(unbalanced.warnings).toEqual([expect.stringMatching(/unbalanced \(few 2, many 12\).*predict 'many'/)]);
  });

  it('skips unreadable images with a warning naming each file, counts them, and trains on the rest', async () => {
    const dir = dataset('broken', { a: 4, b: 4 });
    writeFileSync(path.join(dir, 'a', 'empty.jpg'), '');
    writeFileSync(path.join(dir, 'b', 'notes.png'), 'not an image');
    writeFileSync(path.join(dir, 'b', 'README.txt'), 'ignored: not an image extension');
    const warnings: string[] = [];
    const r = await trainClassifier(dir, { base: MODEL_025, epochs: 2, valSplit: 0, augment: false, onWarning: (m) => warnings.push(m) });
    r.model.dispose();
    expect(warnings.filter((w) => w.startsWith('skipped')).sort()).toEqual([
      expect.stringMatching(/empty\.jpg: empty file/),
      expect.stringMatching(/notes\.png: not an image/),
    ]);
    expect(r.skipped.map((s) => path.basename(s.file)).sort()).toEqual(['empty.jpg', 'notes.png']);
    expect(r.images).toEqual({ train: 8, val: 0, valSource: 'none' });
    expect(r.report).toMatchObject({ on: 'training', images: 8 });
  });
});

describe('reading batches', () => {
  it('shrinks large photos with sharp before they become tensors, to nearly the input preprocessing makes of the full image', async () => {
    const big = path.join(root, 'big.jpg');
    await sharp(sharedImage('cat_dog.jpg')).resize(2400, 1800).jpeg({ quality: 95 }).toFile(big);
    const pre = { size: [224, 224] as [number, number], range: [-1, 1] as [number, number], resize: 'squash' as const };
    const full = preprocess(await readImage(big), pre);
    const batch = (await loadBatch([{ file: big, label: 0 }, { file: path.join(root, 'missing.jpg'), label: 1 }], pre, () => {}))!;
    expect(batch.labels).toEqual([0]);
    expect(tf.tidy(() => tf.mean(tf.abs(full.sub(batch.x))).dataSync()[0])).toBeLessThan(0.01);
    tf.dispose([full, batch.x]);
  });
});

describe('fine-tuning', () => {
  it('tap-sum convolutions equal the layers, and their weight gradients equal the cpu kernels', async () => {
    const cases = [
      tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, biasInitializer: 'randomNormal' }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 1, padding: 'same' }),
      tf.layers.conv2d({ filters: 5, kernelSize: 1, padding: 'same', activation: 'relu', biasInitializer: 'randomNormal' }),
      tf.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: 'valid' }),
    ];
    await initBackend('cpu');
    try {
      for (const layer of cases) {
        const x = tf.randomNormal([2, 15, 14, 4], 0, 1, 'float32', 5) as tf.Tensor4D;
        const ref = layer.apply(x) as tf.Tensor;
        const mine = applyTrainable(layer, x);
        expect(mine.shape).toEqual(ref.shape);
        expect(tf.max(tf.abs(mine.sub(ref))).dataSync()[0]).toBeLessThan(1e-5);
        const v = layer.trainableWeights[0].read() as tf.Variable;
        const loss = (f: () => tf.Tensor) => () => f().square().sum() as tf.Scalar;
        const g1 = tf.variableGrads(loss(() => layer.apply(x) as tf.Tensor), [v]).grads[v.name];
        const g2 = tf.variableGrads(loss(() => applyTrainable(layer, x)), [v]).grads[v.name];
        expect(tf.max(tf.abs(g1.sub(g2))).dataSync()[0]).toBeLessThan(1e-4 * tf.max(tf.abs(g1)).dataSync()[0]);
      }
    } finally {
      await initBackend('wasm');
    }
  });

  it('trains the last blocks on wasm, leaving the earlier ones untouched', async () => {
    const { heldOutDir } = await shapes();
    const before = tf.memory().numTensors;
    const r = await trainClassifier(heldOutDir, { base: MODEL_025, epochs: 1, fineTune: 1, augment: false, valSplit: 0 });
    expect(r.fineTunedFrom).toBe('conv_dw_13');
    expect(r.backend).toBe('wasm');
    const base = (await loadModel(MODEL_025)) as LayersExplainableModel;
    const trained = (r.model as LayersExplainableModel).model.getLayer(BASE) as tf.LayersModel;
    const changed = (name: string) => tf.tidy(() => tf.max(tf.abs(trained.getLayer(name).getWeights()[0].sub(base.model.getLayer(name).getWeights()[0]))).dataSync()[0]);
    expect(changed('conv_pw_13')).toBeGreaterThan(0);
    expect(changed('conv_dw_13')).toBeGreaterThan(0);
    expect(changed('conv_pw_12')).toBe(0);
    base.dispose();
    r.model.dispose();
    await expect(trainClassifier(heldOutDir, { base: MODEL_025, fineTune: 15 })).rejects.toThrow(/--fine-tune 15: the base has 14 blocks/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
