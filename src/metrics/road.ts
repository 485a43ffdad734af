/**
 * ROAD, RemOve And Debias (Rong et al., ICML 2022, arXiv 2202.00449), as in pytorch-grad-cam's
 * `metrics/road.py`: the removed pixels are not set to a constant (which leaks the mask's shape to
 * the model) but imputed by *noisy linear imputation*: each removed pixel equals the weighted
 * average of its 8 neighbours (weights 1/6 for the 4 direct, 1/12 for the 4 diagonal neighbours,
 * renormalised over the neighbours inside the image), removed neighbours being unknowns too. That
 * sparse symmetric positive-definite system is solved per channel by conjugate gradients (warm-started
 * from the same problem solved at half resolution, recursively), then Gaussian noise (σ = `noise`, in the model's input space) is added.
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
  /** Conjugate-gradient iterations at most, per level of the multigrid cascade (default 30). */
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

/**
 * Solves the imputation system for the pixels where `removed` is 1 in an `[H, W, 3]` image: conjugate
 * gradients (the three channels side by side), `iterations` at most, from a cascadic multigrid start:
 * the same problem solved on the image halved (2×2 block means of the known pixels; a block is known when
 * any of its pixels is), upsampled bilinearly. Returns the image with the removed pixels filled.
 */
function solve(img: Float32Array, removed: Uint8Array, H: number, W: number, iterations: number): Float32Array {
  const vidx = new Int32Array(H * W).fill(-1);
  const unknown: number[] = [];
  for (let i = 0; i < H * W; i++) if (removed[i]) { vidx[i] = unknown.length; unknown.push(i); }
  const n = unknown.length;
  const out = Float32Array.from(img);
  if (!n) return out;
  // Start: the coarse solution, upsampled (or, at the coarsest level, the mean of the known pixels).
  if (H >= 8 && W >= 8) {
    const h2 = Math.ceil(H / 2), w2 = Math.ceil(W / 2);
    const sum = new Float32Array(h2 * w2 * 3), cnt = new Float32Array(h2 * w2);
    for (let i = 0; i < H * W; i++) {
      if (removed[i]) continue;
      const j = (Math.floor(i / W) >> 1) * w2 + ((i % W) >> 1);
      cnt[j]++;
      for (let c = 0; c < 3; c++) sum[j * 3 + c] += img[i * 3 + c];
    }
    for (let j = 0; j < h2 * w2; j++) if (cnt[j]) for (let c = 0; c < 3; c++) sum[j * 3 + c] /= cnt[j];
    const coarse = solve(sum, Uint8Array.from(cnt, (k) => (k ? 0 : 1)), h2, w2, iterations);
    for (const i of unknown) {
      // Bilinear, half-pixel centres, clamped.
      const fy = Math.min(Math.max((Math.floor(i / W) + 0.5) / 2 - 0.5, 0), h2 - 1), fx = Math.min(Math.max(((i % W) + 0.5) / 2 - 0.5, 0), w2 - 1);
      const y0 = Math.floor(fy), x0 = Math.floor(fx), y1 = Math.min(y0 + 1, h2 - 1), x1 = Math.min(x0 + 1, w2 - 1), dy = fy - y0, dx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const v = (a: number, b: number) => coarse[(a * w2 + b) * 3 + c];
        out[i * 3 + c] = (1 - dy) * ((1 - dx) * v(y0, x0) + dx * v(y0, x1)) + dy * ((1 - dx) * v(y1, x0) + dx * v(y1, x1));
      }
    }
  } else {
    const m = [0, 1, 2].map((c) => { let s = 0; for (let i = 0; i < H * W; i++) if (!removed[i]) s += img[i * 3 + c]; return s / (H * W - n); });
    for (const i of unknown) for (let c = 0; c < 3; c++) out[i * 3 + c] = m[c];
  }
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
  const sol = new Float64Array(n * 3), r = new Float64Array(n * 3), p = new Float64Array(n * 3), q = new Float64Array(n * 3);
  for (let u = 0; u < n; u++) for (let c = 0; c < 3; c++) sol[u * 3 + c] = out[unknown[u] * 3 + c];
  matvec(sol, q);
  const rr = [0, 0, 0], bb = [0, 0, 0];
  for (let i = 0; i < n * 3; i++) { r[i] = b[i] - q[i]; p[i] = r[i]; rr[i % 3] += r[i] * r[i]; bb[i % 3] += b[i] * b[i]; }
  for (let it = 0; it < iterations; it++) {
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
  for (let u = 0; u < n; u++) for (let c = 0; c < 3; c++) out[unknown[u] * 3 + c] = sol[u * 3 + c];
  return out;
}

/**
 * Noisy linear imputation of the pixels where `removed` is 1, in an `[H, W, 3]` image; returns a new
 * image. `noise` σ (default 0.01) is drawn from `rand` (a uniform PRNG).
 */
export function imputeNoisyLinear(
  img: Float32Array, removed: Uint8Array, H: number, W: number,
  opts: { noise?: number; rand?: () => number; iterations?: number } = {},
): Float32Array {
  if (removed.every((r) => r)) throw new RangeError('imputeNoisyLinear: every pixel is removed; nothing to impute from');
  const out = solve(img, removed, H, W, opts.iterations ?? 30);
  const sigma = opts.noise ?? 0.01;
  if (!sigma) return out;
  const randn = gaussian(opts.rand ?? seededRandom(0));
  for (let i = 0; i < H * W; i++) if (removed[i]) for (let c = 0; c < 3; c++) out[i * 3 + c] += sigma * randn();
  return out;
}

/** ROAD MoRF/LeRF curves for every case; imputations of all cases and percentages are scored in batches. */
export async function road(model: ExplainableModel, cases: MetricCase[], opts: RoadOptions = {}): Promise<RoadScore[]> {
  const percentages = opts.percentages ?? ROAD_PERCENTAGES;
  const rand = seededRandom(opts.seed ?? 0);
  const P = percentages.length;
  const out: RoadScore[] = [];
  for (const c of cases) {
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
    const p = await classProbabilities(model, 2 * P, (i) => tf.tensor3d(images[i], [H, W, 3]), () => c.classIndex, opts.batchSize);
    const morf = Array.from(p.subarray(0, P)), lerf = Array.from(p.subarray(P));
    out.push({ percentages, morf, lerf, road: (mean(lerf) - mean(morf)) / 2 });
  }
  return out;
}
