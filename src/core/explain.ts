/**
 * The core: explains images for a model, targets and one method, at one or several layers. It owns
 * every tensor's lifetime across the model's asynchronous calls (no `tf.tidy` spans an `await`: each
 * synchronous piece is tidied, everything else disposed explicitly). Method names are resolved
 * outside (`src/explain.ts`); the core never imports the method registry.
 */
import * as tf from '@tensorflow/tfjs';
import { runMasked } from './blend.js';
import { GradcamError, type ExplainableModel, type SplitRun } from '../model/types.js';
import { negated, parseTarget, topK, type ParseOptions, type Target, type TargetSpec } from '../targets/index.js';
import { WASM_SAFE_GRADIENTS, withGradients } from './gradients.js';
import { withCamKernels } from './kernels.js';
import { imageSize, inputRegion, preprocessBatch, type ImageInput } from './image.js';
import { fuseMaps, mapOnImage, normaliseMaps, peakOf, tidyRead, upsampleMap } from './maps.js';
import type { CamMethod, CamOutput, PerturbationContext } from './method.js';
import { classLogits, prediction, probabilities, topPredictions } from './outputs.js';
import { augment, mergeAugmented, project2d } from './smooth.js';
import type { Grid, ImageExplanation, LayerMap, Prediction, TargetExplanation } from './types.js';

export type { Grid, ImageExplanation, LayerMap, Prediction, TargetExplanation } from './types.js';

/** Options of `explain`, except the method. */
export interface CoreExplainOptions {
  /**
   * What to explain, for every image; or one list per image: class indices or names, target strings
   * (`contrast:282-243`, `segment:15`, `output:0`, … see `TARGET_FORMS`) or {@link Target} objects.
   * Default: the top `top` classes.
   */
  targets?: TargetSpec[] | TargetSpec[][];
  /** Also explain the top k predicted classes (default 1 when no `targets`). */
  top?: number;
  /** What target strings need besides the model: the mask of `segment:`, the vectors of `similar:`. */
  parse?: ParseOptions;
  /**
   * Layer(s) to explain; `auto` (default) picks the last spatial layer before the head. With several,
   * each layer's map is ReLU'd, normalised and upsampled to the image, then the maps are averaged and
   * renormalised (pytorch-grad-cam's `target_layers`).
   */
  layer?: string | string[];
  /** Images per forward/backward batch (default 8); perturbation methods also score this many copies per pass. */
  batchSize?: number;
  /** Counterfactual explanation (Grad-CAM paper §3.1): every target negated, showing what speaks against it. */
  counterfactual?: boolean;
  /**
   * Test-time augmentation (pytorch-grad-cam's `aug_smooth`): maps of the input flipped horizontally
   * and scaled in intensity by 0.9, 1, 1.1 (6 variants, run as one batch) are aligned back and averaged.
   */
  augSmooth?: boolean;
  /**
   * Eigen-smoothing (pytorch-grad-cam's `eigen_smooth`): the map is the first principal component of the
   * method's per-channel terms (e.g. `w_k·A_k`) instead of their sum. Less noise, less class-specific.
   */
  eigenSmooth?: boolean;
  /** Called with a one-line warning (e.g. a fallback to the cpu backend). */
  onWarning?: (message: string) => void;
  /** Called after each batch with the number of images done. */
  onProgress?: (done: number, total: number) => void;
}

const MISSING_KERNEL = /not registered for backend|not yet implemented|is not implemented/i;
const needsCpu = new WeakMap<ExplainableModel, Set<string>>();

/** One (image, target) pair of a batch. */
interface Pair { row: number; target: Target; score: number }

/** One layer's maps for every pair of a batch (copies merged). */
interface BatchLayer { layer: string; cams: Float32Array; raw: Float32Array; weights?: Float32Array; grid: [number, number]; backend: string }

/**
 * The targets to explain for image i, from `targets` (one list for all images, or one per image) and
 * `top` (default 1 when there are no targets): the listed targets, then the top-k classes of its
 * output 0 (skipping those already listed), each negated for `counterfactual`.
 */
