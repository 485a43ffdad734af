/**
 * Maps for detections: the gradient of each detection's own score (its output cells) with respect to
 * a layer's activation, all detections of an image in one batched backward pass (row k of the batch
 * is the image's activation, scored by detection k), then the chosen method's map per row.
 */
import * as tf from '@tensorflow/tfjs';
import { WASM_SAFE_GRADIENTS, withGradients } from '../core/gradients.js';
import type { CamMethod } from '../core/method.js';
import { withCamKernels } from './kernels.js';
import type { ScoreCell } from './layouts.js';
import { cellScores } from './scores.js';

/** The part of a model split at a layer that the maps need. */
export interface HeadRun {
  activation: tf.Tensor4D;
  head(a: tf.Tensor4D, rows?: number[], only?: number[]): tf.Tensor[];
}

/** Raw maps `[K, h, w]` (before ReLU) at the layer's resolution, row-major, one per detection. */
export interface BoxMaps {
  raw: Float32Array;
  grid: [number, number];
  /** The detections' scores recomputed through the head (a check that the right cells are read). */
  scores: Float32Array;
}

/** The map of a gradient method from activations and gradients (the one place that knows the method interface). */
export function methodMap(method: CamMethod, a: tf.Tensor4D, g: tf.Tensor4D): tf.Tensor3D {
  return method.cam({
    activations: a, gradients: g, classes: [], rows: [], input: a, sign: 1, batchSize: a.shape[0],
    headScores: () => { throw new Error(`${method.name} needs forward passes; not available for detections yet`); },
    inputScores: () => { throw new Error(`${method.name} needs forward passes; not available for detections yet`); },
    model: undefined as never,
  }).cam;
}

/**
 * Maps for K detections of one image (`run.activation` has batch 1), in one backward pass, with the
 * kernels wasm lacks registered only meanwhile.
 */
export function boxMaps(run: HeadRun, cells: ScoreCell[][], method: CamMethod): BoxMaps {
  const K = cells.length;
  return withCamKernels(() => withGradients(WASM_SAFE_GRADIENTS, () => tf.tidy(() => {
    const a = run.activation;
    const rows = new Array<number>(K).fill(0);
    const A = (K === 1 ? a : tf.tile(a, [K, 1, 1, 1])) as tf.Tensor4D;
    let scores: tf.Tensor1D | undefined;
    const g = tf.grad((x: tf.Tensor) => {
      const s = cellScores(run.head(x as tf.Tensor4D, rows, [...new Set(cells.flat().map((c) => c.output))]), cells);
      scores = tf.keep(s.clone());
      return s.sum();
    })(A) as tf.Tensor4D;
    const cam = methodMap(method, A, g);
    const out = { raw: cam.dataSync() as Float32Array, grid: [cam.shape[1], cam.shape[2]] as [number, number], scores: scores!.dataSync() as Float32Array };
    scores!.dispose();
    return out;
  })));
}
