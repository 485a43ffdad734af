/**
 * Object detectors (issue 17): decoding of both shared detectors against their expected detections,
 * a map per box that lands in its own box, the YOLO export layouts on small built models against
 * hand-computed boxes, the errors, and the scoping of the zero filter-gradient kernels.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { withCamKernels } from '../src/core/kernels.js';
import { detect, detectBoxes, detectionTargets, inBox, toDetector } from '../src/detect/detect.js';
import { iou, type Box } from '../src/detect/nms.js';
import { explain } from '../src/index.js';
import { wrapModel } from '../src/model/load.js';
import type { ExplainableModel } from '../src/model/types.js';
import { readImage } from '../src/node/image.js';
import { MODEL_025, model, runCli, sharedImage, sharedModel } from './helpers.js';

interface Expected { image: string; width: number; height: number; detections: { class: string; classIndex: number; score: number; box: Box }[] }
const expected = (name: string): Expected[] =>
  readFileSync(sharedModel(`detect/${name}/expected-detections.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Expected);
const rounded = (b: Box) => b.map((v) => Math.round(v)) as Box;

describe.each(['centernet', 'nanodet'])('%s', (name) => {
  let m: ExplainableModel;
  beforeAll(async () => {
    m = await model(sharedModel(`detect/${name}`));
  });

  it('decodes every shared image as expected-detections.jsonl (same class, IoU ≥ 0.9, score within 0.01)', async () => {
    const detector = toDetector(m);
    const before = tf.memory().numTensors;
    for (const e of expected(name)) {
      const dets = await detectBoxes(detector, await readImage(sharedImage(e.image)), { resize: 'bilinear' });
      expect(dets.length, e.image).toBe(e.detections.length);
      for (const want of e.detections) {
        const best = dets.filter((d) => d.classIndex === want.classIndex).map((d) => ({ d, iou: iou(rounded(d.box), want.box) })).sort((a, b) => b.iou - a.iou)[0];
        expect(best, `${e.image} ${want.class}`).toBeDefined();
        expect(best.iou, `${e.image} ${want.class}`).toBeGreaterThanOrEqual(0.9);
        expect(Math.abs(best.d.score - want.score), `${e.image} ${want.class}`).toBeLessThanOrEqual(0.01);
        expect(best.d.className).toBe(want.class);
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('on cat_dog.jpg the dog box\'s map peaks in the dog box and the cat box\'s in the cat box', async () => {
    const before = tf.memory().numTensors;
    const [r] = await detect(m, [await readImage(sharedImage('cat_dog.jpg'))], { classes: ['cat', 'dog'] });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.backend).toBe('wasm'); // fused convolutions' backward ran on wasm (no cpu fallback)
    const [dog] = r.detections.filter((d) => d.className === 'dog');
    const [cat] = r.detections.filter((d) => d.className === 'cat');
    expect(dog && cat).toBeTruthy();
    expect(inBox(dog.peak, dog.box), `dog peak ${JSON.stringify(dog.peak)} box ${rounded(dog.box)}`).toBe(true);
    expect(inBox(cat.peak, cat.box), `cat peak ${JSON.stringify(cat.peak)} box ${rounded(cat.box)}`).toBe(true);
    // Box-specific: the dog's map does not peak in the part of the cat box outside the dog box, and vice versa.
    expect(inBox(dog.peak, cat.box) && !inBox(dog.peak, dog.box)).toBe(false);
    expect(dog.energyInBox!).toBeGreaterThan(0.5);
    expect(cat.energyInBox!).toBeGreaterThan(0.5);
  }, 60_000);

  it('refuses `explain` without a detection target, naming `detect`; explains a detection target like any target', async () => {
    const img = await readImage(sharedImage('both.png'));
    await expect(explain(m, [img])).rejects.toThrow(/object detector.*detect/);
    if (name !== 'nanodet') return; // one detector is enough here (speed)
    const detector = toDetector(m);
    const dets = await detectBoxes(detector, img);
    const cat = dets.findIndex((d) => d.className === 'cat');
    const [r] = await explain(detector.model, [img], { targets: [detectionTargets(detector, dets)[cat]], method: 'layercam', layer: 'onnx_tf_prefix_Add_107' });
    expect(r.targets[0].target).toMatch(/detection .*"cat"/);
    expect(inBox(r.targets[0].peak, dets[cat].box)).toBe(true);
  }, 30_000);
});

/**
 * A model whose output is fixed by a bias (the input is all zeros, so the dense kernel adds nothing),
 * reshaped to a YOLO export layout: the boxes below are known exactly.
 */
