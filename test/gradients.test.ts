/** The wasm-safe depthwise input gradient equals TF.js's own kernel (cpu) for strides, paddings and multipliers. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { depthwiseInputGradient, WASM_SAFE_GRADIENTS, withGradients } from '../src/core/gradients.js';
import { initBackend } from '../src/node/backend.js';
import { explain } from '../src/index.js';
import { loadModel } from '../src/node/load.js';
import { MODEL_025, referenceInput } from './helpers.js';

describe('depthwise convolution input gradient from forward kernels', () => {
  type Shape4 = [number, number, number, number];
  const cases: [Shape4, Shape4, number, 'same' | 'valid'][] = [
    [[2, 7, 7, 3], [3, 3, 3, 1], 1, 'same'],
    [[1, 8, 8, 4], [3, 3, 4, 1], 2, 'same'],
    [[1, 9, 9, 4], [3, 3, 4, 1], 2, 'same'],
    [[1, 9, 10, 2], [3, 3, 2, 2], 2, 'valid'],
    [[1, 11, 11, 2], [5, 5, 2, 1], 3, 'valid'],
    [[1, 6, 6, 2], [1, 1, 2, 1], 2, 'same'],
  ];
  it.each(cases)('x %j, filter %j, stride %i, %s', async (xShape, fShape, stride, pad) => {
    await initBackend('cpu');
    tf.tidy(() => {
      const x = tf.randomNormal(xShape, 0, 1, 'float32', 1) as tf.Tensor4D;
      const f = tf.randomNormal(fShape, 0, 1, 'float32', 2) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x, f, stride, pad);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
      const native = tf.grad((xi) => tf.depthwiseConv2d(xi as tf.Tensor4D, f, stride, pad).mul(dy).sum())(x);
      const ours = depthwiseInputGradient(dy, x.shape, f, { strides: stride, pad });
      expect(ours.shape).toEqual(native.shape);
      expect(tf.max(tf.abs(ours.sub(native))).dataSync()[0]).toBeLessThan(1e-4);
    });
  });

  it('lets wasm differentiate through depthwise convolutions, and restores the native rule', async () => {
    await initBackend('wasm');
    const x = tf.randomNormal([1, 8, 8, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
    const f = tf.randomNormal([3, 3, 4, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    const loss = (xi: tf.Tensor) => tf.depthwiseConv2d(xi as tf.Tensor4D, f, 2, 'same').square().sum();
    expect(() => tf.tidy(() => tf.grad(loss)(x))).toThrow(/DepthwiseConv2dNativeBackpropInput/);
    const before = tf.memory().numTensors;
    const g = withGradients(WASM_SAFE_GRADIENTS, () => tf.tidy(() => tf.grad(loss)(x).dataSync()));
    expect(tf.memory().numTensors).toBe(before);
    await initBackend('cpu');
    const expected = tf.tidy(() => tf.grad(loss)(x).dataSync());
    g.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
    await initBackend('wasm');
    expect(() => tf.tidy(() => tf.grad(loss)(x))).toThrow(/DepthwiseConv2dNativeBackpropInput/);
    tf.dispose([x, f]);
  });

  it('explains a layer before depthwise blocks on wasm itself, matching cpu', async () => {
    await initBackend('wasm');
    const m = await loadModel(MODEL_025);
    const img = referenceInput('cat_dog');
    const warnings: string[] = [];
    const [onWasm] = await explain(m, [img], { targets: [282, 243], layer: 'conv_pw_9_relu', onWarning: (w) => warnings.push(w) });
    expect(onWasm.backend).toBe('wasm');
    expect(warnings).toEqual([]);
    await initBackend('cpu');
    const [onCpu] = await explain(m, [img], { targets: [282, 243], layer: 'conv_pw_9_relu' });
    for (const k of [0, 1]) {
      const a = onWasm.targets[k].cam.data;
      const b = onCpu.targets[k].cam.data;
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-3);
    }
    m.dispose();
    await initBackend('wasm');
  });
});