export function targetPicker(
  model: ExplainableModel, count: number, opts: Pick<CoreExplainOptions, 'targets' | 'top' | 'parse' | 'counterfactual'>,
): (image: number, classLogits: Float32Array) => Target[] {
  const perImage = Array.isArray(opts.targets?.[0]);
  if (perImage && opts.targets!.length !== count) {
    throw new GradcamError(`targets has ${opts.targets!.length} lists for ${count} images`);
  }
  const lists = (perImage ? (opts.targets as TargetSpec[][]) : [opts.targets as TargetSpec[] ?? []])
    .map((list) => list.map((t) => parseTarget(t, model, opts.parse)));
  const top = opts.top ?? (opts.targets?.length ? 0 : 1);
  return (image, logits) => {
    const listed = lists[perImage ? image : 0];
    const names = new Set(listed.map((t) => t.name));
    const extra = top > 0 ? topK(logits, top).map((c) => parseTarget(c, model)).filter((t) => !names.has(t.name)) : [];
    const all = [...listed, ...extra];
    return opts.counterfactual ? all.map(negated) : all;
  };
}

/** The layers to explain, resolved and without repeats. */
export function resolveLayers(model: ExplainableModel, layer?: string | string[]): string[] {
  const asked = Array.isArray(layer) ? (layer.length ? layer : ['auto']) : [layer ?? 'auto'];
  return [...new Set(asked.map((l) => model.resolveLayer(l)))];
}

/** Sum of every row's target score: rows grouped by (target, image) so a target scores the rows of one image at once. */
function totalScore(outs: tf.Tensor[], targets: Target[], images: number[]): tf.Scalar {
  const groups = new Map<Target, Map<number, number[]>>();
  targets.forEach((t, m) => {
    const byImage = groups.get(t) ?? new Map<number, number[]>();
    byImage.set(images[m], [...(byImage.get(images[m]) ?? []), m]);
    groups.set(t, byImage);
  });
  let total: tf.Scalar = tf.scalar(0);
  for (const [t, byImage] of groups) {
    for (const ms of byImage.values()) {
      // Rows by slicing (a gather's gradient needs UnsortedSegmentSum, which wasm lacks).
      const rowsOf = (o: tf.Tensor) => (ms.length === 1 ? o.slice(ms[0], 1) : tf.concat(ms.map((m) => o.slice(m, 1))));
      // Sliced when read: a target reading one output (e.g. a detection's heatmap) does not make the others run.
      const view: tf.Tensor[] = new Array(outs.length);
      for (let i = 0; i < outs.length; i++) {
        let v: tf.Tensor | undefined;
        Object.defineProperty(view, i, { enumerable: true, get: () => (v ??= rowsOf(outs[i])) });
      }
      total = total.add(t.score(view).sum());
    }
  }
  return total;
}

/** Merges augmented copies and normalises: plain arrays of one layer's maps. */
function finish(out: CamOutput, copies: number, pairs: number, eigenSmooth?: boolean): Omit<BatchLayer, 'layer' | 'backend'> {
  const cam = eigenSmooth && out.terms ? tf.keep(project2d(out.terms)) : out.cam;
  try {
    const merge = (t: tf.Tensor3D) => (copies > 1 ? mergeAugmented(t) : t);
    const weights = out.weights && tidyRead(() => (copies > 1 ? out.weights!.reshape([copies, pairs, -1]).mean(0) : out.weights!.clone()));
    return {
      cams: tidyRead(() => (copies > 1 ? normaliseMaps(merge(normaliseMaps(cam))) : normaliseMaps(cam))),
      raw: tidyRead(() => merge(cam).clone()),
      weights,
      grid: [cam.shape[1], cam.shape[2]],
    };
  } finally {
    if (cam !== out.cam) cam.dispose();
  }
}

const disposeOutput = (out: CamOutput) => tf.dispose([out.cam, out.weights, out.terms].filter((t) => t !== undefined) as tf.Tensor[]);

/**
 * A fingerprint of a tensor (two sums), to recognise the same perturbed batch asked for by several
 * targets of one image, so that it is scored by one forward pass.
 */
