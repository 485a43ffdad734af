/** Map post-processing shared by explain, guided Grad-CAM and the metrics: normalise, upsample, fuse, peak. */
import * as tf from '@tensorflow/tfjs';
import type { Grid } from './types.js';

/**
 * The values of the tensor `fn` builds (under `tf.tidy`), read after the scope closes: returning a large
 * typed array from `tf.tidy` itself is slow (tidy walks the result element by element for tensors).
 */
export function tidyRead(fn: () => tf.Tensor): Float32Array {
  const t = tf.tidy(fn);
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}

/** Per-map ReLU and min–max normalisation of `[M, h, w]` (pytorch-grad-cam's: `c -= min; c /= 1e-7 + max`). */
export function normaliseMaps(cam: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const r = tf.relu(cam);
    const c = r.sub(r.min([1, 2], true));
    return c.div(c.max([1, 2], true).add(1e-7));
  });
}

/**
 * A map resized to `[height, width]` (bilinear, half-pixel centres) and min–max renormalised to [0, 1]:
 * the one upsampling every heatmap, guided Grad-CAM and metric uses.
 */
export function upsampleMap(map: Grid, size: [number, number]): Float32Array {
  return tidyRead(() => {
    const up = tf.image.resizeBilinear(tf.tensor3d(map.data, [map.height, map.width, 1]), size, false, true);
    const c = up.sub(up.min());
    return c.div(c.max().add(1e-7));
  });
}

/**
 * A layer-resolution map on a `width`×`height` image: upsampled into `region` (the part the network
 * saw; zeros around it) with {@link upsampleMap}.
 */
export function mapOnImage(map: Grid, width: number, height: number, region = { x: 0, y: 0, width, height }): Grid {
  const up = upsampleMap(map, [region.height, region.width]);
  if (region.width === width && region.height === height) return { data: up, width, height };
  const data = new Float32Array(width * height);
  for (let y = 0; y < region.height; y++) data.set(up.subarray(y * region.width, (y + 1) * region.width), (y + region.y) * width + region.x);
  return { data, width, height };
}

/** The renormalised mean of maps of one size (several layers' heatmaps, pytorch-grad-cam's aggregation). */
export function fuseMaps(maps: Grid[]): Grid {
  const { width, height } = maps[0];
  const data = new Float32Array(width * height);
  for (const m of maps) for (let i = 0; i < data.length; i++) data[i] += Math.max(0, m.data[i]) / maps.length;
  let lo = Infinity, hi = -Infinity;
  for (const v of data) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  for (let i = 0; i < data.length; i++) data[i] = (data[i] - lo) / (hi - lo + 1e-7);
  return { data, width, height };
}

/**
 * The argmax of a map in pixels. Bilinear upsampling with clamped edges makes flat maxima (a whole
 * half-cell along a border has the border cell's value), so ties are resolved to their centroid.
 */
export function peakOf(map: Grid): { x: number; y: number } {
  let max = -Infinity;
  for (const v of map.data) if (v > max) max = v;
  let sx = 0, sy = 0, n = 0;
  for (let i = 0; i < map.data.length; i++) {
    if (map.data[i] >= max - 1e-6) { sx += i % map.width; sy += Math.floor(i / map.width); n++; }
  }
  return { x: Math.round(sx / n), y: Math.round(sy / n) };
}
