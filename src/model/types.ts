import type * as tf from '@tensorflow/tfjs';

/**
 * How an image becomes the network's input. Part of a model's configuration: the shared
 * MobileNets use `{ size: [224, 224], range: [-1, 1], resize: 'squash' }` (Keras LayersModel) and
 * `range: [0, 1]` (TF-Hub GraphModel).
 */
export interface Preprocessing {
  /** Network input `[height, width]`. */
  size: [number, number];
  /** Pixel values 0..255 are mapped linearly onto this range (ignored when `mean`/`std` are set). */
  range: [number, number];
  /** Per-channel mean and std applied to pixels scaled to [0, 1] (torchvision style), instead of `range`. */
  mean?: [number, number, number];
  std?: [number, number, number];
  /** `squash`: the whole image resized to `size` (aspect ratio not kept); `crop`: central crop of the input's aspect first. */
  resize: 'squash' | 'crop';
  /** Input channels: 3 (RGB, default) or 1 (grayscale models get the image's luminance). */
  channels?: 1 | 3;
}

/** A layer (tensor) whose activation can be explained. */
export interface LayerInfo {
  /** Name to pass as `layer` (nested models: `outer/inner`; GraphModels: the node name). */
  name: string;
  /** Keras class name, or the graph op. */
  type: string;
  /** The tensor's own shape, batch dimension `null`: `[null, h, w, C]`, or tokens `[null, N, C]`. */
  shape: (number | null)[];
  /** Token layers (`[B, N, C]`) are explained as an h×w grid after dropping `drop` leading tokens. */
  tokens?: { grid: [number, number]; drop: number };
}

/** One model output. */
export interface OutputInfo {
  name: string;
  /** Batch dimension `null`. */
  shape: (number | null)[];
}

/** What a model's final activation was (stripped from output 0, so that output 0 is pre-activation). */
export type FinalActivation = 'softmax' | 'sigmoid' | 'none';

/**
 * A loaded model of any format behind one interface: what the core needs to explain it. Every
 * format (TF.js layers and graph models, Keras files, ONNX) implements it.
 */
export interface ExplainableModel {
  readonly format: 'layers' | 'graph' | 'keras' | 'onnx';
  /** Display name: metadata `name`, else the file or folder name (never just "model.json"). */
  readonly name: string;
  /** Where it was loaded from. */
  readonly source: string;
  /** Labels of output 0 (one per class; a one-unit sigmoid model gets ['negative', 'positive'] or given labels). */
  readonly labels: string[];
  /** The model's outputs as returned by `run`/`head`. Output 0 is the classification output (pre-activation). */
  readonly outputs: OutputInfo[];
  /** The final activation stripped from output 0, used for probabilities. */
  readonly activation: FinalActivation;
  readonly preprocessing: Preprocessing;
  /** Explainable layers (spatial 4-D, or token layers with `tokens` set), in execution order. */
  readonly layers: LayerInfo[];
  /** The layer `layer: 'auto'` picks: the last with a spatial (h×w > 1) output before the head. */
  readonly defaultLayer: string;
  /** Resolves `'auto'` or a (possibly short) layer name; throws {@link GradcamError} listing candidates. */
  resolveLayer(name?: string): string;
  /** Forward pass only: every output for a preprocessed NHWC batch. The caller disposes them. */
  run(x: tf.Tensor4D): Promise<tf.Tensor[]>;
  /**
   * Optional: `run` on `from + (to − from) · mask` for each mask (`to`, `from` `[1, H, W, ch]`,
   * `from` absent = 0; `masks` `[B, H, W, 1]`, or {@link RankMasks}), for runtimes that blend faster
   * than TF.js can build and hand over the batch (ONNX Runtime). Without it the core blends and
   * calls `run`.
   */
  runMasked?(to: tf.Tensor4D, masks: tf.Tensor4D | RankMasks, from?: tf.Tensor4D): Promise<tf.Tensor[]>;
  /**
   * Runs the body up to `layer` and returns the activation and the differentiable rest. `x` must stay
   * alive until the returned run is disposed (a head may read it).
   */
  split(x: tf.Tensor4D, layer: string): Promise<SplitRun>;
  /**
   * Optional: every output for a preprocessed batch with synchronous, differentiable TF.js ops (usable
   * under `tf.grad` with respect to the input). Formats that have one (layers, graph, keras) provide
   * it; guided backpropagation needs it.
   */
  forward?(x: tf.Tensor4D): tf.Tensor[];
  /** Frees the weights. */
  dispose(): void;
}

/**
 * Masks given by a threshold each: mask i is 1 where `rank < counts[i]`, else 0 (`rank` `[H, W]`):
 * the steps of a deletion or insertion curve, where pixels are taken in rank order.
 */
export interface RankMasks { rank: tf.Tensor2D; counts: number[] }

/**
 * A model run split at one layer: the layer's activation for the batch, and the rest of the
 * network as a differentiable function of that activation.
 */
export interface SplitRun {
  /** The layer's activation as an NHWC grid `[N, h, w, C]` (token layers already reshaped, extra tokens dropped). */
  activation: tf.Tensor4D;
  /**
   * Every model output for activations `a` `[M, h, w, C]` of images `rows` (length M; omitted: row i is
   * image i). Pure TF.js ops: differentiable with `tf.grad`, synchronous, usable inside `tf.tidy`.
   */
  head(a: tf.Tensor4D, rows?: number[]): tf.Tensor[];
  /**
   * Optional: `head`'s outputs, forward only, on the model's own runtime (ONNX Runtime), for the
   * perturbation methods that run the head on many altered activations (Ablation-CAM).
   */
  runHead?(a: tf.Tensor4D, rows?: number[]): Promise<tf.Tensor[]>;
  /**
   * Optional: the model's outputs for the batch, when the body's runtime computed them in the same
   * pass (ONNX Runtime); spares a forward pass of the head for predictions. Owned by the run.
   */
  outputs?: tf.Tensor[];
  /** Frees the activation, the outputs and anything captured from the body (skip tensors). */
  dispose(): void;
}

/** Errors the library raises for bad input; the message is one line that says what to do. */
export class GradcamError extends Error {
  constructor(message: string, readonly file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = 'GradcamError';
  }
}

/** Display name of a model from where it was loaded: the file name, or the folder of a `model.json`. */
export function nameFromSource(source: string): string {
  const parts = source.replace(/[?#].*$/, '').split(/[\\/]+/).filter(Boolean);
  let last = parts.pop() ?? source;
  if (/^model\.json$/i.test(last)) last = parts.pop() ?? last;
  return last;
}
