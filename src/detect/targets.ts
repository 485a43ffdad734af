/**
 * Detection targets: a detection's own score — the output cell(s) it was decoded from — as a
 * differentiable function of the model's outputs, usable in `explain` like any target.
 */
import * as tf from '@tensorflow/tfjs';
import { GradcamError, type ExplainableModel } from '../model/types.js';
import type { Target, TargetSpec } from '../targets/index.js';
import type { ScoreCell } from './layouts.js';
import { recogniseLayout } from './layouts.js';

/** A target that explains one detection (marked so that `explain` can tell detection targets apart). */
export interface DetectionTarget extends Target {
  readonly detection: { classIndex: number; className: string; score: number; box: [number, number, number, number]; cells: ScoreCell[] };
}

/**
 * The target of one detection: per row, the product of its cells (`outputs[cell.output][row, ...index]`),
 * read with slices (a gather's gradient needs UnsortedSegmentSum, which wasm lacks). `sigmoidOutput0`:
 * the model's output 0 is pre-sigmoid (its final sigmoid stripped), so cells of output 0 get it back.
 */
export function detectionTarget(
  d: { classIndex: number; className: string; score: number; box: [number, number, number, number]; cells: ScoreCell[] },
  opts: { index?: number; sigmoidOutput0?: boolean } = {},
): DetectionTarget {
  const box = d.box.map((v) => Math.round(v)).join(', ');
  return {
    name: `detection${opts.index !== undefined ? ` ${opts.index}` : ''} "${d.className}" ${d.score.toFixed(2)} [${box}]`,
    detection: d,
    score: (outputs) => tf.tidy(() => {
      let s: tf.Tensor | undefined;
      for (const c of d.cells) {
        const t = outputs[c.output];
        if (!t) throw new GradcamError(`detection target reads output ${c.output}, but the model has ${outputs.length} outputs`);
        let v = t.slice([0, ...c.index], [-1, ...c.index.map(() => 1)]).reshape([-1]);
        if (c.output === 0 && opts.sigmoidOutput0) v = tf.sigmoid(v);
        s = s ? s.mul(v) : v;
      }
      return s as tf.Tensor1D;
    }),
  };
}

/** Whether a target spec is a detection target. */
export const isDetectionTarget = (t: TargetSpec): t is DetectionTarget => typeof t === 'object' && t !== null && 'detection' in t;

/**
 * Throws when `model` is an object detector and none of `targets` is a detection target: a class
 * target means nothing for a detector's outputs (`explain` would explain a box-extent channel).
 */
export function assertDetectionTargets(model: ExplainableModel, targets: TargetSpec[] | TargetSpec[][] | undefined): void {
  const flat = (targets ?? []).flat() as TargetSpec[];
  if (flat.some(isDetectionTarget)) return;
  const layout = recogniseLayout(model.outputs, model.preprocessing.size);
  if (layout) {
    throw new GradcamError(`${model.name} is an object detector (${layout.layout} outputs): use \`detect\` (CLI: gradcam detect) for boxes and a map per box, or pass detection targets to explain`);
  }
}
