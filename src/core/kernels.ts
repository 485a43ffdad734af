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
 * registry is exactly as before, so a user's training never sees a zero filter gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { depthwiseInputGradient } from './gradients.js';

type Attrs = Record<string, unknown>;

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
  try {
    return fn();
  } finally {
    for (const name of added) tf.unregisterKernel(name, backend);
  }
}
