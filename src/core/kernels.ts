/**
 * Kernels a detector's backward pass asks for that the wasm backend lacks, registered only while a
 * CAM is computed and unregistered afterwards.
 *
 * Fused convolutions with a linear activation (`_FusedConv2D` with BiasAdd, `FusedDepthwiseConv2dNative`)
 * stay fused under `tf.grad`, and their custom gradient computes the filter gradient eagerly, even
 * though a CAM differentiates with respect to an activation only and never uses it. While we
 * differentiate, `Conv2DBackpropFilter` and `DepthwiseConv2dNativeBackpropFilter` return zeros (no
 * work), and `DepthwiseConv2dNativeBackpropInput` — needed, and absent on wasm — is a transposed
 * depthwise convolution written with forward kernels (`core/gradients.ts`). Outside the scope the
 * registry is exactly as before, so a user's training never sees a zero filter gradient. Meanwhile
 * wasm's own `Conv2DBackpropInput` (a plain loop, most of a detector's backward time) is also replaced
 * by the equivalent forward convolution.
 */
import * as tf from '@tensorflow/tfjs';
import { depthwiseInputGradient } from './gradients.js';

type Attrs = Record<string, unknown>;
type ConvAttrs = { inputShape: number[]; strides: [number, number] | number; pad: 'same' | 'valid' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };

/**
 * `∂L/∂x` of `y = conv2d(x, filter)` from `dy` with the forward convolution (which wasm runs through
 * XNNPACK, ~10× faster than its own Conv2DBackpropInput): `dy` spread by the stride, padded, correlated
 * with the filter flipped in space and transposed in channels.
 */
export function convInputGradient(dy: tf.Tensor4D, filter: tf.Tensor4D, a: ConvAttrs): tf.Tensor4D {
  return tf.tidy(() => {
    const xShape = a.inputShape as [number, number, number, number];
    const [kh, kw] = filter.shape;
    const info = tf.backend_util.computeConv2DInfo(xShape, filter.shape, a.strides, 1, a.pad, a.dimRoundingMode);
    const [n, oh, ow, co] = dy.shape;
    const { strideHeight: sh, strideWidth: sw, padInfo } = info;
    let z: tf.Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      z = dy.reshape([n, oh, 1, ow, 1, co]).pad([[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]])
        .reshape([n, oh * sh, ow * sw, co]).slice([0, 0, 0, 0], [n, (oh - 1) * sh + 1, (ow - 1) * sw + 1, co]) as tf.Tensor4D;
    }
    const before = [kh - 1 - padInfo.top, kw - 1 - padInfo.left];
    const after = [xShape[1] + kh - 1 - before[0] - z.shape[1], xShape[2] + kw - 1 - before[1] - z.shape[2]];
    if (before.some((v) => v) || after.some((v) => v)) {
      z = z.pad([[0, 0], [Math.max(0, before[0]), Math.max(0, after[0])], [Math.max(0, before[1]), Math.max(0, after[1])], [0, 0]]);
      z = z.slice([0, Math.max(0, -before[0]), Math.max(0, -before[1]), 0], [n, xShape[1] + kh - 1, xShape[2] + kw - 1, co]);
    }
    const flipped = (kh > 1 || kw > 1 ? tf.reverse(filter, [0, 1]) : filter).transpose([0, 1, 3, 2]) as tf.Tensor4D;
    return tf.conv2d(z, flipped, 1, 'valid');
  });
}


const zeros = ({ attrs }: { attrs?: Attrs }) => tf.zeros((attrs as { filterShape: number[] }).filterShape);

/** The kernels, by name: each returns a Tensor computed with ops the backend has. */
const KERNELS: Record<string, (args: { inputs: tf.NamedTensorMap; attrs?: Attrs }) => tf.Tensor> = {
  Conv2DBackpropFilter: zeros,
  DepthwiseConv2dNativeBackpropFilter: zeros,
  DepthwiseConv2dNativeBackpropInput: ({ inputs, attrs }) => {
    const a = attrs as { inputShape: number[]; strides: [number, number]; pad: 'same' | 'valid' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
    return depthwiseInputGradient(inputs.dy as tf.Tensor4D, a.inputShape, inputs.filter as tf.Tensor4D, a);
  },
};

/** Names of the kernels {@link withCamKernels} registers on `backend` (those it lacks). */
export function missingCamKernels(backend = tf.getBackend()): string[] {
  return Object.keys(KERNELS).filter((k) => !tf.getKernel(k, backend));
}

/** Kernels wasm has but runs slowly, replaced meanwhile by forward-kernel versions. */
const FASTER: Record<string, Record<string, (args: { inputs: tf.NamedTensorMap; attrs?: Attrs }) => tf.Tensor>> = {
  wasm: {
    Conv2DBackpropInput: ({ inputs, attrs }) => convInputGradient(inputs.dy as tf.Tensor4D, inputs.filter as tf.Tensor4D, attrs as unknown as ConvAttrs),
  },
};

/**
 * Runs the synchronous `fn` with the kernels above registered on the current backend where it lacks
 * them, and unregisters them afterwards (also when `fn` throws).
 */
export function withCamKernels<T>(fn: () => T): T {
  const backend = tf.getBackend();
  const added = missingCamKernels(backend);
  for (const name of added) {
    tf.registerKernel({ kernelName: name, backendName: backend, kernelFunc: KERNELS[name] as unknown as tf.KernelFunc });
  }
  const replaced = Object.entries(FASTER[backend] ?? {}).map(([name, kernelFunc]) => {
    const original = tf.getKernel(name, backend);
    if (original) tf.unregisterKernel(name, backend);
    tf.registerKernel({ kernelName: name, backendName: backend, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
    return { name, original };
  });
  try {
    return fn();
  } finally {
    for (const name of added) tf.unregisterKernel(name, backend);
    for (const { name, original } of replaced) {
      tf.unregisterKernel(name, backend);
      if (original) tf.registerKernel(original);
    }
  }
}
