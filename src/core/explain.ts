import * as tf from '@tensorflow/tfjs';
import { getMethod, type MethodName } from '../methods/index.js';
import { GradcamError, type ExplainableModel } from '../model/types.js';
import { classScores, resolveClass, topK, type TargetSpec } from '../targets/index.js';
import { imageSize, inputRegion, preprocessBatch, type ImageInput } from './image.js';
import type { CamContext, CamMethod } from './method.js';
import { WASM_SAFE_GRADIENTS, withGradients } from './gradients.js';
import { augment, mergeAugmented, project2d } from './smooth.js';

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
  /** Pre-softmax score. */
  logit: number;
  /** Softmax of the logits. */
  probability: number;
}

/** The explanation of one class in one image. */
export interface TargetExplanation extends Prediction {
  /** The map at the layer's resolution, after ReLU, min–max normalised to [0, 1]. */
  cam: Grid;
  /** The method's raw map at the layer's resolution, before ReLU (raw scale). */
  rawCam: Grid;
  /** Channel weights, for methods that have them. */
  weights?: Float32Array;
  /** `cam` upsampled (bilinear, half-pixel centres) to the original image and renormalised to [0, 1]. */
  heatmap: Grid;
  /** Argmax of `heatmap` in original-image pixels; null when there is no positive evidence. */
  peak: { x: number; y: number } | null;
  /** True when the map is zero everywhere after ReLU (no positive evidence for the class at this layer). */
  noEvidence: boolean;
}

/** The explanation of one image. */
export interface ImageExplanation {
  width: number;
  height: number;
  /** Resolved layer name. */
  layer: string;
  method: string;
  /** Backend the maps were computed on. */
  backend: string;
  /** Top-5 predictions. */
  predictions: Prediction[];
  targets: TargetExplanation[];
}

/** Options of {@link explain}. */
export interface ExplainOptions {
  /** Method name (`gradcam`, `gradcam++`, …) or a custom {@link CamMethod}. Default `gradcam`. */
  method?: MethodName | CamMethod;
  /** Classes to explain, for every image; or one list per image. Default: the top `top` classes. */
  targets?: TargetSpec[] | TargetSpec[][];
  /** Explain the top k predicted classes (default 1 when no `targets`). */
  top?: number;
  /** Layer to explain; `auto` (default) picks the last spatial layer before the head. */
  layer?: string;
  /** Images per forward/backward batch (default 8). */
  batchSize?: number;
  /** Counterfactual explanation (Grad-CAM paper §3.1): explain −logit, showing what speaks against the class. */
  counterfactual?: boolean;
  /**
   * Test-time augmentation (pytorch-grad-cam's `aug_smooth`): maps of the input flipped horizontally
   * and scaled in intensity by 0.9, 1, 1.1 (6 variants, run as one batch) are aligned back and averaged.
   */
  augSmooth?: boolean;
  /**
   * Eigen-smoothing (pytorch-grad-cam's `eigen_smooth`): the map is the first principal component of the
   * method's per-channel terms (e.g. `w_k·A_k`) instead of their sum. Less noise, less class-specific.
   * Methods that are a projection already (Eigen-CAM, Eigen-Grad-CAM) are unchanged.
   */
  eigenSmooth?: boolean;
  /** Called with a one-line warning (e.g. a fallback to the cpu backend). */
  onWarning?: (message: string) => void;
  /** Called after each batch with the number of images done. */
  onProgress?: (done: number, total: number) => void;
}

const MISSING_KERNEL = /not registered for backend|not yet implemented|is not implemented/i;
const needsCpu = new WeakMap<ExplainableModel, Set<string>>();

/** Per-map ReLU and min–max normalisation (pytorch-grad-cam's: `c -= min; c /= 1e-7 + max`). */
function normalise(cam: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const r = tf.relu(cam);
    const min = r.min([1, 2], true);
    const c = r.sub(min);
    return c.div(c.max([1, 2], true).add(1e-7));
  });
}