async function fingerprint(x: tf.Tensor): Promise<string> {
  const f = tf.tidy(() => {
    const flat = x.reshape([-1]);
    const ramp = tf.range(0, flat.shape[0]).mod(97).add(1);
    return tf.stack([flat.sum(), flat.mul(ramp).sum()]);
  });
  const v = await f.data();
  f.dispose();
  return `${x.shape.join('x')}:${v[0]}:${v[1]}`;
}

/**
 * The {@link PerturbationContext} of one batch and layer. Every score call of a pair also scores the
 * other targets of the same input from the same forward pass, and remembers those scores: when the
 * method then asks for another target of that input with the same batch (same call number and
 * fingerprint), no pass runs.
 */
function perturbationContext(
  model: ExplainableModel, run: SplitRun, xs: tf.Tensor4D, activations: tf.Tensor4D, rows: number[], targets: Target[], batchSize: number,
): { ctx: PerturbationContext; dispose(): void } {
  const inputs = new Map<number, tf.Tensor4D>();
  const siblings = (m: number) => rows.flatMap((r, i) => (r === rows[m] ? [i] : []));
  const calls = new Map<string, number>();
  const cache = new Map<string, { fp: string; scores: Map<number, Float32Array> }>();
  const scored = (kind: string, forward: (x: tf.Tensor4D, m: number) => Promise<tf.Tensor[]> | tf.Tensor[]) => async (m: number, x: tf.Tensor4D) => {
    const n = calls.get(`${kind}${m}`) ?? 0;
    calls.set(`${kind}${m}`, n + 1);
    const group = siblings(m);
    const key = `${kind}:${rows[m]}:${n}`;
    const fp = group.length > 1 ? await fingerprint(x) : '';
    const hit = cache.get(key);
    if (hit && hit.fp === fp && hit.scores.has(m)) return hit.scores.get(m)!;
    const outs = await forward(x, m);
    try {
      const values = tidyRead(() => tf.stack(group.map((i) => targets[i].score(outs))));
      const b = x.shape[0];
      const scores = new Map(group.map((i, j) => [i, values.slice(j * b, (j + 1) * b)]));
      cache.set(key, { fp, scores });
      return scores.get(m)!;
    } finally {
      tf.dispose(outs);
    }
  };
  const ctx: PerturbationContext = {
    activations,
    batchSize,
    input: (m) => {
      let x = inputs.get(rows[m]);
      if (!x) inputs.set(rows[m], x = tf.keep(xs.slice([rows[m], 0, 0, 0], [1, ...xs.shape.slice(1)] as [number, number, number, number])));
      return x;
    },
    scoreInputs: scored('in', (x) => model.run(x)),
    scoreMasked: scored('mask', (masks, m) => runMasked(model, ctx.input(m), masks)),
    scoreActivations: scored('act', (a, m) => {
      const of = new Array<number>(a.shape[0]).fill(rows[m]);
      return run.runHead ? run.runHead(a, of) : tf.tidy(() => run.head(a, of));
    }),
  };
  return { ctx, dispose: () => inputs.forEach((x) => x.dispose()) };
}

/** One layer's maps for a batch: the method's map for every pair row, merged and normalised. */
async function layerMaps(
  model: ExplainableModel, method: CamMethod, run: SplitRun, xs: tf.Tensor4D, layer: string,
  rows: number[], targets: Target[], images: number[], pairs: number, opts: CoreExplainOptions,
): Promise<BatchLayer> {
  const copies = rows.length / pairs;
  const a = run.activation;
  const identity = rows.length === a.shape[0] && rows.every((r, i) => r === i);
  const pick = () => (identity ? a : tf.gather(a, tf.tensor1d(rows, 'int32')));
  if (method.needs === 'scores') {
    const activations = tf.tidy(() => (identity ? a.clone() : pick()));
    const { ctx, dispose } = perturbationContext(model, run, xs, activations, rows, targets, Math.max(1, opts.batchSize ?? 8));
    try {
      const out = await method.cam(ctx);
      try {
        return { layer, backend: tf.getBackend(), ...finish(out, copies, pairs, opts.eigenSmooth) };
      } finally {
        disposeOutput(out);
      }
    } finally {
      dispose();
      activations.dispose();
    }
  }
  const compute = () => {
    const out = tf.tidy(() => {
      const act = pick();
      return method.needs === 'gradients'
        ? method.cam(act, tf.grad((x) => totalScore(run.head(x as tf.Tensor4D, identity ? undefined : rows), targets, images))(act) as tf.Tensor4D)
        : method.cam(act);
    });
    try {
      return finish(out, copies, pairs, opts.eigenSmooth);
    } finally {
      disposeOutput(out);
    }
  };
  const { value, backend } = method.needs === 'gradients'
    ? await withCpuFallback(model, `layer '${layer}'`, compute, opts.onWarning)
    : { value: compute(), backend: tf.getBackend() };
  return { layer, backend, ...value };
}