function fixedOutputModel(values: number[][], layout: 'yolov8' | 'yolov5'): ExplainableModel {
  const rows = values.length, cols = values[0].length;
  const x = tf.input({ shape: [64, 64, 3] });
  const feat = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'feat' }).apply(x) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(feat) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: rows * cols, biasInitializer: tf.initializers.constant({ value: 0 }) });
  const y = tf.layers.reshape({ targetShape: [rows, cols] }).apply(dense.apply(pooled)) as tf.SymbolicTensor;
  const net = tf.model({ inputs: x, outputs: y });
  dense.setWeights([tf.zeros([4, rows * cols]), tf.tensor1d(values.flat())]);
  return wrapModel(net, { preprocessing: { range: [0, 1] }, name: layout });
}

describe('YOLO export layouts on built models', () => {
  beforeAll(async () => {
    const { initBackend } = await import('../src/node/backend.js');
    await initBackend('wasm');
  });
  const black = { data: new Uint8Array(128 * 96 * 3), width: 128, height: 96 }; // image 128×96 → input 64×64: x·2, y·1.5

  it('yolov8 [1, 4+C, N]: cx, cy, w, h, class scores; per-class NMS; boxes scaled to the image', async () => {
    // Anchors (columns): 0 class 0 at 0.9; 1 overlaps 0 (IoU 0.82), class 0 at 0.8 → suppressed; 2 same place,
    // class 1 at 0.7 → kept (other class); 3 scores 0.2 → below 0.25; 4–7 empty.
    const anchors = [[20, 20, 10, 20, 0.9, 0.1], [21, 20, 10, 20, 0.8, 0.1], [21, 20, 10, 20, 0.1, 0.7], [50, 40, 8, 8, 0.2, 0.1]];
    const cols = [...anchors, ...Array.from({ length: 4 }, () => [0, 0, 0, 0, 0, 0])];
    const values = Array.from({ length: 6 }, (_, r) => cols.map((c) => c[r])); // [4 + C, N]
    const m = fixedOutputModel(values, 'yolov8');
    const det = toDetector(m);
    expect(det.config.layout).toBe('yolov8');
    const dets = await detectBoxes(det, black);
    expect(dets.map((d) => [d.classIndex, +d.score.toFixed(4), d.box.map((v) => +v.toFixed(3))])).toEqual([
      [0, 0.9, [30, 15, 50, 45]],
      [1, 0.7, [32, 15, 52, 45]],
    ]);
    // The detection targets read exactly those cells through the model.
    const outs = await m.run(tf.zeros([1, 64, 64, 3]));
    const scores = tf.tidy(() => detectionTargets(det, dets).map((t) => t.score(outs).dataSync()[0]));
    tf.dispose(outs);
    expect(scores.map((s) => +s.toFixed(4))).toEqual([0.9, 0.7]);
  });

  it('yolov5 [1, N, 5+C]: score = objectness × class probability', async () => {
    const anchors = [[20, 20, 10, 20, 0.9, 0.9, 0.1], [40, 30, 6, 4, 0.5, 0.2, 0.9], [10, 10, 4, 4, 0.1, 0.9, 0.9]];
    const values = [...anchors, ...Array.from({ length: 5 }, () => [0, 0, 0, 0, 0, 0, 0])]; // [N = 8, 5 + C = 7]
    const m = fixedOutputModel(values, 'yolov5');
    const det = toDetector(m);
    expect(det.config.layout).toBe('yolov5');
    const dets = await detectBoxes(det, black);
    expect(dets.map((d) => [d.classIndex, +d.score.toFixed(4), d.box.map((v) => +v.toFixed(3))])).toEqual([
      [0, 0.81, [30, 15, 50, 45]],
      [1, 0.45, [74, 42, 86, 48]],
    ]);
    const outs = await m.run(tf.zeros([1, 64, 64, 3]));
    const scores = tf.tidy(() => detectionTargets(det, dets).map((t) => t.score(outs).dataSync()[0]));
    tf.dispose(outs);
    expect(scores.map((s) => +s.toFixed(4))).toEqual([0.81, 0.45]);
  });
});