/** Upsamples a normalised `[h, w]` map into the image region the network saw and renormalises it. */
function upsample(cam: Float32Array, h: number, w: number, width: number, height: number, region: ReturnType<typeof inputRegion>): Grid {
  const data = tf.tidy(() => {
    let up = tf.image.resizeBilinear(tf.tensor3d(cam, [h, w, 1]), [region.height, region.width], false, true);
    up = up.sub(up.min());
    up = up.div(up.max().add(1e-7));
    if (region.width !== width || region.height !== height) {
      up = up.pad([[region.y, height - region.height - region.y], [region.x, width - region.width - region.x], [0, 0]]);
    }
    return up;
  });
  const out = { data: data.dataSync() as Float32Array, width, height };
  data.dispose();
  return out;
}

/**
 * The argmax of a map in pixels. Bilinear upsampling with clamped edges makes flat maxima (a whole
 * half-cell along a border has the border cell's value), so ties are resolved to their centroid.
 */
function peakOf(map: Grid): { x: number; y: number } {
  let max = -Infinity;
  for (const v of map.data) if (v > max) max = v;
  let sx = 0, sy = 0, n = 0;
  for (let i = 0; i < map.data.length; i++) {
    if (map.data[i] >= max - 1e-6) { sx += i % map.width; sy += Math.floor(i / map.width); n++; }
  }
  return { x: Math.round(sx / n), y: Math.round(sy / n) };
}

function softmaxRow(logits: Float32Array, row: number, k: number): Float32Array {
  const r = logits.subarray(row * k, row * k + k);
  let max = -Infinity;
  for (const v of r) max = Math.max(max, v);
  let sum = 0;
  const p = new Float32Array(k);
  for (let i = 0; i < k; i++) sum += p[i] = Math.exp(r[i] - max);
  for (let i = 0; i < k; i++) p[i] /= sum;
  return p;
}

interface BatchMaps {
  logits: Float32Array;
  pairs: { row: number; cls: number }[];
  cams: Float32Array;
  raw: Float32Array;
  weights?: Float32Array;
  grid: [number, number];
}

/** Everything tensor-valued for one batch, under one `tf.tidy`; returns plain arrays. */
function runBatch(
  model: ExplainableModel, method: CamMethod, layer: string, x: tf.Tensor4D,
  pick: (logits: Float32Array, classes: number, row: number) => number[], opts: ExplainOptions,
): BatchMaps {
  return tf.tidy(() => {
    // With augSmooth the batch holds every augmentation of every image (augmentation-major, identity first).
    const n = x.shape[0];
    const xs = opts.augSmooth ? augment(x) : x;
    const copies = xs.shape[0] / n;
    const run = model.split(xs, layer);
    const a = run.activation;
    const logitsT = run.head(a);
    const k = logitsT.shape[1];
    const logits = logitsT.dataSync().slice(0, n * k) as Float32Array;
    const pairs = Array.from({ length: n }, (_, row) => pick(logits, k, row).map((cls) => ({ row, cls }))).flat();
    const rows = Array.from({ length: copies }, (_, t) => pairs.map((p) => p.row + t * n)).flat();
    const classes = Array.from({ length: copies }, () => pairs.map((p) => p.cls)).flat();
    const identity = rows.length === xs.shape[0] && rows.every((r, i) => r === i);
    const activations = identity ? a : tf.gather(a, tf.tensor1d(rows, 'int32'));
    const sign = opts.counterfactual ? -1 : 1;
    const ctx: CamContext = {
      activations,
      classes,
      rows,
      input: xs,
      sign,
      model,
      batchSize: opts.batchSize ?? 8,
      headScores: (act, rowsOf, classesOf) => classScores(run.head(act, rowsOf), classesOf, sign),
      headLogits: (act, rowsOf) => run.head(act, rowsOf),
      inputScores: (xs, classesOf) => classScores(model.logits(xs), classesOf, sign),
    };
    if (method.needsGradients) {
      ctx.gradients = tf.grad((act) => ctx.headScores(act as tf.Tensor4D, identity ? undefined : rows, classes).sum())(activations) as tf.Tensor4D;
    }
    const out = method.cam(ctx);
    const cam = opts.eigenSmooth && out.terms ? project2d(out.terms) : out.cam;
    const merge = (t: tf.Tensor3D) => (copies > 1 ? mergeAugmented(t) : t);
    const weights = out.weights && (copies > 1 ? out.weights.reshape([copies, pairs.length, -1]).mean(0) : out.weights);
    return {
      logits,
      pairs,
      cams: (copies > 1 ? normalise(merge(normalise(cam))) : normalise(cam)).dataSync() as Float32Array,
      raw: merge(cam).dataSync() as Float32Array,
      weights: weights?.dataSync() as Float32Array | undefined,
      grid: [cam.shape[1], cam.shape[2]] as [number, number],
    };
  });
}