/**
 * Explains images with one method object (see `explain` in `src/explain.ts` for method names).
 * Per batch: one forward pass to each layer, one head pass for the predictions, then per layer the
 * method (one backward pass of the head for gradient methods).
 */
export async function explainWith(model: ExplainableModel, images: ImageInput[], method: CamMethod, opts: CoreExplainOptions = {}): Promise<ImageExplanation[]> {
  const layers = resolveLayers(model, opts.layer);
  const targetsOf = targetPicker(model, images.length, opts);
  const batchSize = Math.max(1, opts.batchSize ?? 8);
  const results: ImageExplanation[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    results.push(...(await explainBatch(model, batch, start, method, layers, targetsOf, opts)));
    opts.onProgress?.(Math.min(start + batchSize, images.length), images.length);
  }
  return results;
}

async function explainBatch(
  model: ExplainableModel, batch: ImageInput[], start: number, method: CamMethod, layers: string[],
  targetsOf: (image: number, logits: Float32Array) => Target[], opts: CoreExplainOptions,
): Promise<ImageExplanation[]> {
  const n = batch.length;
  const x = preprocessBatch(batch, model.preprocessing);
  const xs = opts.augSmooth ? augment(x) : x;
  const copies = xs.shape[0] / n;
  let logits: Float32Array = new Float32Array(0);
  let k = 0;
  let pairs: Pair[] = [];
  const maps: BatchLayer[] = [];
  try {
    for (const layer of layers) {
      const run = await model.split(xs, layer);
      try {
        if (!maps.length) {
          // Predictions and target scores from the body's outputs, or one head pass on the unperturbed batch.
          const outs = run.outputs ?? tf.tidy(() => run.head(run.activation));
          try {
            const cl = tf.tidy(() => classLogits(model, outs[0]).slice([0, 0], [n, -1]));
            k = cl.shape[1];
            logits = cl.dataSync() as Float32Array;
            cl.dispose();
            const picked = batch.map((_, row) => targetsOf(start + row, logits.subarray(row * k, (row + 1) * k)).map((target) => ({ row, target })));
            pairs = picked.flat().map((p) => ({ ...p, score: 0 }));
            if (pairs.length) {
              const scores = tidyRead(() => tf.concat(pairs.map((p) => p.target.score(outs.map((o) => o.slice(p.row, 1))))));
              pairs.forEach((p, i) => { p.score = scores[i]; });
            }
          } finally {
            if (outs !== run.outputs) tf.dispose(outs);
          }
        }
        if (!pairs.length) { // nothing to explain in this batch (e.g. empty per-image target lists)
          maps.push({ layer, backend: tf.getBackend(), cams: new Float32Array(0), raw: new Float32Array(0), grid: [0, 0] });
          continue;
        }
        const rows = Array.from({ length: copies }, (_, t) => pairs.map((p) => p.row + t * n)).flat();
        const targets = Array.from({ length: copies }, () => pairs.map((p) => p.target)).flat();
        maps.push(await layerMaps(model, method, run, xs, layer, rows, targets, rows, pairs.length, opts));
      } finally {
        run.dispose();
      }
    }
  } finally {
    if (xs !== x) xs.dispose();
    x.dispose();
  }
  const backend = maps.some((m) => m.backend === 'cpu') ? 'cpu' : maps[0].backend;
  return batch.map((img, row) => {
    const { width, height } = imageSize(img);
    const region = inputRegion(width, height, model.preprocessing);
    const rowLogits = logits.subarray(row * k, (row + 1) * k);
    const probs = probabilities(model, rowLogits);
    const targets = pairs.flatMap((p, m) => (p.row === row ? [explained(p, m, maps, rowLogits, probs, model, width, height, region)] : []));
    return { width, height, layer: layers.join('+'), layers, method: method.name, backend, predictions: topPredictions(model, rowLogits, 5), targets };
  });
}

