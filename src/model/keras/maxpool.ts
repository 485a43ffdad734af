/**
 * 2-D max pooling whose gradient goes to one position per window, as in TensorFlow (and the
 * TF.js cpu backend): the first maximum in row-major window order. The wasm backend's
 * `MaxPoolGrad` gives it to every tied maximum instead; after a ReLU many windows are all zero, and
 * the copies change Grad-CAM maps (Pearson 0.34–0.97 against TensorFlow on the shared Keras models).
 * Written with forward kernels every backend has (strided slices, argMax, oneHot, pad).
 */
import * as tf from '@tensorflow/tfjs';

type Pad = 'valid' | 'same';

/** `∂L/∂x` of `maxPool(x)` for `dy`, each window's gradient to its first maximum. */
export function maxPoolGradFirst(dy: tf.Tensor4D, x: tf.Tensor4D, pool: [number, number], strides: [number, number], padding: Pad): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computePool2DInfo(x.shape, pool, strides, 1, padding);
    const { top, left, bottom, right } = info.padInfo;
    const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw, filterHeight: ph, filterWidth: pw } = info;
    const [n, H, W, c] = x.shape;
    const xp = top || left || bottom || right ? tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], -Infinity) : x;
    const [Hp, Wp] = [xp.shape[1], xp.shape[2]];
    const spanH = (oh - 1) * sh + 1;
    const spanW = (ow - 1) * sw + 1;
    const windows: tf.Tensor4D[] = [];
    for (let dh = 0; dh < ph; dh++) {
      for (let dw = 0; dw < pw; dw++) {
        windows.push(tf.stridedSlice(xp, [0, dh, dw, 0], [n, dh + spanH, dw + spanW, c], [1, sh, sw, 1]) as tf.Tensor4D);
      }
    }
    const K = ph * pw;
    let routed: tf.Tensor = dy.expandDims(4);
    if (K > 1) {
      const first = tf.argMax(tf.stack(windows, 4), 4); // [n, oh, ow, c]: index of the first maximum
      routed = tf.oneHot(first.reshape([-1]), K).reshape([n, oh, ow, c, K]).toFloat().mul(routed);
    }
    const parts = tf.unstack(routed, 4) as tf.Tensor4D[];
    let dxp: tf.Tensor4D | undefined;
    parts.forEach((g, k) => {
      const dh = Math.floor(k / pw);
      const dw = k % pw;
      let z: tf.Tensor4D = g;
      if (sh > 1 || sw > 1) {
        z = g.reshape([n, oh, 1, ow, 1, c]).pad([[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]])
          .reshape([n, oh * sh, ow * sw, c]).slice([0, 0, 0, 0], [n, spanH, spanW, c]) as tf.Tensor4D;
      }
      const placed = z.pad([[0, 0], [dh, Hp - dh - spanH], [dw, Wp - dw - spanW], [0, 0]]) as tf.Tensor4D;
      dxp = dxp ? dxp.add(placed) : placed;
    });
    return (xp === x ? dxp! : dxp!.slice([0, top, left, 0], [n, H, W, c])) as tf.Tensor4D;
  });
}

/** `tf.maxPool` with the one-position gradient of {@link maxPoolGradFirst}. */
export function maxPool2d(x: tf.Tensor4D, pool: [number, number], strides: [number, number], padding: Pad): tf.Tensor4D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    save([xi]);
    return {
      value: tf.maxPool(xi, pool, strides, padding),
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => maxPoolGradFirst(dy, saved[0] as tf.Tensor4D, pool, strides, padding),
    };
  });
  return f(x) as tf.Tensor4D;
}
