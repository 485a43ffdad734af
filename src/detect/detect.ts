/**
 * `detect(detector, images, options)`: boxes from an object detector, and for each box a map of
 * what made the model put it there (the gradient of the box's own score cell, see `cam.ts`).
 */
import * as tf from '@tensorflow/tfjs';
import { explainWith } from '../core/explain.js';
import { preprocess, toPixels, type ImageInput, imageSize } from '../core/image.js';
import type { CamMethod } from '../core/method.js';
import type { Grid, TargetExplanation } from '../core/types.js';
import { getMethod } from '../methods/index.js';
import { GradcamError, type ExplainableModel, type Preprocessing } from '../model/types.js';
import { resolveDetector, type DetectorConfig, type DetectorSettings } from './config.js';
import { finalDetections, readOutputs, type Detection } from './decode.js';
import type { LayoutName } from './layouts.js';
import type { Box } from './nms.js';
import { detectionTarget, type DetectionTarget } from './targets.js';

/** A detection with its map. */
export interface ExplainedDetection extends Detection {
  /** The map at the layer's resolution after ReLU, normalised to [0, 1]. */
  cam?: Grid;
  /** `cam` upsampled to the original image, normalised to [0, 1]. */
  heatmap?: Grid;
  /** Argmax of `heatmap` in original-image pixels (null: no positive evidence). */
  peak?: { x: number; y: number } | null;
  /** Share of the heatmap's mass inside the box. */
  energyInBox?: number;
}

/** One image's detections. */
export interface ImageDetections {
  width: number;
  height: number;
  detections: ExplainedDetection[];
  /** Resolved layer and method of the maps (absent with `explain: false`). */
  layer?: string;
  method?: string;
  backend: string;
}

/** A detector: a model and its resolved configuration. */
export interface Detector {
  model: ExplainableModel;
  config: DetectorConfig;
}

/**
 * Default explained layer (a suffix of the node name) and method per layout, from the study on the
 * shared images (README, "Detectors"): the layer and method whose maps point into the box for (nearly)
 * every detection and whose deletion curve restricted to the box falls fastest.
 */
export const DEFAULT_EXPLANATION: Record<LayoutName, { layer?: string; method: string }> = {
  centernet: { layer: 'extern1/hard_swish/mul_1', method: 'layercam' },
  'anchor-free': { layer: 'onnx_tf_prefix_Concat_27', method: 'hirescam' },
  yolov8: { method: 'hirescam' },
  yolov5: { method: 'hirescam' },
};

/** Options of {@link detect}: the detector's settings (thresholds…) and how to explain. */
export interface DetectOptions extends DetectorSettings {
  /** Compute a map per box (default true). */
  explain?: boolean;
  /** A gradient method name or object (default per layout, see {@link DEFAULT_EXPLANATION}). */
  method?: string | CamMethod;
  /** Layer to explain (`auto`: per layout). */
  layer?: string;
  /** Keep only these classes (names or indices). */
  classes?: (string | number)[];
  /**
   * `library` (default): the library's resize (area average, then bilinear with half-pixel centres);
   * `bilinear`: `tf.image.resizeBilinear` of the whole image with default flags, as the shared
   * detectors' reference pipeline (expected-detections.jsonl).
   */
  resize?: 'library' | 'bilinear';
  /** Called after each image with the number of images done. */
  onProgress?: (done: number, total: number) => void;
  /** Called with a one-line warning (e.g. a fallback to the cpu backend). */
  onWarning?: (message: string) => void;
  /** Boxes explained per backward pass (default 4; memory grows with it: CenterNet at its default layer needs ~250 MB of wasm heap per box). */
  boxBatch?: number;
}

/**
 * A loaded model as a detector, its configuration resolved from its outputs, `settings` (metadata,
 * options) and the layout's defaults; throws a "not a detector" {@link GradcamError} for classifiers.
 * The model is seen through its detector preprocessing (e.g. CenterNet's 0…255 input range).
 */
export function toDetector(model: ExplainableModel | Detector, ...settings: (DetectorSettings | undefined)[]): Detector {
  if ('config' in model && 'model' in model) return settings.some(Boolean) ? toDetector(model.model, ...settings) : model;
  const m = model as ExplainableModel;
  const config = resolveDetector(m, m.preprocessing.size, m.preprocessing, ...settings);
  return { model: withPreprocessing(m, config.preprocessing), config };
}

/** The model with another preprocessing (everything else shared). */
function withPreprocessing(model: ExplainableModel, preprocessing: Preprocessing): ExplainableModel {
  const p = model.preprocessing;
  if (p.range[0] === preprocessing.range[0] && p.range[1] === preprocessing.range[1] && p.size[0] === preprocessing.size[0] && p.size[1] === preprocessing.size[1]) return model;
  return Object.create(model, { preprocessing: { value: preprocessing, enumerable: true } }) as ExplainableModel;
}

/** The network input for an image, `[1, H, W, 3]`. */
export function detectorInput(img: ImageInput, config: DetectorConfig, resize: DetectOptions['resize'] = 'library'): tf.Tensor4D {
  if (resize !== 'bilinear') return preprocess(img, config.preprocessing);
  return tf.tidy(() => {
    const [lo, hi] = config.preprocessing.range;
    const px = toPixels(img);
    return tf.image.resizeBilinear(px, config.preprocessing.size).div(255 / (hi - lo)).add(lo).expandDims(0) as tf.Tensor4D;
  });
}

