/**
 * Transfer learning on a folder of class folders: frozen pretrained base (optionally its last blocks
 * fine-tuned), a new head, augmentation, validation, early stopping, a report, and a saved nested
 * LayersModel that `explain`, `compare` and the web app load directly.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_MODEL_URL, wrapModel } from '../../model/load.js';
import { GradcamError, type ExplainableModel, type Preprocessing } from '../../model/types.js';
import { initBackend } from '../backend.js';
import { loadModel } from '../load.js';
import { augmentBatch, type AugmentOptions } from './augment.js';
import { seededRandom } from '../../core/random.js';
import { loadBatch, scanDataset, shuffle, type Batch, type Sample, type ScanOptions } from './dataset.js';
import { buildClassifier, trainPlan, type Classifier, type TrainPlan } from './model.js';
import { classificationReport, type ClassificationReport } from './report.js';
import { saveModel } from './save.js';

/** Loss and accuracy of one epoch. */
export interface EpochStats {
  /** 1-based. */
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  seconds: number;
  /** Best epoch so far (its weights are kept). */
  best: boolean;
}

/** Progress of a training run, batch by batch. */
export interface TrainProgress {
  /** `features`: computing cached base features once; `train`: an epoch; `validate`: the validation pass. */
  phase: 'features' | 'train' | 'validate';
  epoch: number;
  done: number;
  total: number;
  /** Running mean loss and accuracy of the epoch (phase `train`). */
  loss?: number;
  accuracy?: number;
}

/** Options of {@link trainClassifier}. */
export interface TrainOptions extends ScanOptions {
  /** Pretrained base: model folder or URL (default the hosted MobileNet v1 α=0.75, cached). */
  base?: string;
  /** Write the model, metadata.json and report.json here. */
  out?: string;
  /** Maximum epochs (default 20). */
  epochs?: number;
  /** Images per batch (default 16). */
  batchSize?: number;
  /** Adam learning rate of the head (default 0.01); fine-tuned base layers learn 100× slower. */
  learningRate?: number;
  /** Also train the last n blocks of the base (default 0). Needs conv weight gradients: runs on the cpu backend. */
  fineTune?: number;
  /** Random crop/flip/brightness per epoch (default true); `false` caches the base's features once. */
  augment?: boolean | AugmentOptions;
  /** Stop after this many epochs without improvement of the validation loss (default 4; 0 = never). */
  patience?: number;
  /** Dropout before the dense layer (default 0.2). */
  dropout?: number;
  /** Called with a one-line warning (e.g. a class with too few images). */
  onWarning?: (message: string) => void;
  /** Called after each batch. */
  onProgress?: (p: TrainProgress) => void;
  /** Called after each epoch with its losses and accuracies. */
  onEpoch?: (stats: EpochStats) => void;
}

/** What {@link trainClassifier} returns. */
export interface TrainResult {
  /** The trained classifier, ready for `explain`; dispose it when done. */
  model: ExplainableModel;
  labels: string[];
  preprocessing: Preprocessing;
  history: EpochStats[];
  /** 1-based epoch whose weights were kept. */
  bestEpoch: number;
  stoppedEarly: boolean;
  report: ClassificationReport;
  /** Images that could not be read, with the reason; they were left out. */
  skipped: { file: string; reason: string }[];
  /** Training and validation image counts, and where validation came from. */
  images: { train: number; val: number; valSource: 'folder' | 'split' | 'none' };
  backend: string;
  /** The first fine-tuned layer of the base, if any. */
  fineTunedFrom?: string;
  seconds: number;
}

const GRAD_KERNELS = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter'];

/** Features of a batch of samples and how many samples of the pass are done. */
interface FeatureBatch { f: tf.Tensor; labels: number[]; done: number }

/** Features computed batch by batch, or read from a cache. */
type FeatureSource = (samples: Sample[]) => AsyncGenerator<FeatureBatch>;

/**
 * Trains a classifier on `datasetDir` (`<class>/<images>`, optionally `val/<class>/<images>`) on top
 * of a pretrained base, and saves it to `opts.out` if given.
 *
 * Memory stays bounded: images are decoded batch by batch from disk (the next batch decodes while
 * the current one computes). Without augmentation and fine-tuning the frozen base's pooled features
 * (C floats per image) are computed once and the epochs train the head on them.
 *
 * @example
 * ```ts
 * const r = await trainClassifier('data/shapes', { base: '../shared/models/mobilenet_v1_0.25_224', out: 'shapes-model' });
 * console.log(r.report.accuracy, r.model.defaultLayer); // 0.98 'mobilenet_0.25_224/conv_pw_13_relu'
 * ```
 */
