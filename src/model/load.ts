import * as tf from '@tensorflow/tfjs';
import { GraphExplainableModel } from './graph-model.js';
import type { GraphNode } from './graph-plan.js';
import { GraphPlan } from './graph-plan.js';
import { LayersExplainableModel } from './layers-model.js';
export { labelsFor } from './labels.js';
import { GradcamError, type ExplainableModel, type Preprocessing } from './types.js';

/** The official hosted TF.js MobileNet v1 (α=0.75, 224), the default model for users. */
export const DEFAULT_MODEL_URL = 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.75_224/model.json';

/** Contents of the optional `metadata.json` beside `model.json`. */
export interface ModelMetadata {
  /** Display name (default: the file or folder name). */
  name?: string;
  /** One label per logit (`classNames` and `classes` are accepted too). */
  labels?: string[];
  classNames?: string[];
  classes?: string[];
  preprocessing?: Partial<Preprocessing>;
}

/** Options of the model loaders (`loadModelFromUrl`, `loadModelFromFiles`, and `gradcam/node`'s `loadModel`). */
export interface LoadOptions {
  /** Labels to use instead of metadata.json's. */
  labels?: string[];
  /** Overrides of the preprocessing (input size, value range or mean/std, resize mode). */
  preprocessing?: Partial<Preprocessing>;
  /** Download progress, 0..1. */
  onProgress?: (fraction: number) => void;
  /** One-line warnings while loading (e.g. a Keras model whose input range is a guess). */
  onWarning?: (message: string) => void;
}

/** Keras model files by name: `.keras` (Keras 3) and `.h5`/`.hdf5` (Keras 2). */
export const KERAS_FILE = /\.(keras|h5|hdf5)$/i;

/**
 * Loads a model from the bytes of a file (browser and Node): a Keras `.keras` or `.h5` file,
 * recognised by its name or its first bytes. `name` names it in messages. The Keras reader
 * (fflate + jsfive, ~30 KB gzipped) is loaded on first use.
 */
export async function loadModelFromBytes(
  bytes: Uint8Array | ArrayBuffer, name: string, opts: LoadOptions = {}, metadata: ModelMetadata = {},
): Promise<ExplainableModel> {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const { loadKerasModel, isKerasBytes } = await import('./keras/model.js');
  if (!KERAS_FILE.test(name) && !isKerasBytes(data)) {
    throw new GradcamError('not a model file this loader reads from bytes (.keras or .h5); for TF.js models give model.json and its weights', name);
  }
  return loadKerasModel(data, name, { labels: opts.labels, preprocessing: opts.preprocessing, onWarning: opts.onWarning, metadata });
}

/** `{ channels: 1 }` for a grayscale NHWC input shape, else nothing (3 is the default). */
const channelsOf = (shape: readonly (number | null)[]): Pick<Preprocessing, 'channels'> => (shape[3] === 1 ? { channels: 1 } : {});

const isGraph = (a: tf.io.ModelArtifacts) =>
  a.format === 'graph-model' || Array.isArray((a.modelTopology as { node?: unknown } | undefined)?.node);

/**
 * Builds an {@link ExplainableModel} from loaded artifacts (model.json and weights) and the optional
 * metadata. Preprocessing defaults: input size from the model, values in [-1, 1] for LayersModels
 * (Keras MobileNet convention) and [0, 1] for GraphModels (TF-Hub convention), whole image squashed.
 */
export async function modelFromArtifacts(
  artifacts: tf.io.ModelArtifacts,
  source: string,
  metadata: ModelMetadata = {},
  opts: LoadOptions = {},
): Promise<ExplainableModel> {
  const labels = opts.labels ?? metadata.labels ?? metadata.classNames ?? metadata.classes;
  const name = metadata.name;
  const handler: tf.io.IOHandler = { load: async () => artifacts };
  const pre = (shape: readonly (number | null)[], range: [number, number]): Preprocessing => {
    const inputShape = GraphPlan.inputSize(shape).nchw ? [shape[0], shape[2], shape[3], shape[1]] : shape; // NCHW graphs (ONNX conversions)
    return {
    size: [inputShape[1] && inputShape[1] > 0 ? inputShape[1] : 224, inputShape[2] && inputShape[2] > 0 ? inputShape[2] : 224],
    range,
    resize: 'squash',
    ...channelsOf(inputShape),
    ...metadata.preprocessing,
    ...opts.preprocessing,
  };
  };
  try {
    if (isGraph(artifacts)) {
      const g = await tf.loadGraphModel(handler);
      const nodes = (artifacts.modelTopology as { node: GraphNode[] }).node;
      return new GraphExplainableModel(g, nodes, { source, name, labels, preprocessing: pre(g.inputs[0].shape ?? [], [0, 1]) });
    }
    const m = await tf.loadLayersModel(handler);
    return new LayersExplainableModel(m, { source, name, labels, preprocessing: pre(m.inputs[0].shape, [-1, 1]) });
  } catch (e) {
    if (e instanceof GradcamError) throw e;
    throw new GradcamError(`cannot build the model: ${(e as Error).message.split('\n')[0]}`, source);
  }
}