function resolveClasses(spec: (string | number)[] | undefined, labels: string[]): Set<number> | undefined {
  if (!spec?.length) return undefined;
  return new Set(spec.map((s) => {
    if (typeof s === 'number' || /^\d+$/.test(String(s).trim())) {
      const i = Number(s);
      if (!Number.isInteger(i) || i < 0 || i >= labels.length) throw new GradcamError(`class index ${s} is out of range: 0–${labels.length - 1}`);
      return i;
    }
    const i = labels.findIndex((l) => l.toLowerCase() === String(s).trim().toLowerCase());
    if (i < 0) throw new GradcamError(`unknown class '${s}' (the detector's classes are e.g. ${labels.slice(0, 4).join(', ')}…)`);
    return i;
  }));
}

/** Share of a map's mass inside a box (clipped to the image). */
export function energyInBox(map: Grid, box: Box): number {
  const x0 = Math.max(0, Math.floor(box[0])), y0 = Math.max(0, Math.floor(box[1]));
  const x1 = Math.min(map.width - 1, Math.ceil(box[2])), y1 = Math.min(map.height - 1, Math.ceil(box[3]));
  let inside = 0, total = 0;
  for (let y = 0; y < map.height; y++) {
    for (let x = 0; x < map.width; x++) {
      const v = map.data[y * map.width + x];
      total += v;
      if (x >= x0 && x <= x1 && y >= y0 && y <= y1) inside += v;
    }
  }
  return total > 0 ? inside / total : 0;
}

/** Whether a point lies in a box (inclusive). */
export const inBox = (p: { x: number; y: number } | null | undefined, b: Box) => !!p && p.x >= b[0] && p.x <= b[2] && p.y >= b[1] && p.y <= b[3];

/** The targets of an image's detections, for `explain`. */
export function detectionTargets(detector: Detector, detections: Detection[]): DetectionTarget[] {
  const sigmoidOutput0 = detector.model.activation === 'sigmoid';
  return detections.map((d, k) => detectionTarget({ classIndex: d.classIndex, className: d.className, score: d.score, box: d.box, cells: d.raw.cells }, { index: k, sigmoidOutput0 }));
}

/** Decoded detections of one image (no maps). */
export async function detectBoxes(detector: Detector, image: ImageInput, opts: DetectOptions = {}): Promise<Detection[]> {
  const { model, config } = detector;
  const { width, height } = imageSize(image);
  const keep = resolveClasses(opts.classes, config.labels);
  const x = detectorInput(image, config, opts.resize);
  let outs: tf.Tensor[] = [];
  try {
    outs = await model.run(x);
    if (model.activation === 'sigmoid') outs[0] = tf.tidy(() => tf.sigmoid(outs[0]));
    return finalDetections(readOutputs(outs, config), config, width, height).filter((d) => !keep || keep.has(d.classIndex));
  } finally {
    tf.dispose(outs);
    x.dispose();
  }
}

/** The layer and method a detector's maps use by default (see {@link DEFAULT_EXPLANATION}). */
export function defaultExplanation(detector: Detector, opts: Pick<DetectOptions, 'layer' | 'method'> = {}): { layer: string; method: CamMethod } {
  const d = DEFAULT_EXPLANATION[detector.config.layout];
  const model = detector.model;
  let layer = opts.layer && opts.layer !== 'auto' ? opts.layer : undefined;
  if (!layer && d.layer) layer = model.layers.find((l) => l.name === d.layer || l.name.endsWith(`/${d.layer}`))?.name;
  return { layer: model.resolveLayer(layer ?? 'auto'), method: typeof opts.method === 'object' ? opts.method : getMethod(opts.method ?? d.method) };
}

/**
 * Detects objects in images and (unless `explain: false`) explains every box: its map is the chosen
 * method's for the detection's own score cell, all boxes of an image in one batched pass of `explain`.
 *
 * @example
 * ```ts
 * const model = await loadModel('../shared/models/detect/centernet');
 * const [r] = await detect(model, [await readImage('cat_dog.jpg')]);
 * console.log(r.detections.map((d) => [d.className, d.score, d.box, d.peak]));
 * ```
 */
export async function detect(model: ExplainableModel | Detector, images: ImageInput[], opts: DetectOptions = {}): Promise<ImageDetections[]> {
  const detector = toDetector(model, opts);
  const explainIt = opts.explain !== false;
  const how = explainIt ? defaultExplanation(detector, opts) : undefined;
  const out: ImageDetections[] = [];
  for (let i = 0; i < images.length; i++) {
    const image = images[i];
    const { width, height } = imageSize(image);
    const dets = await detectBoxes(detector, image, opts);
    const result: ImageDetections = { width, height, detections: dets, backend: tf.getBackend() };
    if (how) {
      result.layer = how.layer;
      result.method = how.method.name;
      if (dets.length) {
        // Boxes of an image in batches of `boxBatch` (one backward pass each; memory grows with the batch).
        const targets = detectionTargets(detector, dets);
        const explained: TargetExplanation[] = [];
        const step = Math.max(1, opts.boxBatch ?? 4);
        for (let s = 0; s < targets.length; s += step) {
          const [e] = await explainWith(detector.model, [image], how.method, { targets: [targets.slice(s, s + step)], top: 0, layer: how.layer, onWarning: opts.onWarning });
          result.backend = e.backend;
          explained.push(...e.targets);
        }
        result.detections = dets.map((d, k) => {
          const t = explained[k];
          return { ...d, cam: t.cam, heatmap: t.heatmap, peak: t.peak, energyInBox: energyInBox(t.heatmap, d.box) };
        });
      }
    }
    out.push(result);
    opts.onProgress?.(i + 1, images.length);
  }
  return out;
}
