/**
 * Evaluating explanations: every metric for every method, and for the baselines, on a set of images.
 * Which class is evaluated per image: `targets` if given; else each class its boxes name (an exact
 * label, a class index, or a group, explained as the group's top-scoring member); else the top-1 class.
 */
import { batchLogits, explainWith } from '../core/explain.js';
import { preprocess, type ImageInput } from '../core/image.js';
import type { CamMethod } from '../core/method.js';
import { resolveMethod } from '../explain.js';
import { GradcamError, type ExplainableModel } from '../model/types.js';
import { resolveClass, topK } from '../targets/index.js';
import type { ImageExplanation } from '../core/types.js';
import { centreBaseline, randomBaseline } from './baselines.js';
import { inputMap, mean, type MetricCase } from './common.js';
import { averageDrop, confidenceChange, increaseInConfidence } from './confidence.js';
import { deletionInsertion, type DeletionOptions } from './deletion.js';
import { energyInBoxes, pointingHit, type Box } from './pointing.js';
import { road, ROAD_PERCENTAGES, type RoadOptions } from './road.js';

/** Metric families. */
export type MetricName = 'confidence' | 'deletion' | 'road' | 'pointing';
/** Every metric family, in report order (the default of {@link EvaluateOptions.metrics}). */
export const METRICS: MetricName[] = ['confidence', 'deletion', 'road', 'pointing'];

/** An image to evaluate on, with optional ground-truth boxes by class (label, index or group name). */
export interface EvalImage {
  image: ImageInput;
  /** Shown in reports (e.g. the file name). */
  name?: string;
  boxes?: Record<string, Box[]>;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Methods (names or custom methods); default `['gradcam']`. */
  methods?: (string | CamMethod)[];
  /** Classes to evaluate for every image (indices or names; default: the boxes' classes, else the top-1 class). */
  targets?: (number | string)[];
  /** Named groups of class indices that box keys may use, e.g. `{ dog: [151, …, 268] }`. */
  groups?: Record<string, number[]>;
  /** Also evaluate the random and centre-Gaussian baselines (default true). */
  baselines?: boolean;
  /** Metric families to compute (default all; `pointing` needs boxes). */
  metrics?: MetricName[];
  layer?: string;
  /** Images per explain batch and per forward pass of the metrics (default 8 and 16). */
  batchSize?: number;
  deletion?: DeletionOptions;
  road?: RoadOptions;
  /** Pointing-game tolerance in original-image pixels (default 15). */
  tolerance?: number;
  /** Seed of the random baseline (default 0). */
  seed?: number;
  /**
   * Explanations already computed with `methods[0]` (one per image; each target is a case): used as
   * they are instead of explaining again (how `audit` scores the maps it shows).
   */
  explained?: ImageExplanation[];
  /** Called with a one-line warning (e.g. a fallback to the cpu backend). */
  onWarning?: (message: string) => void;
  /** Called after each method with the number of methods done. */
  onProgress?: (done: number, total: number, method: string) => void;
}

/** The scores of one (image, class) map. */
export interface CaseResult {
  image: number;
  name?: string;
  classIndex: number;
  className: string;
  probability: number;
  maskedProbability?: number;
  deletion?: number[];
  insertion?: number[];
  deletionAuc?: number;
  insertionAuc?: number;
  roadMorf?: number[];
  roadLerf?: number[];
  road?: number;
  peak: { x: number; y: number } | null;
  /** Pointing game and energy, when the image has boxes for the class. */
  pointingHit?: boolean;
  energy?: number;
}

/** One method's (or baseline's) scores over all cases. */
export interface MethodResult {
  method: string;
  title: string;
  baseline: boolean;
  /** Average Drop, % (lower is better). */
  averageDrop?: number;
  /** Increase in Confidence, % (higher is better). */
  increaseInConfidence?: number;
  /** Mean deletion AUC (lower is better) and insertion AUC (higher is better). */
  deletionAuc?: number;
  insertionAuc?: number;
  /** Mean curves over cases. */
  deletionCurve?: number[];
  insertionCurve?: number[];
  /** Mean ROAD combined score (higher is better) and mean MoRF/LeRF curves. */
  road?: number;
  roadMorf?: number[];
  roadLerf?: number[];
  pointingGame?: { hits: number; total: number };
  /** Mean share of map mass inside the boxes. */
  energy?: number;
  cases: CaseResult[];
}

/** The result of {@link evaluate}. */
export interface EvalResult {
  layer: string;
  images: number;
  steps: number;
  roadPercentages: number[];
  methods: MethodResult[];
}

/** The classes to evaluate for one image, each with the boxes that belong to it. */
function classesFor(
  model: ExplainableModel, img: EvalImage, logits: Float32Array, opts: EvaluateOptions,
): { cls: number; boxes?: Box[] }[] {
  const byKey = Object.entries(img.boxes ?? {}).map(([key, boxes]) => {
    const group = opts.groups?.[key];
    if (group) {
      if (!group.length || group.some((i) => !Number.isInteger(i) || i < 0 || i >= logits.length)) {
        throw new GradcamError(`group '${key}' must list class indices 0–${logits.length - 1}`);
      }
      return { cls: group.reduce((a, b) => (logits[b] > logits[a] ? b : a)), members: group, boxes };
    }
    const cls = resolveClass(key, model.labels);
    return { cls, members: [cls], boxes };
  });
  const boxesOf = (cls: number) => {
    const own = byKey.filter((k) => k.members.includes(cls));
    return own.length ? own.flatMap((k) => k.boxes) : undefined;
  };
  const classes = opts.targets?.length
    ? opts.targets.map((t) => resolveClass(t, model.labels))
    : byKey.length ? byKey.map((k) => k.cls) : topK(logits, 1);
  return [...new Set(classes)].map((cls) => ({ cls, boxes: boxesOf(cls) }));
}