/**
 * Explains why a model predicts classes for one or more images.
 *
 * Grad-CAM (Selvaraju et al. 2017): the gradient of the class logit with respect to the layer's
 * activations, averaged over space, weights each channel; the weighted sum after ReLU is the map.
 * Other methods change only how channels are weighted or combined (see `methods/`).
 *
 * @example
 * ```ts
 * const model = await loadModel('../shared/models/mobilenet_v1_0.25_224');
 * const image = await readImage('cat_dog.jpg');
 * const [result] = await explain(model, [image], { targets: ['tiger cat', 243] });
 * console.log(result.targets[0].peak); // { x, y } on the cat
 * ```
 */
export async function explain(model: ExplainableModel, images: ImageInput[], opts: ExplainOptions = {}): Promise<ImageExplanation[]> {
  const method = typeof opts.method === 'object' ? opts.method : getMethod(opts.method ?? 'gradcam');
  const layer = model.resolveLayer(opts.layer);
  const targetsOf = targetPicker(model, images.length, opts);
  const batchSize = Math.max(1, opts.batchSize ?? 8);
  const results: ImageExplanation[] = [];

  for (let start = 0; start < images.length; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    const pick = (logits: Float32Array, k: number, row: number) => targetsOf(start + row, logits.subarray(row * k, row * k + k));
    const compute = () => {
      const x = preprocessBatch(batch, model.preprocessing);
      try {
        return runBatch(model, method, layer, x, pick, opts);
      } finally {
        x.dispose();
      }
    };
    const { value: maps, backend } = await withCpuFallback(model, `layer '${layer}'`, compute, opts.onWarning);
    results.push(...assemble(model, batch, maps, layer, method.name, backend));
    opts.onProgress?.(Math.min(start + batchSize, images.length), images.length);
  }
  return results;
}

/**
 * The classes to explain for image i, from `targets` (one list for all images, or one per image) and
 * `top` (default 1 when there are no targets): the listed classes, then the top-k of its logits.
 */
export function targetPicker(
  model: ExplainableModel, count: number, opts: Pick<ExplainOptions, 'targets' | 'top'>,
): (image: number, logits: Float32Array) => number[] {
  const perImage = Array.isArray(opts.targets?.[0]);
  if (perImage && opts.targets!.length !== count) {
    throw new GradcamError(`targets has ${opts.targets!.length} lists for ${count} images`);
  }
  const targetLists = (perImage ? (opts.targets as TargetSpec[][]) : Array.from({ length: count }, () => (opts.targets ?? []) as TargetSpec[]))
    .map((list) => list.map((t) => resolveClass(t, model.labels)));
  const top = opts.top ?? (opts.targets?.length ? 0 : 1);
  return (image, logits) => [...new Set([...targetLists[image], ...(top > 0 ? topK(logits, top) : [])])];
}

