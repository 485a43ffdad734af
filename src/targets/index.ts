/**
 * Targets: which output a map explains. A target is a class index or a class name; the score
 * explained is that class's logit (pre-softmax), per batch row.
 */
import * as tf from '@tensorflow/tfjs';
import { GradcamError } from '../model/types.js';

/** A class to explain: its index, or its name (a whole label or one of its comma-separated synonyms, any case). */
export type TargetSpec = number | string;

const synonyms = (label: string) => label.toLowerCase().split(',').map((s) => s.trim());

/** Resolves a {@link TargetSpec} to a class index, or throws a {@link GradcamError} saying what is valid. */
export function resolveClass(spec: TargetSpec, labels: string[]): number {
  const n = labels.length;
  if (typeof spec === 'number' || /^\d+$/.test(spec.trim())) {
    const i = Number(spec);
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new GradcamError(`class index ${spec} is out of range: valid indices are 0–${n - 1}`);
    return i;
  }
  const q = spec.trim().toLowerCase();
  const exact = labels.map((l, i) => [l, i] as const).filter(([l]) => l.toLowerCase() === q);
  if (exact.length === 1) return exact[0][1];
  const syn = labels.map((l, i) => [l, i] as const).filter(([l]) => synonyms(l).includes(q));
  if (syn.length === 1) return syn[0][1];
  if (syn.length > 1) {
    throw new GradcamError(`class name '${spec}' is ambiguous: ${syn.map(([l, i]) => `${i} "${l}"`).join(', ')}; pass the index`);
  }
  const near = labels.map((l, i) => [l, i] as const).filter(([l]) => l.toLowerCase().includes(q)).slice(0, 8);
  const hint = near.length
    ? `did you mean ${near.map(([l, i]) => `${i} "${l}"`).join(', ')}?`
    : `valid names are the model's labels (e.g. "${labels[0]}"), or an index 0–${n - 1}`;
  throw new GradcamError(`unknown class '${spec}': ${hint}`);
}

/** Indices of the `k` largest values. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  return Array.from(values, (v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, i]) => i);
}

/** The score explained for row m: `logits[m, classes[m]]`, times `sign` (−1 for counterfactuals). */
export function classScores(logits: tf.Tensor2D, classes: number[], sign = 1): tf.Tensor1D {
  return tf.tidy(() => {
    const mask = tf.oneHot(tf.tensor1d(classes, 'int32'), logits.shape[1]).toFloat();
    return logits.mul(mask).sum(1).mul(sign) as tf.Tensor1D;
  });
}