const meanCurve = (curves: number[][]) => curves[0]?.map((_, i) => mean(curves.map((c) => c[i])));

/**
 * Computes the faithfulness metrics (Average Drop / Increase in Confidence, Deletion / Insertion,
 * ROAD) and, for images with boxes, the pointing game, for every method and the baselines.
 * @example
 * ```ts
 * const result = await evaluate(model, [{ image, boxes: { 'tiger cat': [[20, 200, 400, 470]] } }], { methods: ['gradcam', 'gradcam++'] });
 * console.log(result.methods.map((m) => [m.method, m.deletionAuc]));
 * ```
 */
export async function evaluate(model: ExplainableModel, images: EvalImage[], opts: EvaluateOptions = {}): Promise<EvalResult> {
  const metrics = new Set(opts.metrics ?? METRICS);
  const layer = model.resolveLayer(opts.layer);
  const list = [
    ...(opts.methods ?? ['gradcam']).map((m) => ({ method: resolveMethod(m), baseline: false })),
    ...(opts.baselines === false ? [] : [randomBaseline(opts.seed ?? 0), centreBaseline].map((method) => ({ method, baseline: true }))),
  ];
  const size = model.preprocessing.size;
  const prepared: { input: Float32Array; targets: { cls: number; boxes?: Box[] }[] }[] = [];
  for (const [i, img] of images.entries()) {
    const x = preprocess(img.image, model.preprocessing);
    const input = (await x.data()) as Float32Array;
    x.dispose();
    const given = opts.explained?.[i];
    const logits = given ? undefined : (await batchLogits(model, [img.image])).logits;
    prepared.push({ input, targets: given ? given.targets.map((t) => ({ cls: t.classIndex })) : classesFor(model, img, logits!, opts) });
  }
  const batch = opts.batchSize ?? 8;
  const forward = Math.max(batch, 16);
  const methods: MethodResult[] = [];
  for (const [done, { method, baseline }] of list.entries()) {
    const explained = done === 0 && opts.explained ? opts.explained : await explainWith(model, images.map((i) => i.image), method, {
      layer, targets: prepared.map((p) => p.targets.map((t) => t.cls)), top: 0, batchSize: batch, onWarning: opts.onWarning,
    });
    const cases: CaseResult[] = [];
    const metricCases: MetricCase[] = [];
    explained.forEach((r, i) => r.targets.forEach((t, k) => {
      const boxes = prepared[i].targets[k].boxes;
      cases.push({
        image: i, name: images[i].name, classIndex: t.classIndex, className: t.className, probability: t.probability, peak: t.peak,
        ...(boxes && metrics.has('pointing') ? { pointingHit: pointingHit(t.peak, boxes, opts.tolerance), energy: energyInBoxes(t.heatmap, boxes) } : {}),
      });
      metricCases.push({ input: prepared[i].input, size, classIndex: t.classIndex, map: inputMap(t.cam, size) });
    }));
    const out: MethodResult = { method: method.name, title: method.title, baseline, cases };
    if (metrics.has('confidence')) {
      const conf = await confidenceChange(model, metricCases, forward);
      conf.forEach((c, i) => { cases[i].maskedProbability = c.maskedProbability; });
      Object.assign(out, { averageDrop: averageDrop(conf), increaseInConfidence: increaseInConfidence(conf) });
    }
    if (metrics.has('deletion')) {
      const del = await deletionInsertion(model, metricCases, { batchSize: forward, ...opts.deletion });
      del.forEach((d, i) => Object.assign(cases[i], d));
      Object.assign(out, {
        deletionAuc: mean(del.map((d) => d.deletionAuc)), insertionAuc: mean(del.map((d) => d.insertionAuc)),
        deletionCurve: meanCurve(del.map((d) => d.deletion)), insertionCurve: meanCurve(del.map((d) => d.insertion)),
      });
    }
    if (metrics.has('road')) {
      const rd = await road(model, metricCases, { batchSize: forward, seed: opts.seed, ...opts.road });
      rd.forEach((d, i) => Object.assign(cases[i], { roadMorf: d.morf, roadLerf: d.lerf, road: d.road }));
      Object.assign(out, { road: mean(rd.map((d) => d.road)), roadMorf: meanCurve(rd.map((d) => d.morf)), roadLerf: meanCurve(rd.map((d) => d.lerf)) });
    }
    const boxed = cases.filter((c) => c.pointingHit !== undefined);
    if (boxed.length) {
      out.pointingGame = { hits: boxed.filter((c) => c.pointingHit).length, total: boxed.length };
      out.energy = mean(boxed.map((c) => c.energy!));
    }
    methods.push(out);
    opts.onProgress?.(done + 1, list.length, method.name);
  }
  return {
    layer, images: images.length, steps: Math.max(1, opts.deletion?.steps ?? 50),
    roadPercentages: opts.road?.percentages ?? ROAD_PERCENTAGES, methods,
  };
}