/**
 * Runs `compute` on the current backend, with the gradient rules that avoid kernels wasm lacks
 * (`core/gradients.ts`), or on `cpu` when a kernel it needs is still missing there, with a one-line
 * warning; the fallback is remembered per model and `what` (e.g. the layer). Returns the value and
 * the backend that computed it.
 */
export async function withCpuFallback<T>(
  model: ExplainableModel, what: string, compute: () => T, onWarning?: (message: string) => void,
): Promise<{ value: T; backend: string }> {
  const backend = tf.getBackend();
  if (backend === 'cpu') return { value: compute(), backend };
  if (needsCpu.get(model)?.has(what)) return { value: await onBackend('cpu', compute), backend: 'cpu' };
  try {
    return { value: withGradients(WASM_SAFE_GRADIENTS, compute), backend };
  } catch (e) {
    if (!MISSING_KERNEL.test((e as Error).message)) throw e;
    onWarning?.(`${(e as Error).message.split('\n')[0]}: computing ${what} on the cpu backend instead`);
    needsCpu.set(model, (needsCpu.get(model) ?? new Set()).add(what));
    return { value: await onBackend('cpu', compute), backend: 'cpu' };
  }
}

/** Runs `fn` with `name` as the active backend, restoring the previous one afterwards. */
async function onBackend<T>(name: string, fn: () => T): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend(name);
  try {
    return fn();
  } finally {
    await tf.setBackend(previous);
  }
}

function assemble(model: ExplainableModel, batch: ImageInput[], maps: BatchMaps, layer: string, method: string, backend: string): ImageExplanation[] {
  const k = model.labels.length;
  const [h, w] = maps.grid;
  const cells = h * w;
  const c = maps.weights ? maps.weights.length / maps.pairs.length : 0;
  const pred = (row: number, probs: Float32Array, cls: number): Prediction => ({
    classIndex: cls, className: model.labels[cls], logit: maps.logits[row * k + cls], probability: probs[cls],
  });
  return batch.map((img, row) => {
    const { width, height } = imageSize(img);
    const region = inputRegion(width, height, model.preprocessing);
    const probs = softmaxRow(maps.logits, row, k);
    const targets = maps.pairs.flatMap((p, m) => {
      if (p.row !== row) return [];
      const raw = maps.raw.slice(m * cells, (m + 1) * cells);
      const cam = maps.cams.slice(m * cells, (m + 1) * cells);
      const noEvidence = !raw.some((v) => v > 0);
      const heatmap = upsample(cam, h, w, width, height, region);
      return [{
        ...pred(row, probs, p.cls),
        cam: { data: cam, width: w, height: h },
        rawCam: { data: raw, width: w, height: h },
        weights: maps.weights?.slice(m * c, (m + 1) * c),
        heatmap,
        peak: noEvidence ? null : peakOf(heatmap),
        noEvidence,
      }];
    });
    const predictions = topK(maps.logits.subarray(row * k, row * k + k), 5).map((cls) => pred(row, probs, cls));
    return { width, height, layer, method, backend, predictions, targets };
  });
}

/**
 * Top-k predictions (class, logit, softmax probability) for each image, without explaining; one
 * forward pass per batch of `batchSize` images.
 */
export async function classify(model: ExplainableModel, images: ImageInput[], k = 5, batchSize = 8): Promise<Prediction[][]> {
  const out: Prediction[][] = [];
  const c = model.labels.length;
  for (let start = 0; start < images.length; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    const logits = tf.tidy(() => model.logits(preprocessBatch(batch, model.preprocessing)).dataSync() as Float32Array);
    for (let row = 0; row < batch.length; row++) {
      const probs = softmaxRow(logits, row, c);
      out.push(topK(logits.subarray(row * c, (row + 1) * c), k).map((cls) => ({
        classIndex: cls, className: model.labels[cls], logit: logits[row * c + cls], probability: probs[cls],
      })));
    }
  }
  return out;
}
