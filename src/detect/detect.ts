/**
 * `detect(detector, images, options)`: boxes from an object detector, and for each box a map of
 * what made the model put it there (the gradient of the box's own score cell, see `cam.ts`).
 */
import * as tf from '@tensorflow/tfjs';
import { preprocess, toPixels, type ImageInput, imageSize } from '../core/image.js';
import type { CamMethod } from '../core/method.js';
import { getMethod } from '../methods/index.js';
import { GradcamError } from '../model/types.js';
import { boxMaps } from './cam.js';
import { resolveDetector, type DetectorConfig, type DetectorSettings } from './config.js';
import { finalDetections, readOutputs, usedOutputs, type Detection } from './decode.js';
import type { LayoutName } from './layouts.js';
import type { Box } from './nms.js';
import type { GraphRunner } from './runner.js';

/** A single-channel float map, row-major. */
export interface Grid { data: Float32Array; width: number; height: number }

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
  model: GraphRunner;
  config: DetectorConfig;
}

/** Default explained layer (a suffix of the node name) and method per layout: from the study in the README. */
export const DEFAULT_EXPLANATION: Record<LayoutName, { layer?: string; method: string }> = {
  centernet: { layer: 'CenternetHead/Relu_1', method: 'hirescam' },
  'anchor-free': { layer: 'onnx_tf_prefix_Add_107', method: 'hirescam' },
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
  onProgress?: (done: number, total: number) => void;
}

/** Wraps a loaded graph as a detector, resolving its configuration; throws "not a detector" for classifiers. */
export function toDetector(model: GraphRunner, ...settings: (DetectorSettings | undefined)[]): Detector {
  return { model, config: resolveDetector(model, model.size, { range: [0, 1], resize: 'squash' }, ...settings) };
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

/** Normalises a map to [0, 1] after ReLU (pytorch-grad-cam's rule). */
function normalise(raw: Float32Array): Float32Array {
  const out = new Float32Array(raw.length);
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < raw.length; i++) { const v = Math.max(0, raw[i]); out[i] = v; min = Math.min(min, v); max = Math.max(max, v); }
  for (let i = 0; i < out.length; i++) out[i] = (out[i] - min) / (max - min + 1e-7);
  return out;
}

/** Bilinear (half-pixel centres) upsampling of a `[h, w]` map to the image, renormalised to [0, 1]. */
export function upsampleMap(cam: Float32Array, h: number, w: number, width: number, height: number): Grid {
  const t = tf.tidy(() => {
    let up = tf.image.resizeBilinear(tf.tensor3d(cam, [h, w, 1]), [height, width], false, true);
    up = up.sub(up.min());
    return up.div(up.max().add(1e-7));
  });
  const data = t.dataSync() as Float32Array;
  t.dispose();
  return { data, width, height };
}

/** Argmax of a map; ties (flat maxima) resolved to their centroid. Null for an all-zero map. */
export function peakOf(map: Grid): { x: number; y: number } | null {
  let max = -Infinity;
  for (const v of map.data) if (v > max) max = v;
  if (!(max > 0)) return null;
  let sx = 0, sy = 0, n = 0;
  for (let i = 0; i < map.data.length; i++) {
    if (map.data[i] >= max - 1e-6) { sx += i % map.width; sy += Math.floor(i / map.width); n++; }
  }
  return { x: Math.round(sx / n), y: Math.round(sy / n) };
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

/** Detections of one image, with maps when `explain` is on. */
export function detectOne(detector: Detector, image: ImageInput, opts: DetectOptions = {}): ImageDetections {
  const { model, config } = detector;
  const { width, height } = imageSize(image);
  const keepClasses = resolveClasses(opts.classes, config.labels);
  const x = detectorInput(image, config, opts.resize);
  try {
    if (opts.explain === false) {
      const outs = model.run(x);
      try {
        const dets = finalDetections(readOutputs(outs, config), config, width, height).filter((d) => !keepClasses || keepClasses.has(d.classIndex));
        return { width, height, detections: dets, backend: tf.getBackend() };
      } finally {
        tf.dispose(outs);
      }
    }
    const defaults = DEFAULT_EXPLANATION[config.layout];
    const layerName = !opts.layer || opts.layer === 'auto' ? defaults.layer ?? lastGrid(model) : opts.layer;
    const layer = model.resolveLayer(layerName);
    const method = typeof opts.method === 'object' ? opts.method : getMethod(opts.method ?? defaults.method);
    if (!method.needsGradients) throw new GradcamError(`method '${method.name}' is not available for detections: use a gradient method (hirescam, layercam, gradcam, gradcam++, xgradcam, eigengradcam)`);
    const split = model.split(x, layer.name);
    try {
      // The forward pass for the boxes runs through the same split (no second body pass).
      const outs = tf.tidy(() => split.head(split.activation, undefined, usedOutputs(config)));
      let dets: Detection[];
      try {
        dets = finalDetections(readOutputs(outs, config), config, width, height).filter((d) => !keepClasses || keepClasses.has(d.classIndex));
      } finally {
        tf.dispose(outs);
      }
      const result: ImageDetections = { width, height, detections: dets, layer: layer.name, method: method.name, backend: tf.getBackend() };
      if (!dets.length) return result;
      const maps = boxMaps(split, dets.map((d) => d.raw.cells), method);
      const [h, w] = maps.grid;
      result.detections = dets.map((d, k) => {
        const cam = normalise(maps.raw.subarray(k * h * w, (k + 1) * h * w));
        const heatmap = upsampleMap(cam, h, w, width, height);
        const peak = peakOf(heatmap);
        return { ...d, cam: { data: cam, width: w, height: h }, heatmap, peak, energyInBox: energyInBox(heatmap, d.box) };
      });
      return result;
    } finally {
      split.dispose();
    }
  } finally {
    x.dispose();
  }
}

/** The last layer with a spatial grid larger than 1×1 and more than 4 channels (fallback default). */
function lastGrid(model: GraphRunner): string {
  const l = [...model.layers].reverse().find((q) => (q.shape[1] as number) > 1 && (q.shape[3] as number) > 4);
  if (!l) throw new GradcamError('the detector has no spatial layer to explain');
  return l.name;
}

/** Detections (and maps) for several images, one at a time. */
export async function detect(detector: Detector, images: ImageInput[], opts: DetectOptions = {}): Promise<ImageDetections[]> {
  const out: ImageDetections[] = [];
  for (let i = 0; i < images.length; i++) {
    out.push(detectOne(detector, images[i], opts));
    opts.onProgress?.(i + 1, images.length);
  }
  return out;
}
