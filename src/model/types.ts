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
  /** `squash`: the whole image resized to `size` (aspect ratio not kept); `crop`: central square crop first. */
  resize: 'squash' | 'crop';
  /** Input channels: 1 for grayscale models (luma of the RGB image), default 3. */
  channels?: 1 | 3;
}

/** A layer whose activation can be explained. */
export interface LayerInfo {
  /** Name to pass as `layer` (nested models: `outer/inner`; GraphModels: the node name). */
  name: string;
  /** Keras class name, or the graph op. */
  type: string;
  /** Output shape, batch dimension `null`. */
  shape: (number | null)[];
}

/**
 * A model run split at one layer: the layer's activation for the batch, and the rest of the
 * network as a differentiable function of that activation. Create it inside `tf.tidy`.
 */
export interface SplitRun {
  /** Activation of the explained layer, `[N, h, w, C]`. */
  activation: tf.Tensor4D;
  /**
   * Logits `[M, classes]` for activations `a` `[M, h, w, C]`. `rows` (length M) says which input image
   * each row of `a` belongs to; omitted, row i is image i.
   */
  head(a: tf.Tensor4D, rows?: number[]): tf.Tensor2D;
}

/** A loaded model, LayersModel or GraphModel, behind one interface. */
export interface ExplainableModel {
  readonly kind: 'layers' | 'graph';
  /** Where it was loaded from. */
  readonly source: string;
  /** One label per logit. */
  readonly labels: string[];
  readonly preprocessing: Preprocessing;
  /** Layers with a 4-D output, in execution order. */
  readonly layers: LayerInfo[];
  /** The layer `layer: 'auto'` picks: the last with a spatial (h×w > 1) 4-D output before the head. */
  readonly defaultLayer: string;
  /** Resolves `'auto'` or a (possibly short) layer name; throws {@link GradcamError} listing candidates. */
  resolveLayer(name?: string): string;
  /** Logits (pre-softmax) for a preprocessed batch `[N, H, W, 3]`. */
  logits(x: tf.Tensor4D): tf.Tensor2D;
  /** Runs the batch up to `layer` and returns the differentiable rest. */
  split(x: tf.Tensor4D, layer: string): SplitRun;
  /** Frees the weights. */
  dispose(): void;
}

/** Errors the library raises for bad input; the message is one line that says what to do. */
export class GradcamError extends Error {
  constructor(message: string, readonly file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = 'GradcamError';
  }
}
