/**
 * Smoothing shared by every method: the first-principal-component projection (Eigen-CAM, and
 * `eigenSmooth` on any method), and test-time augmentation (`augSmooth`).
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Top eigenvector of a symmetric positive semi-definite `n×n` matrix (row-major, float64): repeated
 * squaring (the eigenvalue gap grows as a power of 2^k), then power iteration to polish.
 */
function topEigenvector(g: Float64Array, n: number): Float64Array {
  let b = Float64Array.from(g);
  const mul = (p: Float64Array, q: Float64Array) => {
    const r = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < n; k++) {
        const v = p[i * n + k];
        if (v === 0) continue;
        for (let j = 0; j < n; j++) r[i * n + j] += v * q[k * n + j];
      }
    }
    return r;
  };
  const trace = (p: Float64Array) => { let t = 0; for (let i = 0; i < n; i++) t += p[i * n + i]; return t; };
  for (let s = 0; s < 8; s++) {
    const t = trace(b);
    if (!(t > 0)) break;
    b = b.map((v) => v / t);
    b = mul(b, b);
  }
  // B ≈ u uᵀ: its largest column is a good start.
  let best = 0;
  for (let i = 1; i < n; i++) if (b[i * n + i] > b[best * n + best]) best = i;
  let u = new Float64Array(n);
  for (let i = 0; i < n; i++) u[i] = b[i * n + best];
  if (!u.some((v) => v !== 0)) u[0] = 1;
  for (let it = 0; it < 100; it++) {
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) { let s = 0; for (let j = 0; j < n; j++) s += g[i * n + j] * u[j]; next[i] = s; }
    const norm = Math.hypot(...next);
    if (norm === 0) break;
    let delta = 0;
    for (let i = 0; i < n; i++) { next[i] /= norm; delta = Math.max(delta, Math.abs(next[i] - u[i])); }
    u = next;
    if (delta < 1e-12) break;
  }
  return u;
}

/**
 * Projection of one `[P, C]` matrix (P positions, C channels, row-major) onto its first principal
 * component: columns centred, then `X_c · v₁` with v₁ the first right singular vector (as
 * pytorch-grad-cam's `get_2d_projection`). SVDs leave the sign free; here it is chosen so that the
 * projection correlates positively with `Σ_k X_k` (the unprojected map), so maps point at evidence.
 */
export function firstComponent(x: ArrayLike<number>, p: number, c: number): Float64Array {
  const xc = new Float64Array(p * c);
  const sum = new Float64Array(p);
  for (let k = 0; k < c; k++) {
    let mean = 0;
    for (let i = 0; i < p; i++) mean += x[i * c + k];
    mean /= p;
    for (let i = 0; i < p; i++) { xc[i * c + k] = x[i * c + k] - mean; sum[i] += x[i * c + k]; }
  }
  const proj = new Float64Array(p);
  if (p <= c) {
    // Gram matrix of positions: X_c X_cᵀ = U S² Uᵀ, and X_c v₁ = σ₁ u₁.
    const g = new Float64Array(p * p);
    for (let i = 0; i < p; i++) {
      for (let j = i; j < p; j++) {
        let s = 0;
        for (let k = 0; k < c; k++) s += xc[i * c + k] * xc[j * c + k];
        g[i * p + j] = g[j * p + i] = s;
      }
    }
    const u = topEigenvector(g, p);
    let lambda = 0;
    for (let i = 0; i < p; i++) { let s = 0; for (let j = 0; j < p; j++) s += g[i * p + j] * u[j]; lambda += u[i] * s; }
    const sigma = Math.sqrt(Math.max(lambda, 0));
    for (let i = 0; i < p; i++) proj[i] = sigma * u[i];
  } else {
    // Gram matrix of channels: X_cᵀ X_c = V S² Vᵀ.
    const g = new Float64Array(c * c);
    for (let i = 0; i < p; i++) {
      for (let a = 0; a < c; a++) {
        const v = xc[i * c + a];
        if (v === 0) continue;
        for (let b = a; b < c; b++) g[a * c + b] += v * xc[i * c + b];
      }
    }
    for (let a = 0; a < c; a++) for (let b = 0; b < a; b++) g[a * c + b] = g[b * c + a];
    const v = topEigenvector(g, c);
    for (let i = 0; i < p; i++) { let s = 0; for (let k = 0; k < c; k++) s += xc[i * c + k] * v[k]; proj[i] = s; }
  }
  let dot = 0;
  for (let i = 0; i < p; i++) dot += proj[i] * sum[i];
  if (dot < 0) for (let i = 0; i < p; i++) proj[i] = -proj[i];
  return proj;
}

/** {@link firstComponent} of every row of `terms` `[M, h, w, C]`: the maps `[M, h, w]`. */
export function project2d(terms: tf.Tensor4D): tf.Tensor3D {
  const [m, h, w, c] = terms.shape;
  const data = terms.dataSync();
  const out = new Float32Array(m * h * w);
  for (let r = 0; r < m; r++) out.set(firstComponent(data.subarray(r * h * w * c, (r + 1) * h * w * c), h * w, c), r * h * w);
  return tf.tensor3d(out, [m, h, w]);
}

/**
 * Test-time augmentations of pytorch-grad-cam's `aug_smooth`: horizontal flip × intensity scale
 * 0.9, 1, 1.1 of the preprocessed input. The first is the identity.
 */
export const AUGMENTATIONS: readonly { flip: boolean; scale: number }[] = [false, true]
  .flatMap((flip) => [1, 0.9, 1.1].map((scale) => ({ flip, scale })));

/** The batch `[N, H, W, 3]` under every augmentation: `[T·N, H, W, 3]`, augmentation-major. */
export function augment(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.concat(AUGMENTATIONS.map(({ flip, scale }) => {
    const s = scale === 1 ? x : x.mul(scale);
    return flip ? tf.reverse(s, 2) : s;
  })) as tf.Tensor4D);
}

/**
 * Aligns maps `[T·P, h, w]` (augmentation-major, P maps per augmentation) back onto the original
 * image (un-flips the flipped ones) and averages them: `[P, h, w]`.
 */
export function mergeAugmented(maps: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const t = AUGMENTATIONS.length;
    const [tp, h, w] = maps.shape;
    const parts = tf.split(maps, t, 0).map((part, i) => (AUGMENTATIONS[i].flip ? tf.reverse(part, 2) : part));
    return tf.stack(parts).mean(0).reshape([tp / t, h, w]) as tf.Tensor3D;
  });
}
