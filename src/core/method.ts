import * as tf from '@tensorflow/tfjs';
import type { ExplainableModel } from '../model/types.js';

/**
 * What a CAM method sees: for M (image, class) pairs, the explained layer's activations and (for
 * gradient methods) the gradient of each pair's score with respect to them. All tensors are owned by
 * the core, which runs the method inside one `tf.tidy`.
 */
export interface CamContext {
  /** Activations `A`, `[M, h, w, C]`: row m is the activation of image `rows[m]`. */
  activations: tf.Tensor4D;
  /** `∂score_m / ∂A`, `[M, h, w, C]`; present when the method declares `needsGradients`. */
  gradients?: tf.Tensor4D;
  /** Class explained by row m. */
  classes: number[];
  /** Input image of row m (index into the batch). */
  rows: number[];
  /** The preprocessed input batch `[N, H, W, 3]` (index it with `rows`). */
  input: tf.Tensor4D;
  /** +1, or −1 for counterfactual explanations (score = −logit). */
  sign: number;
  /**
   * Scores `[M']` of classes `classesOf` for activations `a` `[M', h, w, C]` of images `rowsOf`
   * (omitted: row i is image i). Differentiable.
   */
  headScores(a: tf.Tensor4D, rowsOf: number[] | undefined, classesOf: number[]): tf.Tensor1D;
  /** Scores `[M']` of the explained classes for preprocessed inputs `[M', H, W, 3]`. */
  inputScores(x: tf.Tensor4D, classesOf: number[]): tf.Tensor1D;
  /**
   * All logits `[M', classes]` (unsigned) for activations `a` of images `rowsOf`: for methods that score
   * several classes of one image from the same perturbed activations (Ablation-CAM).
   */
  headLogits?(a: tf.Tensor4D, rowsOf: number[] | undefined): tf.Tensor2D;
  /** Batch size for methods that run many forward passes (Score-CAM, Ablation-CAM). */
  batchSize: number;
  model: ExplainableModel;
}

/** A method's output: the map before ReLU, `[M, h, w]`, and the channel weights if it has them. */
// A type alias (not an interface) so that it is a tf.TensorContainer and can be returned from tf.tidy.
export type CamOutput = {
  cam: tf.Tensor3D;
  weights?: tf.Tensor2D;
  /**
   * The per-channel terms `[M, h, w, C]` whose sum over channels is `cam` (e.g. `w_k · A_k`), for
   * eigen-smoothing, which replaces that sum by the terms' first principal component.
   */
  terms?: tf.Tensor4D;
};

/** One CAM method: it computes a raw map from the context; the core does the rest (ReLU, normalising, upsampling). */
export interface CamMethod {
  /** CLI/API name, e.g. `gradcam`. */
  readonly name: string;
  /** Display name, e.g. `Grad-CAM`. */
  readonly title: string;
  /** Whether the core must compute `gradients`. */
  readonly needsGradients: boolean;
  /** False for class-agnostic methods (Eigen-CAM). */
  readonly classSpecific: boolean;
  cam(ctx: CamContext): CamOutput;
}

/** `Σ_k w_k · A_k` for weights `[M, C]`: the map of every channel-weight method. */
export function weightedSum(activations: tf.Tensor4D, weights: tf.Tensor2D): CamOutput {
  return tf.tidy(() => {
    const [m, , , c] = activations.shape;
    return termsSum(activations.mul(weights.reshape([m, 1, 1, c])) as tf.Tensor4D, weights);
  });
}

/** `Σ_k terms_k`: the map of a method defined by per-channel, per-position terms (HiResCAM, LayerCAM). */
export function termsSum(terms: tf.Tensor4D, weights?: tf.Tensor2D): CamOutput {
  return tf.tidy(() => {
    const out: CamOutput = { cam: terms.sum(3) as tf.Tensor3D, terms };
    if (weights) out.weights = weights;
    return out;
  });
}
