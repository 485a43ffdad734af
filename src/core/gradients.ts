/**
 * Gradient rules swapped in while the library differentiates, and restored afterwards, so the
 * user's other TF.js code never sees them.
 *
 * The wasm backend has no `DepthwiseConv2dNativeBackpropInput` kernel, so the input gradient of a
 * depthwise convolution (any MobileNet block after the explained layer, and guided backpropagation)
 * would otherwise need the slow cpu backend. It is a transposed depthwise convolution, which we
 * write with kernels wasm has: spread the output gradient by the stride, pad it, and correlate it
 * with the flipped filter using the forward depthwise convolution.
 */
import * as tf from '@tensorflow/tfjs';

/** Runs `fn` with `configs` registered as the gradients of their kernels, restoring the previous ones. */
export function withGradients<T>(configs: tf.GradConfig[], fn: () => T): T {
  const saved = configs.map((g) => tf.getGradient(g.kernelName));
  configs.forEach((g) => tf.registerGradient(g));
  try {
    return fn();
  } finally {
    saved.forEach((g) => g && tf.registerGradient(g));
  }
}

type ConvAttrs = { strides: [number, number] | number; pad: 'same' | 'valid' | number; dilations?: [number, number] | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };

/**
 * `∂L/∂x` of `y = depthwiseConv2d(x, filter)` from `dy`, with forward kernels only.
 * In 1-D: `dx[i] = Σ_t z[i + top − t]·f[t]` where `z` is `dy` spread by the stride (zeros between),
 * i.e. a correlation of `z`, padded by `k − 1 − top` in front, with the flipped filter.
 */
export function depthwiseInputGradient(dy: tf.Tensor4D, xShape: number[], filter: tf.Tensor4D, attrs: ConvAttrs): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw, c, mult] = filter.shape;
    const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], filter.shape, attrs.strides, 1,
      attrs.pad, attrs.dimRoundingMode, true);
    const [n, oh, ow] = dy.shape;
    const { strideHeight: sh, strideWidth: sw, padInfo } = info;
    let z: tf.Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      z = dy.reshape([n, oh, 1, ow, 1, c * mult]).pad([[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]])
        .reshape([n, oh * sh, ow * sw, c * mult]).slice([0, 0, 0, 0], [n, (oh - 1) * sh + 1, (ow - 1) * sw + 1, c * mult]) as tf.Tensor4D;
    }
    // Pad (or crop) so that a 'valid' correlation yields exactly the input's size.
    const before = [kh - 1 - padInfo.top, kw - 1 - padInfo.left];
    const after = [xShape[1] + kh - 1 - before[0] - z.shape[1], xShape[2] + kw - 1 - before[1] - z.shape[2]];
    z = z.pad([[0, 0], [Math.max(0, before[0]), Math.max(0, after[0])], [Math.max(0, before[1]), Math.max(0, after[1])], [0, 0]]);
    z = z.slice([0, Math.max(0, -before[0]), Math.max(0, -before[1]), 0], [n, xShape[1] + kh - 1, xShape[2] + kw - 1, c * mult]);
    const flipped = tf.reverse(filter, [0, 1]).reshape([kh, kw, c * mult, 1]) as tf.Tensor4D;
    const dx = tf.depthwiseConv2d(z, flipped, 1, 'valid');
    return (mult === 1 ? dx : dx.reshape([n, xShape[1], xShape[2], c, mult]).sum(4)) as tf.Tensor4D;
  });
}

const depthwiseOriginal = tf.getGradient('DepthwiseConv2dNative');

/** Gradient rules for kernels whose own input gradient is missing on wasm (filter gradients unchanged). */
export const WASM_SAFE_GRADIENTS: tf.GradConfig[] = [{
  kernelName: 'DepthwiseConv2dNative',
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as ConvAttrs;
    const dil = a.dilations ?? 1;
    const original = depthwiseOriginal.gradFunc(dy, saved, attrs);
    if ((Array.isArray(dil) ? dil : [dil, dil]).some((d) => d !== 1)) return original; // dilated: the native rule
    return { ...original, x: () => depthwiseInputGradient(dy as tf.Tensor4D, x.shape, filter, a) };
  },
}];