/** Wraps an in-memory tf.LayersModel or tf.GraphModel (e.g. one just trained) for explaining. */
export function wrapModel(
  model: tf.LayersModel,
  opts: { labels?: string[]; preprocessing?: Partial<Preprocessing>; source?: string; name?: string } = {},
): ExplainableModel {
  const shape = model.inputs[0].shape;
  return new LayersExplainableModel(model, {
    source: opts.source ?? model.name, name: opts.name ?? (opts.source ? undefined : model.name), labels: opts.labels,
    preprocessing: { size: [shape[1] ?? 224, shape[2] ?? 224], range: [-1, 1], resize: 'squash', ...channelsOf(shape), ...opts.preprocessing },
  });
}

/**
 * Loads a model from a URL of its model.json (browser and Node; in Node prefer the path- and
 * cache-aware `loadModel` of the Node entry point). `metadata.json` beside it is read if present.
 */
export async function loadModelFromUrl(url: string, opts: LoadOptions = {}): Promise<ExplainableModel> {
  if (KERAS_FILE.test(new URL(url, globalThis.location?.href).pathname)) {
    let bytes: ArrayBuffer;
    try {
      const r = await fetch(url);
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      bytes = await r.arrayBuffer();
    } catch (e) {
      throw new GradcamError(`cannot download the model: ${(e as Error).message.split('\n')[0]}`, url);
    }
    return loadModelFromBytes(bytes, url, opts);
  }
  let artifacts: tf.io.ModelArtifacts;
  try {
    artifacts = await tf.io.http(url, { onProgress: opts.onProgress }).load!();
  } catch (e) {
    throw new GradcamError(`cannot load the model: ${(e as Error).message.split('\n')[0]}`, url);
  }
  let metadata: ModelMetadata = {};
  try {
    const r = await fetch(new URL('metadata.json', new URL(url, globalThis.location?.href)).href);
    if (r.ok) metadata = (await r.json()) as ModelMetadata;
  } catch { /* metadata is optional */ }
  return modelFromArtifacts(artifacts, url, metadata, opts);
}

/**
 * Loads a model from files picked in a browser: model.json, its weight shards and optionally
 * metadata.json; or one Keras `.keras`/`.h5` file (optionally with metadata.json).
 */
export async function loadModelFromFiles(files: File[], opts: LoadOptions = {}): Promise<ExplainableModel> {
  const keras = files.find((f) => KERAS_FILE.test(f.name));
  if (keras) {
    const meta = files.find((f) => f.name === 'metadata.json');
    const metadata = meta ? (JSON.parse(await meta.text()) as ModelMetadata) : {};
    return loadModelFromBytes(await keras.arrayBuffer(), keras.name, opts, metadata);
  }
  const onnx = files.find((f) => /\.onnx$/i.test(f.name));
  if (onnx) return loadOnnxFromFiles(onnx, files, opts); // PyTorch exports (issue 14), on onnxruntime-web
  const json = files.find((f) => f.name.endsWith('model.json'));
  if (!json) throw new GradcamError('choose model.json together with its weight files');
  const meta = files.find((f) => f.name === 'metadata.json');
  const weights = files.filter((f) => f !== json && f !== meta);
  // Checked here: tf.io.browserFiles hangs on invalid JSON and silently builds random weights when none are given.
  let manifest: { paths: string[] }[];
  try {
    manifest = (JSON.parse(await json.text()) as { weightsManifest?: { paths: string[] }[] }).weightsManifest ?? [];
  } catch (e) {
    throw new GradcamError(`not a valid model.json: ${(e as Error).message}`, json.name);
  }
  const missing = manifest.flatMap((g) => g.paths).map((p) => p.split('/').pop()!).filter((p) => !weights.some((f) => f.name === p));
  if (missing.length) {
    const list = missing.length > 3 ? `${missing.slice(0, 3).join(', ')}, … (${missing.length} files)` : missing.join(', ');
    throw new GradcamError(`missing weight files ${list}: choose them together with model.json`, json.name);
  }
  let artifacts: tf.io.ModelArtifacts;
  try {
    artifacts = await tf.io.browserFiles([json, ...weights]).load!();
  } catch (e) {
    throw new GradcamError(`cannot load the model: ${(e as Error).message.split('\n')[0]}`, json.name);
  }
  const metadata = meta ? (JSON.parse(await meta.text()) as ModelMetadata) : {};
  return modelFromArtifacts(artifacts, json.name, metadata, opts);
}

/** An ONNX model chosen in a browser, with its optional `<name>.json` and external data files. */
async function loadOnnxFromFiles(onnx: File, files: File[], opts: LoadOptions): Promise<ExplainableModel> {
  const { loadOnnxFromBytes } = await import('./onnx/load.js');
  const json = files.find((f) => f.name === onnx.name.replace(/\.onnx$/i, '.json'));
  let metadata;
  try {
    metadata = json ? JSON.parse(await json.text()) : undefined;
  } catch (e) {
    throw new GradcamError(`not valid JSON (${(e as Error).message})`, json!.name);
  }
  return loadOnnxFromBytes(new Uint8Array(await onnx.arrayBuffer()), onnx.name, {
    metadata, labels: opts.labels, preprocessing: opts.preprocessing,
    readExternal: async (location) => {
      const f = files.find((x) => x.name === location.split('/').pop());
      return f ? new Uint8Array(await f.arrayBuffer()) : undefined;
    },
  });
}