describe('errors and scoping', () => {
  it('gradcam detect: a bad file is one line and the batch continues', async () => {
    const out = path.join(os.tmpdir(), `gradcam-detect-${process.pid}`);
    const bad = path.join(os.tmpdir(), `not-an-image-${process.pid}.jpg`);
    writeFileSync(bad, 'no');
    const r = await runCli(['detect', bad, sharedImage('cat_dog.jpg'), '--model', sharedModel('detect/nanodet'), '--no-maps', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toEqual([`error: ${bad}: not an image (unsupported or unrecognised format)`]);
    const json = JSON.parse(readFileSync(path.join(out, 'cat_dog.json'), 'utf8')) as { detections: { className: string }[] };
    expect(json.detections.map((d) => d.className).sort()).toEqual(['cat', 'dog']);
    expect(existsSync(path.join(out, 'cat_dog.png'))).toBe(true);
  }, 60_000);

  it('a classifier passed to detect is "not a detector"', async () => {
    const m = await model(MODEL_025);
    await expect(detect(m, [{ data: new Uint8Array(32 * 32 * 3), width: 32, height: 32 }])).rejects.toThrow(/not a detector/);
  });

  it('inside the CAM computation, the convolution input gradient from forward kernels equals the cpu one', async () => {
    const { initBackend } = await import('../src/node/backend.js');
    const cases: [number, number, 'same' | 'valid', number][] = [[1, 1, 'same', 9], [3, 1, 'same', 9], [3, 2, 'same', 9], [3, 2, 'valid', 8], [5, 2, 'same', 10]];
    const grads = async (backend: 'cpu' | 'wasm') => {
      await initBackend(backend);
      return cases.map(([k, s, pad, n]) => tf.tidy(() => {
        const x = tf.randomNormal([2, n, n + 1, 3], 0, 1, 'float32', k + s) as tf.Tensor4D;
        const f = tf.randomNormal([k, k, 3, 4], 0, 1, 'float32', n) as tf.Tensor4D;
        const g = () => tf.grad((v) => tf.conv2d(v as tf.Tensor4D, f, s, pad).square().sum())(x).dataSync() as Float32Array;
        return backend === 'wasm' ? withCamKernels(g) : g();
      }));
    };
    const cpu = await grads('cpu');
    const own = tf.getKernel('Conv2DBackpropInput', 'wasm')!.kernelFunc;
    const wasm = await grads('wasm');
    cpu.forEach((c, i) => {
      const scale = Math.max(...c.map(Math.abs));
      expect(Math.max(...c.map((v, j) => Math.abs(v - wasm[i][j]))) / scale, `case ${cases[i]}`).toBeLessThan(1e-5);
    });
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')!.kernelFunc).toBe(own); // wasm's own kernel is back
  });

  it('zero filter-gradient kernels exist only inside the CAM computation; a normal filter gradient afterwards is not zero', async () => {
    const { initBackend } = await import('../src/node/backend.js');
    await initBackend('wasm');
    const x = tf.randomNormal([1, 6, 6, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
    const f = tf.randomNormal([3, 3, 2, 2], 0, 1, 'float32', 2) as tf.Tensor4D;
    const filterGrad = () => tf.tidy(() => tf.grad((w) => tf.conv2d(x, w as tf.Tensor4D, 1, 'same').square().sum())(f).abs().sum().dataSync()[0]);
    expect(withCamKernels(filterGrad)).toBe(0); // inside: zeros, by design
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')).toBeUndefined();
    // Right after: wasm has no filter gradient, so training there fails loudly rather than learning nothing…
    expect(filterGrad).toThrow(/Conv2DBackpropFilter/);
    // …and on cpu the same gradient is the real one.
    await initBackend('cpu');
    expect(filterGrad()).toBeGreaterThan(0);
    await initBackend('wasm');
    tf.dispose([x, f]);
  });
});
