/** Differentiable detection scores: each detection's own output cells, read from a batch of outputs. */
import * as tf from '@tensorflow/tfjs';
import type { ScoreCell } from './layouts.js';

/**
 * Score of detection k on row k: `Π_cells outputs[cell.output][k, ...cell.index]` (`[K]`).
 * Read with slices (their gradient is a pad, which every backend has; a gather's needs
 * UnsortedSegmentSum, which wasm lacks).
 */
export function cellScores(outputs: tf.Tensor[], cells: ScoreCell[][]): tf.Tensor1D {
  return tf.tidy(() => {
    const per = cells.map((cs, k) => {
      let s: tf.Tensor | undefined;
      for (const c of cs) {
        const t = outputs[c.output];
        const v = t.slice([k, ...c.index], new Array(t.rank).fill(1)).reshape([1]);
        s = s ? s.mul(v) : v;
      }
      return s ?? tf.zeros([1]);
    });
    return tf.concat(per) as tf.Tensor1D;
  });
}