export async function trainClassifier(datasetDir: string, opts: TrainOptions = {}): Promise<TrainResult> {
  const t0 = performance.now();
  const warn = opts.onWarning ?? (() => {});
  const fineTune = opts.fineTune ?? 0;
  const epochs = opts.epochs ?? 20;
  const batchSize = opts.batchSize ?? 16;
  const patience = opts.patience ?? 4;
  const augment = opts.augment === undefined || opts.augment === true ? {} : opts.augment || undefined;
  if (!Number.isInteger(fineTune) || fineTune < 0) throw new GradcamError(`fine-tune must be a whole number of blocks, got ${fineTune}`);
  if (!Number.isInteger(epochs) || epochs < 1) throw new GradcamError(`epochs must be a positive integer, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new GradcamError(`batch size must be a positive integer, got ${batchSize}`);

  const data = await scanDataset(datasetDir, opts);
  data.warnings.forEach(warn);
  const labels = data.classes;
  const random = seededRandom(opts.seed ?? 1);
  const base = await loadModel(opts.base ?? DEFAULT_MODEL_URL);
  const pre = base.preprocessing;
  const source = base.source;
  let classifier: Classifier;
  let plan: TrainPlan;
  try {
    classifier = buildClassifier(base, labels.length, opts.dropout ?? 0.2);
  } catch (e) {
    base.dispose();
    throw e;
  }
  try {
    plan = trainPlan(classifier, fineTune, random);
  } catch (e) {
    classifier.model.dispose();
    throw e;
  }
  // The frozen base runs on the current backend. Fine-tuned Conv2D/DepthwiseConv2D layers train there
  // too (tap sums); any other convolution needs weight-gradient kernels, which wasm lacks: then the
  // trainable part runs on cpu.
  const fwdBackend = tf.getBackend();
  const gradBackend = plan.needsConvGradients && GRAD_KERNELS.some((k) => !tf.getKernel(k, fwdBackend)) ? 'cpu' : fwdBackend;
  if (gradBackend !== fwdBackend) {
    warn(`fine-tuning ${plan.cutAt} needs convolution weight gradients, which the ${fwdBackend} backend lacks: the fine-tuned blocks and the head train on the cpu backend (slower)`);
    await initBackend('cpu');
    await tf.setBackend(fwdBackend);
  }
  const use = async (backend: string) => { if (tf.getBackend() !== backend) await tf.setBackend(backend); };
  const lr = opts.learningRate ?? 0.01;
  const optimizers = [tf.train.adam(lr), tf.train.adam(lr / 100)];
  const skipped = new Map<string, string>();
  const onSkip = (file: string, reason: string) => {
    if (skipped.has(file)) return;
    skipped.set(file, reason);
    warn(`skipped unreadable image: ${reason}`);
  };
  const usable = (s: Sample[]) => s.filter((x) => !skipped.has(x.file));
  const keep: tf.Tensor[] = [];

  /** Decodes batches from disk (the next one while the current one computes) and runs the frozen part. */
  const stream = (aug: AugmentOptions | undefined): FeatureSource => async function* (samples) {
    const load = (i: number) => (i < samples.length ? loadBatch(samples.slice(i, i + batchSize), pre, onSkip) : Promise.resolve(undefined));
    let next = load(0);
    for (let i = 0; i < samples.length; i += batchSize) {
      const cur: Batch | undefined = await next;
      next = load(i + batchSize);
      if (!cur) continue;
      await use(fwdBackend);
      const f = tf.tidy(() => plan.frozen(aug ? augmentBatch(cur.x, pre, random, aug) : cur.x));
      cur.x.dispose();
      yield { f, labels: cur.labels, done: Math.min(i + batchSize, samples.length) };
    }
  };

  /** Pooled features of every sample, computed once (C floats per image), served in shuffled batches. */
  const cached = async (samples: Sample[]): Promise<FeatureSource> => {
    const parts: tf.Tensor[] = [];
    const ls: number[] = [];
    for await (const b of stream(undefined)(samples)) {
      parts.push(b.f);
      ls.push(...b.labels);
      opts.onProgress?.({ phase: 'features', epoch: 0, done: b.done, total: samples.length });
    }
    const all = parts.length ? tf.concat(parts) : undefined;
    tf.dispose(parts);
    if (all) keep.push(all);
    return async function* () {
      if (!all) return;
      const order = shuffle(ls.map((_, i) => i), random);
      for (let i = 0; i < order.length; i += batchSize) {
        const idx = order.slice(i, i + batchSize);
        yield { f: tf.tidy(() => tf.gather(all, tf.tensor1d(idx, 'int32'))), labels: idx.map((j) => ls[j]), done: i + idx.length };
      }
    };
  };

  let best: tf.Tensor[] | undefined;
  const history: EpochStats[] = [];
  let bestEpoch = 0;
  let bestEval: { truth: number[]; predicted: number[] } | undefined;
  let stoppedEarly = false;
  try {
    const canCache = fineTune === 0;
    const trainSrc = canCache && !augment ? await cached(data.train) : stream(augment);
    const valSrc = data.val.length ? (canCache ? await cached(data.val) : stream(undefined)) : undefined;
    const evaluate = async (src: FeatureSource, samples: Sample[], epoch: number) => {
      let loss = 0;
      const truth: number[] = [];
      const predicted: number[] = [];
      for await (const b of src(usable(samples))) {
        await use(gradBackend);
        const [l, p] = tf.tidy(() => {
          const logits = plan.logits(b.f, false);
          return [tf.losses.softmaxCrossEntropy(tf.oneHot(b.labels, labels.length), logits).mul(b.labels.length).dataSync()[0], logits.argMax(1).dataSync()];
        });
        b.f.dispose();
        loss += l as number;
        truth.push(...b.labels);
        predicted.push(...(p as Int32Array));
        opts.onProgress?.({ phase: 'validate', epoch, done: b.done, total: samples.length });
      }
      return { loss: loss / Math.max(1, truth.length), truth, predicted, accuracy: predicted.filter((v, i) => v === truth[i]).length / Math.max(1, truth.length) };
    };

    let bestLoss = Infinity;
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const te = performance.now();
      const samples = shuffle(usable(data.train), random);
      let loss = 0, correct = 0, seen = 0;
      for await (const b of trainSrc(samples)) {
        await use(gradBackend);
        let pred: Int32Array | undefined;
        const { value, grads } = tf.variableGrads(() => {
          const logits = plan.logits(b.f, true);
          pred = logits.argMax(1).dataSync() as Int32Array;
          return tf.losses.softmaxCrossEntropy(tf.oneHot(b.labels, labels.length), logits) as tf.Scalar;
        }, plan.variables);
        const vars = [plan.variables.slice(0, plan.headVariables), plan.variables.slice(plan.headVariables)];
        vars.forEach((vs, i) => vs.length && optimizers[i].applyGradients(vs.map((v) => ({ name: v.name, tensor: grads[v.name] }))));
        loss += value.dataSync()[0] * b.labels.length;
        tf.dispose([value, b.f, grads]);
        correct += b.labels.filter((l, i) => pred![i] === l).length;
        seen += b.labels.length;
        opts.onProgress?.({ phase: 'train', epoch, done: b.done, total: samples.length, loss: loss / seen, accuracy: correct / seen });
      }
      if (!seen) throw new GradcamError('no training image could be read', datasetDir);
      const stats: EpochStats = { epoch, loss: loss / seen, accuracy: correct / seen, seconds: 0, best: false };
      const v = valSrc && await evaluate(valSrc, data.val, epoch);
      if (v) {
        stats.valLoss = v.loss;
        stats.valAccuracy = v.accuracy;
      }
      const monitored = stats.valLoss ?? stats.loss;
      if (monitored < bestLoss - 1e-4) {
        bestLoss = monitored;
        bestEpoch = epoch;
        stats.best = true;
        bestEval = v;
        best?.forEach((t) => t.dispose());
        best = plan.variables.map((v) => tf.keep(v.clone()));
      }
      stats.seconds = (performance.now() - te) / 1000;
      history.push(stats);
      opts.onEpoch?.(stats);
      if (patience > 0 && epoch - bestEpoch >= patience) {
        stoppedEarly = epoch < epochs;
        break;
      }
    }
    if (best) plan.variables.forEach((v, i) => v.assign(best![i]));

    const r = bestEval ?? await evaluate(canCache && !augment ? trainSrc : stream(undefined), data.train, bestEpoch);
    const report = classificationReport(labels, r.truth, r.predicted, bestEval ? 'validation' : 'training');
    await use(fwdBackend);
    const model = wrapModel(classifier.model, { labels, preprocessing: pre, source: opts.out ?? 'trained classifier' });
    const images = { train: usable(data.train).length, val: usable(data.val).length, valSource: data.valSource };
    const result: TrainResult = {
      model, labels, preprocessing: pre, history, bestEpoch, stoppedEarly, report, images,
      skipped: [...skipped].map(([file, reason]) => ({ file, reason })),
      backend: gradBackend === fwdBackend ? fwdBackend : `${fwdBackend} (frozen base) + cpu (trained part)`, fineTunedFrom: plan.cutAt, seconds: (performance.now() - t0) / 1000,
    };
    if (opts.out) await saveTrained(result, classifier.model, opts.out, source, fineTune);
    return result;
  } catch (e) {
    classifier.model.dispose();
    throw e;
  } finally {
    keep.forEach((t) => t.dispose());
    best?.forEach((t) => t.dispose());
    optimizers.forEach((o) => o.dispose());
  }
}

/** Writes model.json, weights.bin, metadata.json and report.json into `out`. */
async function saveTrained(r: TrainResult, layers: tf.LayersModel, out: string, base: string, fineTune: number): Promise<void> {
  await saveModel(layers, out, { labels: r.labels, preprocessing: r.preprocessing, base, layer: r.model.defaultLayer });
  const { report, labels, images, skipped, bestEpoch, stoppedEarly, history, backend, seconds } = r;
  const json = { report, labels, base, fineTune, images, skipped, bestEpoch, stoppedEarly, backend, seconds, history };
  await writeFile(path.join(out, 'report.json'), JSON.stringify(json, null, 1) + '\n');
}
