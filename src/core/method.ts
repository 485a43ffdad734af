/**
 * The three kinds of CAM method, by what they need from the core: gradients (Grad-CAM and kin),
 * activations only (Eigen-CAM), or scores of perturbed inputs/activations (Score-CAM, Ablation-CAM).
 * A method sees nothing of classes, signs or the model: the core turns targets into gradients and
 * score functions. The registry of named methods is in `methods/`.
 */
import * as tf from '@tensorflow/tfjs';

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

/** What every method says about itself. */
export interface MethodInfo {
  /** CLI/API name, e.g. `gradcam`. */
  readonly name: string;
  /** Display name, e.g. `Grad-CAM`. */
  readonly title: string;
  /** False for class-agnostic methods (Eigen-CAM): every target of an image gets the same map. */
  readonly classSpecific: boolean;
}

/**
 * A method computed from activations `a` `[M, h, w, C]` and the gradients `g` of each row's target
 * score with respect to them (same shape). Runs inside the core's `tf.tidy`.
 */
export interface GradientMethod extends MethodInfo {
  readonly needs: 'gradients';
  /** The map of each row from its activations and gradients. */
  cam(a: tf.Tensor4D, g: tf.Tensor4D): CamOutput;
}

/** A method computed from the activations `[M, h, w, C]` alone. Runs inside the core's `tf.tidy`. */
export interface ActivationMethod extends MethodInfo {
  readonly needs: 'activations';
  /** The map of each row from its activations. */
  cam(a: tf.Tensor4D): CamOutput;
}

/**
 * What a perturbation method sees: M rows ("pairs": one image and one target each) and score
 * functions for perturbed versions of them. Tensors passed in stay the caller's; those given out
 * (`activations`, `input(m)`) are the core's and freed after `cam` resolves.
 */
export interface PerturbationContext {
  /** `[M, h, w, C]`, row m = pair m. */
  activations: tf.Tensor4D;
  /** `[1, H, W, ch]` preprocessed input of pair m. */
  input(m: number): tf.Tensor4D;
  /** Pair m's target score for each of the inputs `xs` `[B, H, W, ch]` (forward passes only). */
  scoreInputs(m: number, xs: tf.Tensor4D): Promise<Float32Array>;
  /**
   * Pair m's target score for its input times each of the masks `[B, H, W, 1]` (the product is
   * built by the model's runtime where it can: see `ExplainableModel.runMasked`).
   */
  scoreMasked(m: number, masks: tf.Tensor4D): Promise<Float32Array>;
  /** Pair m's target score for each of the activations `a` `[B, h, w, C]`, through the rest of the network. */
  scoreActivations(m: number, a: tf.Tensor4D): Promise<Float32Array>;
  /** How many perturbed inputs to score per call. */
  batchSize: number;
}

/** A method that scores perturbed inputs or activations (no gradients). Manages its own tensors. */
export interface PerturbationMethod extends MethodInfo {
  readonly needs: 'scores';
  /** The map of each (image, target) pair from the scores of its perturbed inputs or activations. */
  cam(ctx: PerturbationContext): Promise<CamOutput>;
}

/** Any CAM method. */
export type CamMethod = GradientMethod | ActivationMethod | PerturbationMethod;

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
