/** The result types of `explain` and `classify`, shared by the core, the renderers, metrics and the CLI. */
import type { Target } from '../targets/index.js';

/** A single-channel float map, row-major. */
export interface Grid {
  data: Float32Array;
  width: number;
  height: number;
}

/** A class prediction. */
export interface Prediction {
  classIndex: number;
  className: string;
  /** Pre-activation score. */
  logit: number;
  /** Softmax of the logits (sigmoid of the logit for sigmoid models). */
  probability: number;
}

/** One layer's map of a target (with several layers, each is fused into the target's `heatmap`). */
export interface LayerMap {
  layer: string;
  /** The map at the layer's resolution, after ReLU, min–max normalised to [0, 1]. */
  cam: Grid;
  /** The method's raw map at the layer's resolution, before ReLU (raw scale). */
  rawCam: Grid;
  /** Channel weights, for methods that have them. */
  weights?: Float32Array;
}

/**
 * The explanation of one target in one image. For a target without a class (`output:`, `similar:`,
 * a custom target without `classIndex`) `classIndex` is −1, `className` the target's name, `logit`
 * its score and `probability` NaN.
 */
export interface TargetExplanation extends Prediction, LayerMap {
  /** The target's one-line description, e.g. `class 282 "tiger cat"`, `contrast 282 − 243`. */
  target: string;
  /** The target's score on the image (what was explained). */
  score: number;
  /** The target object that was explained. */
  explained: Target;
  /** `cam` upsampled (bilinear, half-pixel centres) to the original image and renormalised to [0, 1]; with several layers, the renormalised mean of every layer's. */
  heatmap: Grid;
  /** Argmax of `heatmap` in original-image pixels; null when there is no positive evidence. */
  peak: { x: number; y: number } | null;
  /** True when the map is zero everywhere after ReLU (no positive evidence for the target at any explained layer). */
  noEvidence: boolean;
  /** With several layers: each layer's map (`cam`/`rawCam`/`weights` above are then the fused map at the finest layer's resolution, and the first layer's raw map and weights). */
  layers?: LayerMap[];
}

/** The explanation of one image. */
export interface ImageExplanation {
  width: number;
  height: number;
  /** Resolved layer name (several layers: joined with `+`). */
  layer: string;
  /** Resolved layer names. */
  layers: string[];
  method: string;
  /** Backend the maps were computed on. */
  backend: string;
  /** Top-5 predictions of output 0. */
  predictions: Prediction[];
  targets: TargetExplanation[];
}
