import type { Grid, ImageExplanation } from '../core/types.js';

/** One explained target in the JSON report. */
export interface TargetJson {
  /** The target's description, e.g. `class 282 "tiger cat"`, `contrast 282 "tiger cat" − 243 "bull mastiff"`. */
  target: string;
  /** The target's score on the image (what was explained). */
  score: number;
  /** The class, logit and probability, for targets about a class. */
  classIndex?: number;
  className?: string;
  logit?: number;
  probability?: number;
  /** rows × cols map at the layer's resolution, normalised to [0, 1]. */
  cam: number[][];
  /** Argmax of the upsampled map in original-image pixels (null: no positive evidence). */
  peak: { x: number; y: number } | null;
  noEvidence: boolean;
  /** Channel weights, for methods that have them. */
  weights?: number[];
}

/** The JSON report of one image, as the CLI writes it (`<out>/<stem>.json`) and the web app offers it. */
export interface ExplanationJson {
  image: string;
  width: number;
  height: number;
  model: string;
  method: string;
  layer: string;
  /** With several layers: each one (the maps are fused). */
  layers?: string[];
  backend: string;
  predictions: { classIndex: number; className: string; logit: number; probability: number }[];
  targets: TargetJson[];
}

const round = (v: number, digits = 6) => Number(v.toFixed(digits));

/** A grid as rows of numbers. */
export function gridRows(g: Grid, digits = 6): number[][] {
  return Array.from({ length: g.height }, (_, r) => Array.from(g.data.subarray(r * g.width, (r + 1) * g.width), (v) => round(v, digits)));
}

/** Converts an explanation to its JSON report. */
export function toJson(result: ImageExplanation, image: string, model: string, withWeights = false): ExplanationJson {
  return {
    image,
    width: result.width,
    height: result.height,
    model,
    method: result.method,
    layer: result.layer,
    ...(result.layers.length > 1 ? { layers: result.layers } : {}),
    backend: result.backend,
    predictions: result.predictions.map(({ classIndex, className, logit, probability }) => ({ classIndex, className, logit: round(logit), probability: round(probability) })),
    targets: result.targets.map((t) => ({
      target: t.target,
      score: round(t.score),
      ...(t.classIndex >= 0 ? { classIndex: t.classIndex, className: t.className, logit: round(t.logit), probability: round(t.probability) } : {}),
      cam: gridRows(t.cam),
      peak: t.peak,
      noEvidence: t.noEvidence,
      ...(withWeights && t.weights ? { weights: Array.from(t.weights, (v) => round(v, 8)) } : {}),
    })),
  };
}
