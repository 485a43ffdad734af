/**
 * ROAD, RemOve And Debias (Rong et al., ICML 2022, arXiv 2202.00449), as in pytorch-grad-cam's
 * `metrics/road.py`: the removed pixels are not set to a constant (which leaks the mask's shape to
 * the model) but imputed by *noisy linear imputation*: each removed pixel equals the weighted
 * average of its 8 neighbours (weights 1/6 for the 4 direct, 1/12 for the 4 diagonal neighbours,
 * renormalised over the neighbours inside the image), removed neighbours being unknowns too. That
 * sparse symmetric positive-definite system is solved per channel by conjugate gradients (warm-started
 * from a coarse-to-fine fill), then Gaussian noise (σ = `noise`, in the model's input space) is added.
 *
 * At each percentage p, MoRF removes the p % most relevant pixels and LeRF the p % least relevant
 * (in the map's order); the score at p is the class probability. A faithful map makes MoRF fall fast
 * and LeRF stay high: `road = (mean LeRF − mean MoRF) / 2` (pytorch-grad-cam's `ROADCombined`; higher is better).
 */
import * as tf from '@tensorflow/tfjs';
import type { ExplainableModel } from '../model/types.js';
import { classProbabilities, gaussian, mean, relevanceOrder, seededRandom, type MetricCase } from './common.js';

/** The default percentages of pixels removed. */
export const ROAD_PERCENTAGES = [10, 20, 30, 40, 50, 60, 70, 80, 90];

/** Options of {@link road}. */
export interface RoadOptions {
  /** Percentages of pixels removed (default 10, 20, … 90). */
  percentages?: number[];
  /** σ of the noise added to imputed values, in the model's input space (default 0.01). */
  noise?: number;
  /** Seed of the noise (default 0). */
  seed?: number;
  /** Conjugate-gradient iterations at most (default 60). */
  iterations?: number;
  /** Images per forward pass (default 16). */
  batchSize?: number;
}

/** A case's ROAD curves (class probability at each percentage) and the combined score. */
export interface RoadScore {
  percentages: number[];
  morf: number[];
  lerf: number[];
  road: number;
}

// [dy, dx, weight]: pytorch-grad-cam's (ROAD's) neighbour weights.
const NEIGHBOURS: [number, number, number][] = [
  [-1, -1, 1 / 12], [-1, 0, 1 / 6], [-1, 1, 1 / 12], [0, -1, 1 / 6], [0, 1, 1 / 6], [1, -1, 1 / 12], [1, 0, 1 / 6], [1, 1, 1 / 12],
];

/** A coarse-to-fine fill of the removed pixels: averages of known pixels over ever larger 2×2 blocks. */
function pyramidFill(img: Float32Array, known: Uint8Array, H: number, W: number): Float32Array {
  const levels: { v: Float32Array; w: Float32Array; h: number; wd: number }[] = [];
  let v = new Float32Array(H * W * 3), w = new Float32Array(H * W), h = H, wd = W;
  for (let i = 0; i < H * W; i++) if (known[i]) { w[i] = 1; for (let c = 0; c < 3; c++) v[i * 3 + c] = img[i * 3 + c]; }
  levels.push({ v, w, h, wd });
  while (w.some((x) => x === 0) && (h > 1 || wd > 1)) {
    const h2 = Math.ceil(h / 2), w2 = Math.ceil(wd / 2);
    const v2 = new Float32Array(h2 * w2 * 3), ww = new Float32Array(h2 * w2);
    for (let y = 0; y < h; y++) for (let x = 0; x < wd; x++) {
      const i = y * wd + x, j = (y >> 1) * w2 + (x >> 1);
      ww[j] += w[i];
      for (let c = 0; c < 3; c++) v2[j * 3 + c] += w[i] * v[i * 3 + c];
    }
    for (let j = 0; j < h2 * w2; j++) if (ww[j] > 0) for (let c = 0; c < 3; c++) v2[j * 3 + c] /= ww[j];
    v = v2; w = ww; h = h2; wd = w2;
    levels.push({ v, w, h, wd });
  }
  for (let l = levels.length - 2; l >= 0; l--) {
    const f = levels[l], g = levels[l + 1];
    for (let y = 0; y < f.h; y++) for (let x = 0; x < f.wd; x++) {
      const i = y * f.wd + x;
      if (f.w[i] > 0) continue;
      const j = (y >> 1) * g.wd + (x >> 1);
      for (let c = 0; c < 3; c++) f.v[i * 3 + c] = g.v[j * 3 + c];
      f.w[i] = 1e-6; // filled, so finer levels may use it (and it stays "removed" for level 0's caller)
    }
  }
  return levels[0].v;
}

/**
 * Noisy linear imputation of the pixels where `removed` is 1, in an `[H, W, 3]` image; returns a new
 * image. `noise` σ (default 0.01) is drawn from `rand` (a uniform PRNG).
 */
