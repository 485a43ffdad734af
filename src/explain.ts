/**
 * The library's explain functions: the core (`core/explain.ts`) with methods by name from the
 * registry (`methods/`), and Guided Grad-CAM (a CAM times guided backpropagation).
 */
import { explainWith, type CoreExplainOptions } from './core/explain.js';
import { combineGuided, guidedBackprop, type GuidedTarget } from './core/guided.js';
import type { ImageInput } from './core/image.js';
import type { CamMethod } from './core/method.js';
import type { ImageExplanation } from './core/types.js';
import { getMethod, type MethodName } from './methods/index.js';
import type { ExplainableModel } from './model/types.js';

/** Options of {@link explain}. */
export interface ExplainOptions extends CoreExplainOptions {
  /** Method name (`gradcam`, `gradcam++`, …) or a custom {@link CamMethod}. Default `gradcam`. */
  method?: MethodName | CamMethod;
}

/** A method by name (see `methods`), or the method object itself. */
export function resolveMethod(method: string | CamMethod = 'gradcam'): CamMethod {
  return typeof method === 'object' ? method : getMethod(method);
}

/**
 * Explains what a model's outputs owe to each region of one or more images.
 *
 * Grad-CAM (Selvaraju et al. 2017): the gradient of the target score (by default the top class's
 * logit) with respect to the layer's activations, averaged over space, weights each channel; the
 * weighted sum after ReLU is the map. Other methods change only how channels are weighted or
 * combined (see `methods/`); targets (see `targets/`) say which score is explained.
 *
 * @example
 * ```ts
 * const model = await loadModel('../shared/models/mobilenet_v1_0.25_224');
 * const image = await readImage('cat_dog.jpg');
 * const [result] = await explain(model, [image], { targets: ['tiger cat', 'contrast:282-243'] });
 * console.log(result.targets[0].peak); // { x, y } on the cat
 * ```
 */
export async function explain(model: ExplainableModel, images: ImageInput[], opts: ExplainOptions = {}): Promise<ImageExplanation[]> {
  return explainWith(model, images, resolveMethod(opts.method), opts);
}

/**
 * Guided Grad-CAM for each image and target: {@link explain} (any method: `opts.method`), then
 * guided backpropagation for the same targets, multiplied by each target's CAM.
 */
export async function guidedGradcam(
  model: ExplainableModel, images: ImageInput[], opts: ExplainOptions = {},
): Promise<{ explanation: ImageExplanation; targets: GuidedTarget[] }[]> {
  const explanations = await explain(model, images, opts);
  const guided = await guidedBackprop(model, images, {
    ...opts, targets: explanations.map((e) => e.targets.map((t) => t.explained)), top: 0, counterfactual: false,
  });
  return explanations.map((explanation, i) => ({
    explanation,
    targets: guided[i].map((g, k) => ({ ...g, guidedGradcam: combineGuided(g, explanation.targets[k].cam) })),
  }));
}