/** One pair's explanation from every layer's maps. */
function explained(
  p: Pair, m: number, maps: BatchLayer[], logits: Float32Array, probs: Float32Array, model: ExplainableModel,
  width: number, height: number, region: ReturnType<typeof inputRegion>,
): TargetExplanation {
  const perLayer: LayerMap[] = maps.map((l) => {
    const [h, w] = l.grid;
    const cells = h * w;
    const c = l.weights ? l.weights.length / (l.raw.length / cells) : 0;
    return {
      layer: l.layer,
      cam: { data: l.cams.slice(m * cells, (m + 1) * cells), width: w, height: h },
      rawCam: { data: l.raw.slice(m * cells, (m + 1) * cells), width: w, height: h },
      weights: l.weights?.slice(m * c, (m + 1) * c),
    };
  });
  const noEvidence = perLayer.every((l) => !l.rawCam.data.some((v) => v > 0));
  const heatmap = perLayer.length === 1
    ? mapOnImage(perLayer[0].cam, width, height, region)
    : fuseMaps(perLayer.map((l) => mapOnImage(l.cam, width, height, region)));
  const cls = p.target.classIndex;
  const pred: Prediction = cls !== undefined && cls >= 0 && cls < logits.length
    ? prediction(model, logits, probs, cls)
    : { classIndex: -1, className: p.target.name, logit: p.score, probability: NaN };
  const first = perLayer[0];
  let cam: Grid = first.cam;
  if (perLayer.length > 1) {
    const finest = perLayer.reduce((a, b) => (b.cam.width * b.cam.height > a.cam.width * a.cam.height ? b : a)).cam;
    cam = fuseMaps(perLayer.map((l) => ({ data: upsampleMap(l.cam, [finest.height, finest.width]), width: finest.width, height: finest.height })));
  }
  return {
    ...pred,
    target: p.target.name,
    score: p.score,
    explained: p.target,
    layer: first.layer,
    cam,
    rawCam: first.rawCam,
    weights: first.weights,
    heatmap,
    peak: noEvidence ? null : peakOf(heatmap),
    noEvidence,
    ...(perLayer.length > 1 ? { layers: perLayer } : {}),
  };
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
    return { value: withGradients(WASM_SAFE_GRADIENTS, () => withCamKernels(compute)), backend };
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

/** Class logits `[N·K]` of output 0 for a batch of images (one forward pass), `k` per image. */
export async function batchLogits(model: ExplainableModel, images: ImageInput[]): Promise<{ logits: Float32Array; k: number }> {
  const x = preprocessBatch(images, model.preprocessing);
  let outs: tf.Tensor[] = [];
  try {
    outs = await model.run(x);
    const cl = classLogits(model, outs[0]);
    const logits = (await cl.data()) as Float32Array;
    const k = cl.shape[1];
    cl.dispose();
    return { logits, k };
  } finally {
    tf.dispose(outs);
    x.dispose();
  }
}

/**
 * Top-k predictions (class, logit, probability) for each image, without explaining; one forward
 * pass per batch of `batchSize` images.
 */
export async function classify(model: ExplainableModel, images: ImageInput[], k = 5, batchSize = 8): Promise<Prediction[][]> {
  const out: Prediction[][] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    const { logits, k: c } = await batchLogits(model, batch);
    for (let row = 0; row < batch.length; row++) out.push(topPredictions(model, logits.subarray(row * c, (row + 1) * c), k));
  }
  return out;
}
