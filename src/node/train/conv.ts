/**
 * Convolutions written as sums over kernel taps of shifted input windows (a matMul per tap for
 * Conv2D, a per-channel product for DepthwiseConv2D). Their gradients need only slice, pad, reshape,
 * matMul and elementwise kernels, which every backend has: the wasm backend lacks the conv filter
 * gradients, and the cpu backend's Conv2DBackpropFilter is ~100× slower than this on MobileNet's
 * last blocks. Used for the fine-tuned layers only; inference keeps the fused kernels.
 */
import * as tf from '@tensorflow/tfjs';

type Pair = [number, number];
const pair = (v: unknown, d: number): Pair => (Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [(v as number) ?? d, (v as number) ?? d]);

/** Output size and padding before/after along one axis (TensorFlow's `same`/`valid` rules). */
function axis(size: number, k: number, s: number, d: number, padding: string): [number, number, number] {
  const span = (k - 1) * d + 1;
  if (padding === 'valid') return [Math.ceil((size - span + 1) / s), 0, 0];
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + span - size, 0);
  return [out, Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * Σ over kernel taps (a, b) of `tap(window_ab, a, b)`, window_ab `[N, ho, wo, C]` being the input
 * pixels tap (a, b) sees. Strided convolutions read their windows from a space-to-batch split of the
 * input (one phase per stride offset), so that every window is a plain 4-D slice.
 */
function sumTaps(x: tf.Tensor4D, kernel: Pair, strides: Pair, dil: Pair, padding: string, tap: (w: tf.Tensor4D, a: number, b: number) => tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const [sh, sw] = strides;
  const [ho, pt, pb] = axis(h, kernel[0], sh, dil[0], padding);
  const [wo, pl, pr] = axis(w, kernel[1], sw, dil[1], padding);
  let window: (a: number, b: number) => tf.Tensor4D;
  if (sh === 1 && sw === 1) {
    const xp: tf.Tensor4D = pt + pb + pl + pr ? x.pad([[0, 0], [pt, pb], [pl, pr], [0, 0]]) : x;
    window = (a, b) => xp.slice([0, a * dil[0], b * dil[1], 0], [n, ho, wo, c]);
  } else {
    if (dil[0] !== 1 || dil[1] !== 1) throw new Error('strided convolutions cannot be dilated');
    // Rows a + s·i (i < ho) of the padded input are rows a//s + i of phase a%s.
    const hs = (ho + Math.floor((kernel[0] - 1) / sh)) * sh;
    const ws = (wo + Math.floor((kernel[1] - 1) / sw)) * sw;
    const xp: tf.Tensor4D = x.pad([[0, 0], [pt, Math.max(0, hs - h - pt)], [pl, Math.max(0, ws - w - pl)], [0, 0]]);
    const cropped = xp.shape[1] > hs || xp.shape[2] > ws ? xp.slice([0, 0, 0, 0], [n, hs, ws, c]) : xp;
    const phases = tf.spaceToBatchND(cropped, [sh, sw], [[0, 0], [0, 0]]) as tf.Tensor4D;
    window = (a, b) => phases.slice([((a % sh) * sw + (b % sw)) * n, Math.floor(a / sh), Math.floor(b / sw), 0], [n, ho, wo, c]);
  }
  let sum: tf.Tensor4D | undefined;
  for (let a = 0; a < kernel[0]; a++) {
    for (let b = 0; b < kernel[1]; b++) {
      const t = tap(window(a, b), a, b);
      sum = sum ? sum.add(t) : t;
    }
  }
  return sum!;
}

interface ConvLayer {
  kernel?: tf.LayerVariable; depthwiseKernel?: tf.LayerVariable; bias?: tf.LayerVariable;
  activation?: { apply(x: tf.Tensor): tf.Tensor };
}

/** Whether {@link applyTrainable} computes `layer` with tap sums. */
export const tapLayer = (layer: tf.layers.Layer) => /^(Conv2D|DepthwiseConv2D)$/.test(layer.getClassName());

/**
 * Applies a Conv2D or DepthwiseConv2D layer (channels last) with tap sums: same result as the layer,
 * differentiable with respect to its weights on every backend.
 */
export function applyTrainable(layer: tf.layers.Layer, x: tf.Tensor4D): tf.Tensor4D {
  const cfg = layer.getConfig() as Record<string, unknown>;
  const l = layer as unknown as ConvLayer;
  const strides = pair(cfg.strides, 1);
  const dil = pair(cfg.dilationRate, 1);
  const padding = cfg.padding as string;
  const depthwise = layer.getClassName() === 'DepthwiseConv2D';
  const k = (depthwise ? l.depthwiseKernel! : l.kernel!).read() as tf.Tensor4D;
  const [kh, kw, cin, m] = k.shape;
  let y = sumTaps(x, [kh, kw], strides, dil, padding, (win, a, b) => {
    const ka = k.slice([a, b, 0, 0], [1, 1, cin, m]).reshape([cin, m]);
    const [n, ho, wo] = win.shape;
    if (depthwise) return win.reshape([n, ho, wo, cin, 1]).mul(ka).reshape([n, ho, wo, cin * m]) as tf.Tensor4D;
    return win.reshape([n * ho * wo, cin]).matMul(ka).reshape([n, ho, wo, m]) as tf.Tensor4D;
  });
  if (cfg.useBias !== false && l.bias) y = y.add(l.bias.read());
  return (l.activation ? l.activation.apply(y) : y) as tf.Tensor4D;
}