export function imputeNoisyLinear(
  img: Float32Array, removed: Uint8Array, H: number, W: number,
  opts: { noise?: number; rand?: () => number; iterations?: number } = {},
): Float32Array {
  const vidx = new Int32Array(H * W).fill(-1);
  const unknown: number[] = [];
  for (let i = 0; i < H * W; i++) if (removed[i]) { vidx[i] = unknown.length; unknown.push(i); }
  const n = unknown.length;
  const out = Float32Array.from(img);
  if (!n) return out;
  if (n === H * W) throw new RangeError('imputeNoisyLinear: every pixel is removed; nothing to impute from');
  // System A u = b: A = diag(S) − W_uu (8 neighbours at most), b = Σ known neighbours w·v.
  const diag = new Float64Array(n), nbr = new Int32Array(n * 8).fill(-1), nw = new Float64Array(n * 8), b = new Float64Array(n * 3);
  for (let u = 0; u < n; u++) {
    const y = Math.floor(unknown[u] / W), x = unknown[u] % W;
    NEIGHBOURS.forEach(([dy, dx, wt], k) => {
      const yy = y + dy, xx = x + dx;
      if (yy < 0 || xx < 0 || yy >= H || xx >= W) return;
      diag[u] += wt;
      const j = yy * W + xx;
      if (vidx[j] >= 0) { nbr[u * 8 + k] = vidx[j]; nw[u * 8 + k] = wt; } else for (let c = 0; c < 3; c++) b[u * 3 + c] += wt * img[j * 3 + c];
    });
  }
  const matvec = (p: Float64Array, q: Float64Array) => {
    for (let u = 0; u < n; u++) {
      let q0 = diag[u] * p[u * 3], q1 = diag[u] * p[u * 3 + 1], q2 = diag[u] * p[u * 3 + 2];
      for (let k = u * 8; k < u * 8 + 8; k++) {
        const j = nbr[k];
        if (j < 0) continue;
        q0 -= nw[k] * p[j * 3]; q1 -= nw[k] * p[j * 3 + 1]; q2 -= nw[k] * p[j * 3 + 2];
      }
      q[u * 3] = q0; q[u * 3 + 1] = q1; q[u * 3 + 2] = q2;
    }
  };
  // Conjugate gradients, the three channels side by side, from the pyramid fill.
  const init = pyramidFill(img, Uint8Array.from(removed, (r) => 1 - r), H, W);
  const sol = new Float64Array(n * 3), r = new Float64Array(n * 3), p = new Float64Array(n * 3), q = new Float64Array(n * 3);
  for (let u = 0; u < n; u++) for (let c = 0; c < 3; c++) sol[u * 3 + c] = init[unknown[u] * 3 + c];
  matvec(sol, q);
  const rr = [0, 0, 0], bb = [0, 0, 0];
  for (let i = 0; i < n * 3; i++) { r[i] = b[i] - q[i]; p[i] = r[i]; rr[i % 3] += r[i] * r[i]; bb[i % 3] += b[i] * b[i]; }
  for (let it = 0; it < (opts.iterations ?? 60); it++) {
    if ([0, 1, 2].every((c) => rr[c] <= 1e-12 * (bb[c] + 1e-12))) break;
    matvec(p, q);
    const pq = [0, 0, 0];
    for (let i = 0; i < n * 3; i++) pq[i % 3] += p[i] * q[i];
    const alpha = rr.map((v, c) => (pq[c] > 0 ? v / pq[c] : 0));
    const rr2 = [0, 0, 0];
    for (let i = 0; i < n * 3; i++) { const c = i % 3; sol[i] += alpha[c] * p[i]; r[i] -= alpha[c] * q[i]; rr2[c] += r[i] * r[i]; }
    const beta = rr2.map((v, c) => (rr[c] > 0 ? v / rr[c] : 0));
    for (let i = 0; i < n * 3; i++) p[i] = r[i] + beta[i % 3] * p[i];
    rr.splice(0, 3, ...rr2);
  }
  const sigma = opts.noise ?? 0.01;
  const randn = gaussian(opts.rand ?? seededRandom(0));
  for (let u = 0; u < n; u++) for (let c = 0; c < 3; c++) out[unknown[u] * 3 + c] = sol[u * 3 + c] + (sigma ? sigma * randn() : 0);
  return out;
}

/** ROAD MoRF/LeRF curves for every case; imputations of all cases and percentages are scored in batches. */
export function road(model: ExplainableModel, cases: MetricCase[], opts: RoadOptions = {}): RoadScore[] {
  const percentages = opts.percentages ?? ROAD_PERCENTAGES;
  const rand = seededRandom(opts.seed ?? 0);
  const P = percentages.length;
  return cases.map((c) => {
    const [H, W] = c.size;
    const order = relevanceOrder(c.map);
    // Items 0..P-1: MoRF at each percentage; P..2P-1: LeRF.
    const images = Array.from({ length: 2 * P }, (_, i) => {
      const n = Math.round((percentages[i % P] / 100) * H * W);
      const removed = new Uint8Array(H * W);
      const picked = i < P ? order.subarray(0, n) : order.subarray(H * W - n);
      for (const px of picked) removed[px] = 1;
      return imputeNoisyLinear(c.input, removed, H, W, { noise: opts.noise, rand, iterations: opts.iterations });
    });
    const p = classProbabilities(model, 2 * P, (i) => tf.tensor3d(images[i], [H, W, 3]), () => c.classIndex, opts.batchSize);
    const morf = Array.from(p.subarray(0, P)), lerf = Array.from(p.subarray(P));
    return { percentages, morf, lerf, road: (mean(lerf) - mean(morf)) / 2 };
  });
}
