import imagenetLabels from './imagenet-labels.json' with { type: 'json' };
import { GradcamError, type FinalActivation } from './types.js';

/**
 * Number of classes of a classification output of shape `shape` (batch first): the last dimension
 * of a spatial map (`[N, h, w, K]`, segmentation), else the product of the non-batch dimensions
 * (`[N, K]`, or `[N, 1, 1, K]` as in the Keras MobileNets).
 */
export function classCount(shape: readonly (number | null)[]): number {
  const dims = shape.slice(1).map((d) => d ?? 1);
  if (dims.length === 3 && dims[0] * dims[1] > 1) return dims[2];
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Labels for `classes` outputs: the given ones, else ImageNet's for 1000 outputs, or for 1001 with
 * `background` first (TF-Hub / slim models), else `class 0`, `class 1`, …. A one-unit sigmoid output
 * is a binary classifier: two labels, `negative` and `positive` (or two given ones).
 */
export function labelsFor(classes: number, given?: string[], activation: FinalActivation = 'softmax'): string[] {
  const binary = classes === 1 && activation === 'sigmoid';
  if (given?.length) {
    if (given.length !== classes && !(binary && given.length === 2)) {
      throw new GradcamError(`the model has ${classes} outputs but ${given.length} labels were given`);
    }
    return given;
  }
  if (binary) return ['negative', 'positive'];
  if (classes === 1000) return imagenetLabels;
  if (classes === 1001) return ['background', ...imagenetLabels];
  return Array.from({ length: classes }, (_, i) => `class ${i}`);
}
