/** Reading a model's output 0 as class scores: logits per class, probabilities, top-k predictions. */
import * as tf from '@tensorflow/tfjs';
import type { ExplainableModel } from '../model/types.js';
import { classScores, topK } from '../targets/index.js';
import type { Prediction } from './types.js';

/**
 * Output 0 as class logits `[N, K]`: flattened; a one-unit sigmoid output as `[−z, z]` (labels
 * negative, positive); a segmentation map (`[N, h, w, K]` or `[N, K, h, w]`) averaged over pixels.
 */
export function classLogits(model: Pick<ExplainableModel, 'activation' | 'labels'>, y: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => {
    const flat = classScores(y);
    if (flat.shape[1] === 1 && model.activation === 'sigmoid' && model.labels.length === 2) return tf.concat([flat.neg(), flat], 1);
    return flat;
  });
}

/** Probabilities of one row of class logits: softmax, or per-class sigmoid for sigmoid models. */
export function probabilities(model: Pick<ExplainableModel, 'activation'>, logits: Float32Array): Float32Array {
  if (model.activation === 'sigmoid') return logits.map((v) => 1 / (1 + Math.exp(-v)));
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  const p = new Float32Array(logits.length);
  for (let i = 0; i < p.length; i++) sum += p[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < p.length; i++) p[i] /= sum;
  return p;
}

/** The prediction of class `c` from one row of class logits and its probabilities. */
export function prediction(model: Pick<ExplainableModel, 'labels'>, logits: Float32Array, probs: Float32Array, c: number): Prediction {
  return { classIndex: c, className: model.labels[c] ?? `class ${c}`, logit: logits[c], probability: probs[c] };
}

/** The top-k predictions of one row of class logits. */
export function topPredictions(model: Pick<ExplainableModel, 'labels' | 'activation'>, logits: Float32Array, k: number): Prediction[] {
  const probs = probabilities(model, logits);
  return topK(logits, k).map((c) => prediction(model, logits, probs, c));
}
