/**
 * Average Drop and Increase in Confidence (Chattopadhay et al., WACV 2018, Grad-CAM++ §5.1).
 *
 * "Masked by the map" here means: each pixel of the preprocessed input is scaled by the map towards
 * the `zero` baseline, `x' = m · x` (the map at input resolution, in [0, 1]); for a [-1, 1] model a
 * pixel with m = 0 becomes mid-grey. This is what pytorch-grad-cam's `CamMultImageConfidenceChange` does.
 * With Y the class probability on the image and O on the masked image:
 * Average Drop = mean over cases of `max(0, Y − O) / Y` (in %, lower is better);
 * Increase in Confidence = share of cases with `O > Y` (in %, higher is better).
 */
import * as tf from '@tensorflow/tfjs';
import type { ExplainableModel } from '../model/types.js';
import { classProbabilities, inputTensor, type MetricCase } from './common.js';

/** The class probability on each case's image and on its map-masked image. */
export interface ConfidenceScore {
  probability: number;
  maskedProbability: number;
}

/** Class probabilities before and after masking by the map, for every case (batched). */
export async function confidenceChange(model: ExplainableModel, cases: MetricCase[], batchSize = 16): Promise<ConfidenceScore[]> {
  const cls = (i: number) => cases[i % cases.length].classIndex;
  // First half: the images; second half: the masked images.
  const p = await classProbabilities(model, 2 * cases.length, (i) => {
    const c = cases[i % cases.length];
    const x = inputTensor(c);
    return i < cases.length ? x : x.mul(tf.tensor3d(c.map, [c.size[0], c.size[1], 1]));
  }, cls, batchSize);
  return cases.map((_, i) => ({ probability: p[i], maskedProbability: p[cases.length + i] }));
}

/** Average Drop (%) over cases. */
export function averageDrop(scores: ConfidenceScore[]): number {
  return (100 * scores.reduce((s, c) => s + Math.max(0, c.probability - c.maskedProbability) / c.probability, 0)) / scores.length;
}

/** Increase in Confidence (%): the share of cases whose masked image scores higher. */
export function increaseInConfidence(scores: ConfidenceScore[]): number {
  return (100 * scores.filter((c) => c.maskedProbability > c.probability).length) / scores.length;
}
