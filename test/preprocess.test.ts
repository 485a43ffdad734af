/**
 * How an image becomes the network input: value ranges, torchvision mean/std (also from metadata.json),
 * grayscale models, `--resize crop` (the network sees the central crop; maps are placed back on it).
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { colormapTable, preprocess, type Preprocessing } from '../src/index.js';
import { inputRegion } from '../src/core/image.js';
import { initBackend } from '../src/node/backend.js';
import { loadModel } from '../src/node/load.js';
import { MODEL_025, runCli, sharedImage } from './helpers.js';

// 4 wide × 2 high, RGB.
const px = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200, 210, 220, 230, 240];
const img = { data: Uint8Array.from(px), width: 4, height: 2 };
const values = (pre: Preprocessing, image = img) => tf.tidy(() => Array.from(preprocess(image, pre).dataSync()));

beforeAll(async () => {
  await initBackend('cpu');
});

describe('preprocess', () => {
  it('maps 0..255 linearly onto the range', () => {
    const got = values({ size: [2, 4], range: [-1, 1], resize: 'squash' });
    got.forEach((v, i) => expect(v).toBeCloseTo(px[i] / 127.5 - 1, 5));
  });

  it('applies torchvision mean/std per channel on [0, 1] pixels instead of the range', () => {
    const mean: [number, number, number] = [0.485, 0.456, 0.406], std: [number, number, number] = [0.229, 0.224, 0.225];
    const got = values({ size: [2, 4], range: [-1, 1], mean, std, resize: 'squash' });
    got.forEach((v, i) => expect(v).toBeCloseTo((px[i] / 255 - mean[i % 3]) / std[i % 3], 5));
  });

  it('gives grayscale models one channel: the luminance', () => {
    const got = values({ size: [2, 4], range: [0, 1], resize: 'squash', channels: 1 });
    expect(got).toHaveLength(8);
    got.forEach((v, i) => expect(v).toBeCloseTo((0.299 * px[3 * i] + 0.587 * px[3 * i + 1] + 0.114 * px[3 * i + 2]) / 255, 5));
  });

  it('crop: the central square of a wide image, then resized; squash: the whole image', () => {
    const pre: Preprocessing = { size: [2, 2], range: [0, 255], resize: 'crop' };
    expect(inputRegion(4, 2, pre)).toEqual({ x: 1, y: 0, width: 2, height: 2 });
    // Columns 1 and 2 of each row.
    expect(values(pre)).toEqual([40, 50, 60, 70, 80, 90, 160, 170, 180, 190, 200, 210]);
    expect(values({ ...pre, resize: 'squash' })).not.toEqual(values(pre));
  });

  it('reads mean/std and the resize mode from metadata.json', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gradcam-meta-'));
    cpSync(MODEL_025, dir, { recursive: true });
    const meta = JSON.parse(readFileSync(path.join(MODEL_025, 'metadata.json'), 'utf8').toString() || '{}') as Record<string, unknown>;
    writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify({ ...meta, name: 'my net', preprocessing: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], resize: 'crop' } }));
    const m = await loadModel(dir);
    expect(m.name).toBe('my net');
    expect(m.preprocessing).toMatchObject({ size: [224, 224], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], resize: 'crop' });
    m.dispose();
  });
});

describe('--resize crop end to end (cat_dog.jpg, 640×480: the network sees x 80…559)', () => {
  it('places the map on the crop: peaks inside it, the cropped-off sides at the colormap\'s zero', async () => {
    await initBackend('wasm');
    const out = mkdtempSync(path.join(os.tmpdir(), 'gradcam-crop-'));
    const r = await runCli(['explain', sharedImage('cat_dog.jpg'), '--model', MODEL_025, '--resize', 'crop', '--class', '282', '--class', '243', '-o', out]);
    expect(r.code).toBe(0);
    const json = JSON.parse(readFileSync(path.join(out, 'cat_dog.json'), 'utf8'));
    for (const t of json.targets) {
      expect(t.peak.x).toBeGreaterThanOrEqual(80);
      expect(t.peak.x).toBeLessThan(560);
    }
    const { data, info } = await sharp(path.join(out, 'cat_dog.282.heatmap.png')).raw().toBuffer({ resolveWithObject: true });
    const zero = Array.from(colormapTable('jet').subarray(0, 3));
    const at = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
    for (const y of [0, 240, 479]) {
      expect(at(0, y)).toEqual(zero);
      expect(at(79, y)).toEqual(zero);
      expect(at(560, y)).toEqual(zero);
    }
    // Inside, the map has its full range.
    const inside = Array.from({ length: 480 }, (_, i) => at(80 + i, 240)).filter((c) => c.join() !== zero.join());
    expect(inside.length).toBeGreaterThan(100);
    // Squashing the whole image gives the network another input, hence another map.
    const sq = await runCli(['explain', sharedImage('cat_dog.jpg'), '--model', MODEL_025, '--class', '282', '-o', path.join(out, 'squash')]);
    const squash = JSON.parse(readFileSync(path.join(out, 'squash', 'cat_dog.json'), 'utf8'));
    expect(sq.code).toBe(0);
    const diff = Math.max(...squash.targets[0].cam.flat().map((v: number, i: number) => Math.abs(v - json.targets[0].cam.flat()[i])));
    expect(diff).toBeGreaterThan(0.05);
  });
});
